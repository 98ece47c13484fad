"""Read a tree of image files into uint8 tensors, decoded once and cached by the folder's contents."""

import errno
import hashlib
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from harness.core import atomic
from harness.core.errors import DataError
from harness.core.paths import cache_dir

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
Decoded = tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]
DECODER = 2  # in the cache key: images decoded before 16-bit grey was scaled (v1 clipped it to white) are stale


def list_images(folder: Path) -> list[tuple[str, Path]]:
    """(class name, file) pairs: classes are the sub-folders; loose files belong to a class named after the folder."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, onerror=_unlisted):
        dirnames.sort()
        rel = Path(dirpath).relative_to(folder)
        label = rel.parts[0] if rel.parts else folder.name
        found += [(label, Path(dirpath, f)) for f in sorted(filenames) if Path(f).suffix.lower() in IMAGE_EXTS]
    return found


def _unlisted(e: OSError) -> None:
    """os.walk skips a folder it cannot list; its images would be silently left out of the data."""
    if e.errno == errno.ENOENT:
        return  # no folder, no images: read_tree says so
    raise DataError(f"cannot list image folder {e.filename}: {e.strerror}; check its permissions") from None


def to_square(im: Image.Image, resolution: int) -> np.ndarray:
    """Centre-crop to a square, then resize (bicubic) to resolution x resolution; HWC uint8."""
    w, h = im.size
    if w != h:
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        im = im.crop((left, top, left + side, top + side))
    if im.size != (resolution, resolution):
        im = im.resize((resolution, resolution), Image.BICUBIC)
    return np.asarray(im, dtype=np.uint8)


SIXTEEN_BIT_GREY = {"I;16", "I;16B", "I;16L", "I;16N", "I"}  # how PIL opens a 16-bit grey PNG


def to_rgb(im: Image.Image) -> Image.Image:
    """Any mode -> 8-bit RGB. 16-bit grey keeps its high byte, as PIL reduces 16-bit RGB(A) on opening: its own
    convert() would clip every value above 255 to white."""
    if im.mode in SIXTEEN_BIT_GREY:
        grey = np.clip(np.asarray(im, dtype=np.int64), 0, 65535) >> 8
        return Image.fromarray(grey.astype(np.uint8), "L").convert("RGB")
    return im.convert("RGB")


def unreadable(path: Path, why: object) -> DataError:
    return DataError(f"unreadable image {path}: {str(why).rstrip('.')}; remove or replace the file")


def read_image(path: Path, resolution: int) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            # Past PIL's MAX_IMAGE_PIXELS it only warns, and decodes gigabytes: an image that big is refused.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return to_square(to_rgb(im), resolution)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise unreadable(path, getattr(e, "strerror", None) or e) from None  # strerror: a symlink loop, a file gone


def stack(arrays: list[np.ndarray] | np.ndarray) -> torch.Tensor:
    """HWC uint8 images -> N x 3 x H x W tensor."""
    return torch.from_numpy(np.ascontiguousarray(np.stack(arrays))).permute(0, 3, 1, 2).contiguous()


def _cache_key(folder: Path, files: list[tuple[str, Path]], resolution: int) -> str:
    h = hashlib.sha256(f"{folder.resolve()}|{resolution}|{len(files)}|{DECODER}".encode())
    for label, path in files:
        try:
            st = path.stat()
        except OSError as e:  # a symlink loop or a dangling link: listed, but no file behind it
            raise unreadable(path, e.strerror) from None
        h.update(f"{label}/{path.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def read_tree(folder: Path, resolution: int) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    files = list_images(folder)
    if not files:
        raise DataError(
            f"no images (.png/.jpg/.jpeg/.bmp/.webp) under {folder}; put them there, one sub-folder per class"
        )

    def decode():
        class_names = tuple(sorted({label for label, _ in files}))
        images = stack([read_image(p, resolution) for _, p in files])
        labels = torch.tensor([class_names.index(label) for label, _ in files], dtype=torch.int64)
        return images, labels, class_names

    return cached(_cache_key(folder, files, resolution), decode)


def cached(key: str, decode: Callable[[], Decoded]) -> Decoded:
    """Decoded images from the cache, or decode() once and store its result (atomically) under key."""
    path = cache_dir() / "images" / f"{key}.pt"
    if path.exists():
        try:
            d = torch.load(path, weights_only=True)
            return d["images"], d["labels"], tuple(d["class_names"])
        except Exception:
            path.unlink(missing_ok=True)  # a damaged cache entry is rebuilt, never trusted
    images, labels, class_names = decode()
    atomic.save_torch(path, {"images": images, "labels": labels, "class_names": list(class_names)})
    return images, labels, class_names
