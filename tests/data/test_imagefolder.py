"""The imagefolder source: any folder of images, its sub-folders the classes, found by absolute or relative path."""

import pytest
import torch

from harness.data import load_dataset
from harness.errors import ConfigError, DataError
from harness.specs import DataSpec
from tests.conftest import write_pngs


def rand_images(n, seed, size=24):
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def spec(path, resolution=16, **kw):
    return DataSpec("imagefolder", "faces", resolution, path=str(path), **kw)


@pytest.fixture
def faces(tmp_path):
    """data_root/faces/{happy,sad}/ with 3 and 2 images."""
    root = tmp_path / "data"
    write_pngs(root / "faces" / "happy", rand_images(3, seed=0))
    write_pngs(root / "faces" / "sad", rand_images(2, seed=1))
    return root


@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_path_absolute_or_relative_to_the_data_root(faces, how):
    path = faces / "faces" if how == "absolute" else "faces"
    data = load_dataset(spec(path), faces)
    assert data.class_names == ("happy", "sad")
    assert data.labels.tolist() == [0, 0, 0, 1, 1]
    assert data.images.shape == (5, 3, 16, 16) and data.images.dtype == torch.uint8


def test_absolute_path_ignores_the_data_root(faces, tmp_path):
    data = load_dataset(spec(faces / "faces"), tmp_path / "elsewhere")
    assert len(data) == 5


def test_classes_and_n_images(faces):
    data = load_dataset(spec("faces", classes=("sad",), n_images=1), faces)
    assert data.class_names == ("sad",) and data.labels.tolist() == [0]


def test_loose_images_are_one_class_named_after_the_folder(tmp_path):
    write_pngs(tmp_path / "portraits", rand_images(2, seed=3))
    data = load_dataset(spec(tmp_path / "portraits"), tmp_path)
    assert data.class_names == ("portraits",) and len(data) == 2


def test_train_and_test_subfolders_are_the_splits(tmp_path):
    write_pngs(tmp_path / "set" / "train" / "a", rand_images(3, seed=4))
    write_pngs(tmp_path / "set" / "train" / "b", rand_images(1, seed=5))
    write_pngs(tmp_path / "set" / "test" / "c", rand_images(2, seed=6))
    train = load_dataset(spec("set"), tmp_path, split="train")
    test = load_dataset(spec("set"), tmp_path, split="test")
    assert train.class_names == ("a", "b") and len(train) == 4
    assert test.class_names == ("c",) and len(test) == 2


def test_without_split_folders_every_split_is_the_whole_folder(faces):
    train = load_dataset(spec("faces"), faces, split="train")
    test = load_dataset(spec("faces"), faces, split="test")
    assert torch.equal(train.images, test.images)


def test_missing_path_raises_data_error(tmp_path):
    with pytest.raises(DataError, match="does not exist") as err:
        load_dataset(spec("nowhere"), tmp_path)
    assert str(tmp_path / "nowhere") in str(err.value) and "faces" in str(err.value)


def test_empty_folder_raises_data_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        load_dataset(spec("empty"), tmp_path)


def test_no_path_raises_config_error(tmp_path):
    with pytest.raises(ConfigError, match="faces: .*needs a 'path'"):
        load_dataset(DataSpec("imagefolder", "faces", 16), tmp_path)


def test_a_split_folder_without_the_asked_split_is_an_error_not_a_class(tmp_path):
    import torch

    from harness.data import load_dataset
    from harness.errors import DataError
    from harness.specs import DataSpec
    from tests.conftest import write_pngs

    write_pngs(tmp_path / "pets" / "train" / "cat", torch.zeros(2, 3, 8, 8, dtype=torch.uint8))
    spec = DataSpec("imagefolder", "pets", 8, path=str(tmp_path / "pets"))
    assert len(load_dataset(spec, tmp_path, "train")) == 2
    with pytest.raises(DataError, match="no test/ folder"):
        load_dataset(spec, tmp_path, "test")
