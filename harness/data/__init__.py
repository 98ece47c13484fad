"""Dataset registry: every source yields uint8 images at the job's resolution, with integer labels."""

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from harness.config.specs import DataSpec
from harness.core.errors import ConfigError, DataError
from harness.core.registry import Registry


@dataclass(frozen=True)
class ImageSet:
    images: torch.Tensor  # uint8, N x 3 x H x W
    labels: torch.Tensor  # int64, N; indices into class_names
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.images)


class Source(Protocol):
    # What a suite is checked against before anything loads: the class names (None when only the files can tell),
    # the images in a split when no n_images is given (None: unknown), and whether it reads a folder named by `path`.
    class_names: tuple[str, ...] | None
    default_size: int | None
    needs_path: bool

    def load(self, spec: DataSpec, root: Path, split: str) -> ImageSet: ...


DATASETS: Registry[type[Source]] = Registry("dataset")


def check_classes(source: str, classes: tuple[str, ...], where: str) -> None:
    repeated = [c for i, c in enumerate(classes) if c in classes[:i]]
    if repeated:
        raise ConfigError(f"{where}: class {repeated[0]!r} is listed twice; list each class once")
    known = DATASETS.get(source, where).class_names
    if known is None:
        return
    bad = [c for c in classes if c not in known]
    if bad:
        raise ConfigError(f"{where}: class {bad[0]!r} is not in {source}; valid: {', '.join(known)}")


def check_data(spec: DataSpec, where: str) -> None:
    """What a suite can get wrong about a job's data, caught before anything loads."""
    check_classes(spec.source, spec.classes, where)
    if DATASETS.get(spec.source, where).needs_path and not spec.path:
        raise ConfigError(
            f"{where}: the {spec.source} dataset needs a 'path' (a folder of images, absolute or under the data "
            "root); set path: in defaults or in a datasets: variant"
        )


def size_bound(spec: DataSpec) -> int | None:
    """At most this many images in any split of the job's data; None when only the files can tell."""
    return spec.n_images if spec.n_images is not None else DATASETS.get(spec.source).default_size


def select_classes(data: ImageSet, classes: tuple[str, ...], source: str) -> ImageSet:
    """Keep the named classes, relabelled 0..k-1 in the order the suite lists them."""
    if not classes:
        return data
    missing = [c for c in classes if c not in data.class_names]
    if missing:
        raise DataError(f"class {missing[0]!r} not found in {source}; it has: {', '.join(data.class_names)}")
    keep = torch.zeros(len(data), dtype=torch.bool)
    labels = torch.full_like(data.labels, -1)
    for new, name in enumerate(classes):
        hit = data.labels == data.class_names.index(name)
        keep |= hit
        labels[hit] = new
    return ImageSet(data.images[keep], labels[keep], tuple(classes))


def subsample(data: ImageSet, n: int | None, seed: int = 0) -> ImageSet:
    """A fixed random subset (the same for every job), so a size limit never depends on file order."""
    if n is None or n >= len(data):
        return data
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n].sort().values
    return ImageSet(data.images[idx], data.labels[idx], data.class_names)


def sharpen(data: ImageSet, amount: float, chunk: int = 4096) -> ImageSet:
    """Unsharp mask, x + amount * (x - blur(x)) with a 3x3 binomial blur: the multi-variant report's `sharpen`."""
    if amount <= 0:
        return data
    import torch.nn.functional as F

    kernel = torch.tensor([1.0, 2.0, 1.0])
    kernel = (kernel[:, None] * kernel[None, :] / 16).expand(3, 1, 3, 3)
    out = []
    for x in data.images.split(chunk):
        x = x.float()
        blur = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=3)
        out.append((x + amount * (x - blur)).round_().clamp_(0, 255).to(torch.uint8))
    return ImageSet(torch.cat(out), data.labels, data.class_names)


def load_dataset(spec: DataSpec, root: Path, split: str = "train", limit: int | None = None) -> ImageSet:
    """The job's images: its source, split, class subset and resolution; `limit` caps the count."""
    data = DATASETS.get(spec.source)().load(spec, root, split)
    data = select_classes(data, spec.classes, spec.source)
    data = subsample(data, spec.n_images)
    data = subsample(data, limit)
    if len(data) == 0:
        raise DataError(f"{spec.label}: no images in split {split!r}")
    return data


# Register the built-in sources.
from harness.data import cifar10, imagefolder, stl10, synthetic  # noqa: E402, F401
