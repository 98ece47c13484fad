"""DCGAN as in pytorch/examples, layer by layer; and every registered arch trains one step at each resolution."""

import pytest
import torch
from torch import nn

from harness.models import ARCHS
from harness.objectives import OBJECTIVES
from harness.specs import ModelSpec

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
    return [describe(m) for m in net.modules() if not list(m.children())]


def build(which: str, resolution: int, **model) -> nn.Module:
    arch, spec = ARCHS.get("dcgan"), ModelSpec("dcgan", **model)
    return (arch.build_g if which == "G" else arch.build_d)(spec, resolution)


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


CASES = [(name, res) for name in ARCHS for res in ARCHS.get(name).resolutions]


@pytest.mark.parametrize(("name", "resolution"), CASES, ids=[f"{n}-{r}" for n, r in CASES])
def test_arch_shapes_and_one_training_step(name, resolution):
    torch.manual_seed(0)
    arch = ARCHS.get(name)
    spec = ModelSpec(name, z_dim=16, ngf=8, ndf=8)
    G, D = arch.build_g(spec, resolution), arch.build_d(spec, resolution)
    objective = OBJECTIVES.get(arch.objective)()
    n = 4
    z = torch.randn(n, spec.z_dim)
    real = torch.rand(n, 3, resolution, resolution) * 2 - 1

    fake = G(z)
    assert fake.shape == (n, 3, resolution, resolution)
    assert fake.min() >= -1 and fake.max() <= 1
    assert D(real).shape == (n,)

    before = {id(p): p.detach().clone() for p in [*G.parameters(), *D.parameters()]}
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))

    d_loss, stats = objective.d_loss(D, real, fake)
    opt_d.zero_grad()
    d_loss.backward()
    assert all(p.grad is None for p in G.parameters())  # D's step must not reach into G
    opt_d.step()

    g_loss, _ = objective.g_loss(D, G(z))
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()

    assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
    assert d_loss.ndim == 0 and g_loss.ndim == 0
    assert all(0 <= v <= 1 for v in stats.values())
    for net in (G, D):
        changed = [not torch.equal(before[id(p)], p.detach()) for p in net.parameters()]
        assert all(changed), f"{type(net).__name__}: {changed.count(False)} parameters did not move"
