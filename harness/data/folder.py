"""Read a tree of image files into uint8 tensors, decoded once and cached by the folder's contents."""

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from harness import atomic
from harness.errors import DataError
from harness.paths import cache_dir

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
Decoded = tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]


def list_images(folder: Path) -> list[tuple[str, Path]]:
    """(class name, file) pairs: classes are the sub-folders; loose files belong to a class named after the folder."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        rel = Path(dirpath).relative_to(folder)
        label = rel.parts[0] if rel.parts else folder.name
        found += [(label, Path(dirpath, f)) for f in sorted(filenames) if Path(f).suffix.lower() in IMAGE_EXTS]
    return found


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


def read_image(path: Path, resolution: int) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return to_square(im.convert("RGB"), resolution)
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(f"unreadable image {path}: {e}; remove or replace the file") from None


def stack(arrays: list[np.ndarray] | np.ndarray) -> torch.Tensor:
    """HWC uint8 images -> N x 3 x H x W tensor."""
    return torch.from_numpy(np.ascontiguousarray(np.stack(arrays))).permute(0, 3, 1, 2).contiguous()


def _cache_key(folder: Path, files: list[tuple[str, Path]], resolution: int) -> str:
    h = hashlib.sha256(f"{folder.resolve()}|{resolution}|{len(files)}".encode())
    for label, path in files:
        st = path.stat()
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
