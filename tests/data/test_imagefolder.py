"""The imagefolder source: any folder of images, its sub-folders the classes, found by absolute or relative path."""

import pytest
import torch
import yaml
from PIL import Image

from harness.config.specs import DataSpec
from harness.core.errors import ConfigError, DataError
from harness.data import load_dataset
from tests.conftest import write_pngs
from tests.data.test_folder import bomb_png
from tests.helpers import harness, tiny_suite


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

    from harness.config.specs import DataSpec
    from harness.core.errors import DataError
    from harness.data import load_dataset
    from tests.conftest import write_pngs

    write_pngs(tmp_path / "pets" / "train" / "cat", torch.zeros(2, 3, 8, 8, dtype=torch.uint8))
    spec = DataSpec("imagefolder", "pets", 8, path=str(tmp_path / "pets"))
    assert len(load_dataset(spec, tmp_path, "train")) == 2
    with pytest.raises(DataError, match="no test/ folder"):
        load_dataset(spec, tmp_path, "test")


def _planted(folder, kind: str):
    """An image folder of good images and one bad file: a decompression bomb or a symlink loop."""
    write_pngs(folder / "a", rand_images(2, seed=7))
    bad = folder / "a" / "x.png"
    if kind == "bomb":
        bad.write_bytes(bomb_png(Image.MAX_IMAGE_PIXELS + 1))
    else:
        bad.symlink_to("y.png")
        (folder / "a" / "y.png").symlink_to("x.png")
    return bad


@pytest.mark.parametrize("kind", ["bomb", "loop"])
def test_through_the_cli_a_bomb_or_a_symlink_loop_is_one_unreadable_image_line(tmp_path, kind):
    bad = _planted(tmp_path / "img", kind)
    suite = tiny_suite(tmp_path / "s.yaml", name="bad", epochs=1, defaults={"path": str(tmp_path / "img")})
    raw = yaml.safe_load(suite.read_text())
    raw["matrix"]["dataset"] = ["imagefolder"]
    suite.write_text(yaml.safe_dump(raw))
    done = harness("run-job", str(suite), "--index", "0", "--results", str(tmp_path / "results"), "--device", "cpu")
    assert done.returncode == 1, done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.startswith(("error:", "internal error:"))]
    assert line.startswith(f"error: unreadable image {bad}: ") and line.endswith("; remove or replace the file")
    assert "Traceback" not in done.stderr
