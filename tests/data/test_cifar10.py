"""CIFAR-10 from an image-folder tree or from torchvision's pickled batches; a clear error when neither is there."""

import pickle

import pytest
import torch
import torchvision.datasets.cifar as tv_cifar

from harness.config.specs import DataSpec
from harness.core.errors import DataError
from harness.data import load_dataset
from harness.data.cifar10 import CLASSES
from tests.conftest import write_pngs

PER_CLASS = 4
FOLDER_CLASSES = ("cat", "dog", "frog")


def rand_images(n, seed, size=32):
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def spec(resolution=32, classes=(), n_images=None, label="cifar10"):
    return DataSpec("cifar10", label, resolution, classes=classes, n_images=n_images)


@pytest.fixture
def folder_root(tmp_path):
    """root/cifar10/{train,test}/<class>/*.png for three of the ten classes: {class: train images}."""
    written = {}
    for i, name in enumerate(FOLDER_CLASSES):
        written[name] = rand_images(PER_CLASS, seed=i)
        write_pngs(tmp_path / "cifar10" / "train" / name, written[name])
        write_pngs(tmp_path / "cifar10" / "test" / name, rand_images(1, seed=100 + i))
    return tmp_path, written


def test_image_folder_layout(folder_root):
    root, written = folder_root
    data = load_dataset(spec(), root)
    assert data.class_names == FOLDER_CLASSES
    assert data.images.shape == (3 * PER_CLASS, 3, 32, 32) and data.images.dtype == torch.uint8
    for k, name in enumerate(FOLDER_CLASSES):
        assert torch.equal(data.images[data.labels == k], written[name])


def test_image_folder_test_split(folder_root):
    root, _ = folder_root
    data = load_dataset(spec(), root, split="test")
    assert len(data) == 3
    assert torch.equal(data.images[0], rand_images(1, seed=100)[0])


@pytest.mark.parametrize("classes", [("cat", "dog"), ("dog", "cat"), ("frog",)])
def test_class_subset_is_relabelled_in_the_suites_order(folder_root, classes):
    root, written = folder_root
    data = load_dataset(spec(classes=classes, label="subset"), root)
    assert data.class_names == classes
    assert len(data) == PER_CLASS * len(classes)
    assert sorted(set(data.labels.tolist())) == list(range(len(classes)))
    for k, name in enumerate(classes):
        assert torch.equal(data.images[data.labels == k], written[name])


def test_class_missing_from_the_files_raises_data_error(folder_root):
    root, _ = folder_root
    with pytest.raises(DataError, match="'truck'"):
        load_dataset(spec(classes=("cat", "truck")), root)


def test_n_images_subsamples_the_same_images_every_time(folder_root):
    root, _ = folder_root
    full = load_dataset(spec(), root)
    a, b = load_dataset(spec(n_images=5), root), load_dataset(spec(n_images=5), root)
    assert len(a) == 5
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    originals = {bytes(img.numpy()): int(label) for img, label in zip(full.images, full.labels, strict=True)}
    picked = [bytes(img.numpy()) for img in a.images]
    assert len(set(picked)) == 5
    assert all(originals[p] == int(label) for p, label in zip(picked, a.labels, strict=True))
    assert len(load_dataset(spec(n_images=1000), root)) == len(full)  # more than there are: all of them


def test_n_images_applies_after_the_class_subset(folder_root):
    root, written = folder_root
    data = load_dataset(spec(classes=("dog",), n_images=3), root)
    assert len(data) == 3 and (data.labels == 0).all()
    dogs = {bytes(img.numpy()) for img in written["dog"]}
    assert all(bytes(img.numpy()) in dogs for img in data.images)


def test_upscaled_to_64px(tmp_path):
    # flat colours and a left-right gradient: upscaling keeps a flat image flat and a gradient's mean and direction
    flat = torch.full((1, 3, 32, 32), 90, dtype=torch.uint8)
    ramp = torch.linspace(0, 255, 32).round().to(torch.uint8).expand(1, 3, 32, 32).contiguous()
    write_pngs(tmp_path / "cifar10" / "train" / "ship", torch.cat([flat, ramp]))
    data = load_dataset(spec(resolution=64), tmp_path)
    assert data.images.shape == (2, 3, 64, 64) and data.images.dtype == torch.uint8
    assert (data.images[0] == 90).all()
    up = data.images[1].float()
    assert abs(up.mean() - ramp.float().mean()) < 2
    assert (up[:, :, 1:] >= up[:, :, :-1] - 1).all() and up[:, :, -1].mean() > 240 and up[:, :, 0].mean() < 15


# torchvision's layout: root/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}, each a pickle of a dict
# with 'data' (uint8 N x 3072, channel-major) and 'labels'. torchvision unpickles with encoding='latin1', which turns
# the original Python 2 byte-string keys into str keys, so str keys are what it reads.
TRAIN_PER_BATCH = 6
TEST_SIZE = 5


def write_batches(root) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    gen = torch.Generator().manual_seed(7)
    written = {"train": ([], []), "test": ([], [])}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = TEST_SIZE if name == "test_batch" else TRAIN_PER_BATCH
        images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=gen)
        labels = torch.randint(0, 10, (n,), generator=gen)
        with open(base / name, "wb") as f:
            pickle.dump({"batch_label": name, "data": images.reshape(n, 3072).numpy(), "labels": labels.tolist()}, f, 2)
        split = "test" if name == "test_batch" else "train"
        written[split][0].append(images)
        written[split][1].append(labels)
    with open(base / "batches.meta", "wb") as f:
        pickle.dump({"label_names": list(CLASSES), "num_cases_per_batch": TRAIN_PER_BATCH, "num_vis": 3072}, f, 2)
    return {split: (torch.cat(ims), torch.cat(lbs)) for split, (ims, lbs) in written.items()}


@pytest.fixture
def pickle_root(tmp_path, monkeypatch):
    """Small files in the real format: torchvision checks the real files' md5s, so check only that the files exist."""
    real = tv_cifar.check_integrity
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda fpath, md5=None: real(fpath, None))
    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", lambda *a, **k: pytest.fail("tried to download"))
    return tmp_path, write_batches(tmp_path)


@pytest.mark.parametrize("split", ["train", "test"])
def test_torchvision_layout(pickle_root, split):
    root, written = pickle_root
    images, labels = written[split]
    data = load_dataset(spec(), root, split=split)
    assert data.class_names == CLASSES
    assert len(data) == (5 * TRAIN_PER_BATCH if split == "train" else TEST_SIZE)
    assert data.images.dtype == torch.uint8 and data.labels.dtype == torch.int64
    assert torch.equal(data.images, images)  # N x 3 x 32 x 32, channels in the right place
    assert torch.equal(data.labels, labels)


def test_torchvision_layout_class_subset_and_64px(pickle_root):
    root, (images, labels) = pickle_root[0], pickle_root[1]["train"]
    cat, dog = CLASSES.index("cat"), CLASSES.index("dog")
    data = load_dataset(spec(resolution=64, classes=("dog", "cat"), label="cats-dogs"), root)
    expected = labels[(labels == cat) | (labels == dog)]
    assert len(data) == len(expected) > 0
    assert data.images.shape == (len(expected), 3, 64, 64)
    assert data.labels.tolist() == [0 if int(label) == dog else 1 for label in expected]
    # upscaling keeps each image's average colour
    small = images[(labels == cat) | (labels == dog)].float().mean(dim=(2, 3))
    assert torch.allclose(data.images.float().mean(dim=(2, 3)), small, atol=3)


def test_torchvision_files_with_wrong_checksums_raise_data_error(tmp_path, monkeypatch):
    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", lambda *a, **k: pytest.fail("tried to download"))
    write_batches(tmp_path)  # not the real files: torchvision's md5 check fails
    with pytest.raises(DataError, match="CIFAR-10 not found") as err:
        load_dataset(spec(), tmp_path)
    assert "\n" not in str(err.value)


def test_missing_data_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", lambda *a, **k: pytest.fail("tried to download"))
    root = tmp_path / "data"
    with pytest.raises(DataError) as err:
        load_dataset(spec(), root)
    msg = str(err.value)
    assert "\n" not in msg
    assert f"{root}/cifar10/train/<class>" in msg
    assert "cifar-10-batches-py" in msg and "HARNESS_DATA" in msg and "--data-root" in msg
    assert not (root / "cifar-10-batches-py").exists()
    with pytest.raises(DataError, match=f"{root}/cifar10/test/"):
        load_dataset(spec(), root, split="test")


def test_image_folder_layout_wins_over_torchvision_files(folder_root, monkeypatch):
    root, written = folder_root
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *a, **k: pytest.fail("read torchvision's files"))
    write_batches(root)
    assert load_dataset(spec(), root).class_names == FOLDER_CLASSES
