"""STL-10's binary layout, written here in small files (the real set cannot be downloaded on these machines)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from harness.config.specs import DataSpec
from harness.core.errors import DataError
from harness.data import load_dataset
from harness.data.stl10 import CLASSES, UNLABELED


def write_stl10(root: Path, split_sizes: dict[str, int], seed: int = 0) -> dict[str, np.ndarray]:
    """Write <root>/stl10_binary/{split}_X.bin (+ _y.bin) exactly as the STL-10 files store them; returns the
    images as N x 96 x 96 x 3 (row-major, the orientation a viewer shows)."""
    rng = np.random.default_rng(seed)
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    shown = {}
    for split, n in split_sizes.items():
        images = rng.integers(0, 256, (n, 96, 96, 3), dtype=np.uint8)
        # The files hold each image channel by channel, each channel column by column.
        images.transpose(0, 3, 2, 1).tofile(folder / f"{split}_X.bin")
        if split != "unlabeled":
            (np.arange(n) % 10 + 1).astype(np.uint8).tofile(folder / f"{split}_y.bin")
        shown[split] = images
    return shown


def spec(resolution=96, classes=()):
    return DataSpec("stl10", "stl10", resolution, classes=classes)


def test_train_split_is_labelled_train_plus_unlabelled_in_the_right_orientation(tmp_path):
    shown = write_stl10(tmp_path, {"train": 10, "unlabeled": 4, "test": 3})
    data = load_dataset(spec(), tmp_path)
    assert data.images.shape == (14, 3, 96, 96)
    expected = np.concatenate([shown["train"], shown["unlabeled"]]).transpose(0, 3, 1, 2)
    assert torch.equal(data.images, torch.from_numpy(np.ascontiguousarray(expected)))
    assert data.labels[:10].tolist() == list(range(10))
    assert data.class_names[data.labels[-1]] == UNLABELED
    assert len(load_dataset(spec(), tmp_path, "test")) == 3


def test_class_subset_keeps_labelled_images_and_resizes_to_64(tmp_path):
    write_stl10(tmp_path, {"train": 20, "unlabeled": 5})
    data = load_dataset(spec(64, classes=("cat", "dog")), tmp_path)
    assert data.images.shape == (4, 3, 64, 64)
    assert data.class_names == ("cat", "dog") and sorted(data.labels.tolist()) == [0, 0, 1, 1]
    assert CLASSES.index("cat") == 3


def test_missing_files_say_where_to_put_them(tmp_path):
    with pytest.raises(DataError, match="stl10_binary"):
        load_dataset(spec(), tmp_path)


def test_a_file_of_the_wrong_size_is_refused(tmp_path):
    (tmp_path / "stl10_binary").mkdir()
    (tmp_path / "stl10_binary" / "train_X.bin").write_bytes(b"\0" * 1000)
    with pytest.raises(DataError, match="not an STL-10 image file"):
        load_dataset(spec(), tmp_path)
