"""DCGAN as in pytorch/examples, layer by layer, with its init; and its D with spectral norm."""

import pytest
import torch
from torch import nn

from harness.config.specs import ModelSpec
from harness.models import ARCHS

# pytorch/examples' DCGAN at 64px (nz=100, ngf=ndf=64), and the same with one block fewer at 32px.
# ConvT/Conv: (in, out, kernel, stride, padding, bias); BN: features; LeakyReLU: slope.
REFERENCE = {
    ("G", 64): [
        ("ConvTranspose2d", 100, 512, 4, 1, 0, False),
        ("BatchNorm2d", 512),
        ("ReLU",),
        ("ConvTranspose2d", 512, 256, 4, 2, 1, False),
        ("BatchNorm2d", 256),
        ("ReLU",),
        ("ConvTranspose2d", 256, 128, 4, 2, 1, False),
        ("BatchNorm2d", 128),
        ("ReLU",),
        ("ConvTranspose2d", 128, 64, 4, 2, 1, False),
        ("BatchNorm2d", 64),
        ("ReLU",),
        ("ConvTranspose2d", 64, 3, 4, 2, 1, False),
        ("Tanh",),
    ],
    ("D", 64): [
        ("Conv2d", 3, 64, 4, 2, 1, False),
        ("LeakyReLU", 0.2),
        ("Conv2d", 64, 128, 4, 2, 1, False),
        ("BatchNorm2d", 128),
        ("LeakyReLU", 0.2),
        ("Conv2d", 128, 256, 4, 2, 1, False),
        ("BatchNorm2d", 256),
        ("LeakyReLU", 0.2),
        ("Conv2d", 256, 512, 4, 2, 1, False),
        ("BatchNorm2d", 512),
        ("LeakyReLU", 0.2),
        ("Conv2d", 512, 1, 4, 1, 0, False),
    ],
    ("G", 32): [
        ("ConvTranspose2d", 100, 256, 4, 1, 0, False),
        ("BatchNorm2d", 256),
        ("ReLU",),
        ("ConvTranspose2d", 256, 128, 4, 2, 1, False),
        ("BatchNorm2d", 128),
        ("ReLU",),
        ("ConvTranspose2d", 128, 64, 4, 2, 1, False),
        ("BatchNorm2d", 64),
        ("ReLU",),
        ("ConvTranspose2d", 64, 3, 4, 2, 1, False),
        ("Tanh",),
    ],
    ("D", 32): [
        ("Conv2d", 3, 64, 4, 2, 1, False),
        ("LeakyReLU", 0.2),
        ("Conv2d", 64, 128, 4, 2, 1, False),
        ("BatchNorm2d", 128),
        ("LeakyReLU", 0.2),
        ("Conv2d", 128, 256, 4, 2, 1, False),
        ("BatchNorm2d", 256),
        ("LeakyReLU", 0.2),
        ("Conv2d", 256, 1, 4, 1, 0, False),
    ],
}


def describe(module: nn.Module) -> tuple:
    kind = type(module).__name__
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        (k, _), (s, _), (p, _) = module.kernel_size, module.stride, module.padding
        return (kind, module.in_channels, module.out_channels, k, s, p, module.bias is not None)
    if isinstance(module, nn.BatchNorm2d):
        return (kind, module.num_features)
    if isinstance(module, nn.LeakyReLU):
        return (kind, module.negative_slope)
    return (kind,)


def layers(net: nn.Module) -> list[tuple]:
    return [describe(m) for m in net.main]


def build(which: str, resolution: int, **model) -> nn.Module:
    arch, spec = ARCHS.get("dcgan"), ModelSpec("dcgan", **model)
    return (arch.build_g if which == "G" else arch.build_d)(spec, resolution, 10)


@pytest.mark.parametrize(("which", "resolution"), REFERENCE.keys(), ids=[f"{w}{r}" for w, r in REFERENCE])
def test_layers_match_pytorch_examples(which, resolution):
    assert layers(build(which, resolution)) == REFERENCE[which, resolution]


def test_dcgan_is_registered_with_bce():
    arch = ARCHS.get("dcgan")
    assert arch.objective == "bce" and arch.resolutions == (32, 64, 128)


@pytest.mark.parametrize("which", ["G", "D"])
def test_dcgan_init(which):
    torch.manual_seed(0)
    net = build(which, 64)
    convs = torch.cat([m.weight.flatten() for m in net.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)])
    assert abs(convs.std().item() - 0.02) < 0.001
    assert abs(convs.mean().item()) < 0.001
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    scale = torch.cat([m.weight.detach() for m in bns])
    assert abs(scale.mean().item() - 1) < 0.005
    assert 0.01 < scale.std().item() < 0.03  # N(1, 0.02), not PyTorch's constant 1
    assert all((m.bias == 0).all() for m in bns)


# With spectral norm D drops its batch norm, and its convs take the bias batch norm's shift used to stand for.
# A wrapped conv's type is ParametrizedConv2d.
SPECTRAL_D32 = [
    ("ParametrizedConv2d", 3, 64, 4, 2, 1, True),
    ("LeakyReLU", 0.2),
    ("ParametrizedConv2d", 64, 128, 4, 2, 1, True),
    ("LeakyReLU", 0.2),
    ("ParametrizedConv2d", 128, 256, 4, 2, 1, True),
    ("LeakyReLU", 0.2),
    ("ParametrizedConv2d", 256, 1, 4, 1, 0, True),
]


def test_spectral_norm_wraps_every_d_conv_and_drops_batch_norm():
    assert layers(build("D", 32, spectral_norm=True)) == SPECTRAL_D32
    assert layers(build("G", 32, spectral_norm=True)) == REFERENCE["G", 32]  # "spectral_norm" is about D only


def test_spectral_norm_keeps_the_dcgan_init():
    torch.manual_seed(0)
    D = build("D", 64, spectral_norm=True)
    originals = torch.cat([m.parametrizations.weight.original.flatten() for m in D.main if isinstance(m, nn.Conv2d)])
    assert abs(originals.std().item() - 0.02) < 0.001
