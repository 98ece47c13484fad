"""Shared layers: spectral norm bounds the top singular value; self-attention starts as the identity."""

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from harness.models import init_normal
from harness.models.layers import SelfAttention, n_blocks, sn, sn_all


def top_singular_value(layer: nn.Module) -> float:
    # torch normalises a transposed conv over its output channels, dim 1 of its weight
    dim = 1 if isinstance(layer, nn.ConvTranspose2d) else 0
    w = layer.weight.detach().movedim(dim, 0)
    return torch.linalg.matrix_norm(w.reshape(w.size(0), -1), ord=2).item()


@pytest.mark.parametrize(
    "make",
    [lambda: nn.Conv2d(4, 8, 3), lambda: nn.ConvTranspose2d(8, 4, 4, 2, 1), lambda: nn.Linear(12, 6)],
    ids=["conv", "conv-transpose", "linear"],
)
def test_spectral_norm_makes_the_top_singular_value_one(make):
    torch.manual_seed(0)
    layer = make()
    with torch.no_grad():
        layer.weight.mul_(5)
    assert top_singular_value(layer) > 2
    layer = sn(layer, True).train()
    x = torch.randn(2, 12) if isinstance(layer, nn.Linear) else torch.randn(2, layer.in_channels, 6, 6)
    for _ in range(10):  # one power iteration per training forward pass
        layer(x)
    assert top_singular_value(layer) == pytest.approx(1, abs=1e-2)


def test_sn_off_leaves_the_layer_alone():
    layer = nn.Linear(3, 2)
    assert sn(layer, False) is layer and not parametrize.is_parametrized(layer)


def test_sn_all_wraps_every_weight_layer_and_keeps_its_init():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 1), nn.Embedding(3, 4))
    net.apply(init_normal)
    weights = [m.weight.detach().clone() for m in (net[0], net[3], net[4])]
    sn_all(net, True)
    for m, w in zip((net[0], net[3], net[4]), weights, strict=True):
        assert parametrize.is_parametrized(m, "weight")
        assert torch.equal(m.parametrizations.weight.original, w)
    assert not parametrize.is_parametrized(net[1])
    assert sn_all(nn.Linear(2, 2), False).__class__ is nn.Linear


def test_self_attention_starts_as_the_identity():
    torch.manual_seed(0)
    block, x = SelfAttention(16), torch.randn(2, 16, 8, 8)
    out = block(x)
    assert out.shape == x.shape and torch.equal(out, x)


def test_self_attention_mixes_positions_once_gamma_moves():
    torch.manual_seed(0)
    block, x = SelfAttention(16), torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        block.gamma.fill_(1.0)
        out = block(x)
        poked = x.clone()
        poked[:, :, 0, 0] += 1  # one position changes...
        moved = (block(poked) - out).abs().amax(dim=1)
    assert out.shape == x.shape and not torch.allclose(out, x)
    assert (moved[:, 7, 7] > 0).all()  # ...and the far corner sees it


def test_self_attention_weights_sum_to_one_over_positions():
    torch.manual_seed(0)
    block, x = SelfAttention(8), torch.randn(1, 8, 4, 4)
    with torch.no_grad():
        block.gamma.fill_(1.0)
        block.value.weight.zero_()
        block.value.bias.fill_(1.0)  # every value is 1: a convex mix of them is 1 too
        assert torch.allclose(block(x) - x, torch.ones_like(x))


@pytest.mark.parametrize(("resolution", "blocks"), [(32, 3), (64, 4), (128, 5)])
def test_n_blocks(resolution, blocks):
    assert n_blocks(resolution) == blocks
