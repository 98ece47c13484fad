"""Any folder of images: sub-folders are classes; images are centre-cropped and resized to the job's resolution."""

from pathlib import Path

from harness.config.specs import DataSpec
from harness.core.errors import ConfigError, DataError
from harness.data import DATASETS, ImageSet
from harness.data.folder import read_tree


@DATASETS.register("imagefolder")
class ImageFolder:
    class_names = None  # only the files know
    default_size = None
    needs_path = True

    def load(self, spec: DataSpec, root: Path, split: str) -> ImageSet:
        if not spec.path:
            raise ConfigError(f"{spec.label}: the imagefolder dataset needs a 'path'")
        folder = Path(spec.path).expanduser()
        folder = folder if folder.is_absolute() else root / folder
        # A folder with train/ and test/ inside is split like CIFAR; otherwise the whole folder is every split.
        if (folder / split).is_dir():
            folder = folder / split
        elif any((folder / s).is_dir() for s in ("train", "test")):
            raise DataError(f"{spec.label}: {folder} is split into train/ and test/ but has no {split}/ folder")
        if not folder.is_dir():
            raise DataError(
                f"{spec.label}: image folder {folder} does not exist; fix its path (a relative path is under "
                "--data-root or $HARNESS_DATA)"
            )
        images, labels, names = read_tree(folder, spec.resolution)
        return ImageSet(images, labels, names)
