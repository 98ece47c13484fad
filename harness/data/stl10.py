"""STL-10 from torchvision's binary files (<root>/stl10_binary/*.bin): 96x96 images, resized to the job's resolution.

The training split is the 5,000 labelled train images plus the 100,000 unlabelled ones (as GAN papers train on STL-10);
the unlabelled images carry the class 'unlabeled', so a class subset keeps labelled images only."""

import hashlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from harness.config.specs import DataSpec
from harness.core.errors import DataError
from harness.data import DATASETS, ImageSet
from harness.data.folder import cached, stack, to_square

CLASSES = ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck")
UNLABELED = "unlabeled"
SIDE = 96
FILES = {"train": [("train_X.bin", "train_y.bin"), ("unlabeled_X.bin", None)], "test": [("test_X.bin", "test_y.bin")]}


def read_images(path: Path) -> np.ndarray:
    """STL-10 stores each image channel-major and column-major: N x 3 x 96 x 96 with x and y swapped."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % (3 * SIDE * SIDE):
        raise DataError(f"{path} is not an STL-10 image file (size {raw.size} bytes is not a multiple of 3x96x96)")
    return raw.reshape(-1, 3, SIDE, SIDE).transpose(0, 3, 2, 1)  # -> N x H x W x 3


def read_labels(path: Path | None, n: int) -> np.ndarray:
    if path is None:
        return np.full(n, len(CLASSES), dtype=np.int64)  # the 'unlabeled' class
    labels = np.fromfile(path, dtype=np.uint8).astype(np.int64) - 1  # the files count classes from 1
    if len(labels) != n:
        raise DataError(f"{path} has {len(labels)} labels for {n} images")
    return labels


@DATASETS.register("stl10")
class Stl10:
    class_names = (*CLASSES, UNLABELED)
    default_size = None
    needs_path = False

    def load(self, spec: DataSpec, root: Path, split: str) -> ImageSet:
        folder = root / "stl10_binary"
        parts = [(folder / x, folder / y if y else None) for x, y in FILES.get(split, [])]
        present = [(x, y) for x, y in parts if x.exists()]
        if not present:
            raise DataError(
                f"STL-10 not found: put torchvision's stl10_binary/ folder ({', '.join(p.name for p, _ in parts)}) "
                f"under {root}, or pass --data-root / set HARNESS_DATA"
            )
        key = hashlib.sha256(
            "|".join(f"{x.resolve()}:{x.stat().st_size}:{x.stat().st_mtime_ns}" for x, _ in present).encode()
            + f"|{spec.resolution}".encode()
        ).hexdigest()[:16]
        images, labels, names = cached(f"stl10-{key}", lambda: self._decode(present, spec.resolution))
        return ImageSet(images, labels, names)

    def _decode(self, parts, resolution: int):
        images, labels = [], []
        for x_path, y_path in parts:
            arrays = read_images(x_path)
            if resolution != SIDE:
                arrays = np.stack([to_square(Image.fromarray(a), resolution) for a in arrays])
            images.append(stack(arrays))
            labels.append(torch.from_numpy(read_labels(y_path, len(arrays))))
        return torch.cat(images), torch.cat(labels), self.class_names
