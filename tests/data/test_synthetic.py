"""The synthetic source: deterministic shapes over gradients, at any resolution."""

import itertools

import pytest
import torch

from harness.config.specs import DataSpec
from harness.data import load_dataset
from harness.data.synthetic import SHAPES, Synthetic

N = 48


def load(tmp_path, resolution=32, split="train", n=N):
    return load_dataset(DataSpec("synthetic", "synthetic", resolution, n_images=n), tmp_path, split)


@pytest.mark.parametrize("resolution", [32, 64])
def test_shape_dtype_and_labels(tmp_path, resolution):
    data = load(tmp_path, resolution)
    assert data.images.shape == (N, 3, resolution, resolution)
    assert data.images.dtype == torch.uint8
    assert data.labels.dtype == torch.int64 and data.labels.shape == (N,)
    assert data.class_names == SHAPES == Synthetic.class_names
    assert set(data.labels.tolist()) == set(range(len(SHAPES)))  # every shape appears in 48 draws


def test_deterministic(tmp_path):
    a, b = load(tmp_path), load(tmp_path)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)


def test_default_size(tmp_path):
    data = Synthetic().load(DataSpec("synthetic", "synthetic", 32), tmp_path, "train")
    assert len(data) == 2048


def test_a_prefix_of_a_larger_set(tmp_path):
    """n_images draws the same first images whatever the total."""
    small, large = load(tmp_path, n=8), load(tmp_path, n=N)
    assert torch.equal(small.images, large.images[:8])


def test_structured_not_noise(tmp_path):
    images = load(tmp_path).images.float()
    noise = torch.randint(0, 256, images.shape, generator=torch.Generator().manual_seed(0)).float()

    def roughness(x):
        return ((x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()) / 2

    assert roughness(images) < 0.1 * roughness(noise)  # ~85 for uniform noise
    # not flat either: each image has a shape on a gradient, so its pixels vary
    assert (images.flatten(1).std(dim=1) > 5).all()
    for i, j in itertools.combinations(range(N), 2):
        assert (images[i] - images[j]).abs().mean() > 1, (i, j)


def test_splits_differ(tmp_path):
    train, test = load(tmp_path, split="train"), load(tmp_path, split="test")
    assert train.images.shape == test.images.shape
    assert not torch.equal(train.images, test.images)
    assert all(not torch.equal(a, b) for a, b in zip(train.images, test.images, strict=True))
