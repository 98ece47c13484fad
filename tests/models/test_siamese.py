"""Siamese D: one branch shared by both images; the |a - b| variant is symmetric in its inputs."""

import pytest
import torch
from torch import nn

from harness.config.specs import ModelSpec
from harness.models import ARCHS
from harness.models.layers import n_blocks


def build_d(name: str, resolution: int = 32) -> nn.Module:
    torch.manual_seed(0)
    return ARCHS.get(name).build_d(ModelSpec(name, z_dim=16, ngf=8, ndf=8), resolution, 3)


def images(seed: int) -> torch.Tensor:
    return torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_abs_diff_d_is_symmetric():
    D, a, b = build_d("siamese"), images(0), images(1)
    with torch.no_grad():
        assert torch.allclose(D(a, b), D(b, a), atol=1e-6)


def test_concat_d_is_order_aware():
    D, a, b = build_d("siamese-concat"), images(0), images(1)
    with torch.no_grad():
        assert not torch.allclose(D(a, b), D(b, a), atol=1e-6)


def test_abs_diff_d_gives_one_logit_to_every_identical_pair():
    # holds only if one branch embeds both inputs: then (a, a) and (b, b) both compare equal features
    D, a, b = build_d("siamese"), images(0), images(1)
    with torch.no_grad():
        assert torch.allclose(D(a, a), D(b, b))


@pytest.mark.parametrize("name", ["siamese", "siamese-concat"])
@pytest.mark.parametrize("resolution", [32, 64])
def test_one_set_of_branch_convs(name, resolution):
    convs = [m for m in build_d(name, resolution).modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == n_blocks(resolution)
