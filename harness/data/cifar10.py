"""CIFAR-10: an image-folder tree cifar10/{train,test}/<class>/ under the data root, or torchvision's files."""

import os
from pathlib import Path

import numpy as np
from PIL import Image

from harness.config.specs import DataSpec
from harness.core import atomic
from harness.core.errors import DataError
from harness.data import DATASETS, ImageSet
from harness.data.folder import read_tree, stack, to_square

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@DATASETS.register("cifar10")
class Cifar10:
    class_names = CLASSES
    default_size = None  # an image-folder copy may hold any number
    needs_path = False

    def load(self, spec: DataSpec, root: Path, split: str) -> ImageSet:
        folder = root / "cifar10" / split
        if folder.is_dir():
            images, labels, names = read_tree(folder, spec.resolution)
            return ImageSet(images, labels, names)
        return self._load_torchvision(root, split, spec.resolution)

    def _load_torchvision(self, root: Path, split: str, resolution: int) -> ImageSet:
        import torch
        from torchvision.datasets import CIFAR10

        try:
            if (root / "cifar-10-batches-py").is_dir() or os.environ.get("HARNESS_OFFLINE"):
                ds = CIFAR10(str(root), train=split == "train", download=False)  # a read-only copy is fine
            else:  # ranks, packed jobs and array tasks may start together on an empty root: one downloads
                with atomic.file_lock(root / ".cifar10.lock"):
                    ds = CIFAR10(str(root), train=split == "train", download=True)
        except Exception as e:  # no network, a refused download, damaged files
            raise DataError(
                f"CIFAR-10 not found under {root}: put the image-folder tree at {root}/cifar10/{split}/<class>/*.png "
                f"(or torchvision's cifar-10-batches-py there), or pass --data-root / set HARNESS_DATA "
                f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'download failed'})"
            ) from None
        arrays = ds.data if resolution == 32 else [to_square(Image.fromarray(a), resolution) for a in ds.data]
        return ImageSet(stack(np.asarray(arrays)), torch.tensor(ds.targets, dtype=torch.int64), tuple(ds.classes))
