"""Every registered arch at each of its resolutions: calling convention, labels, spectral norm, a training round."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from harness.config.specs import ModelSpec, TrainSpec
from harness.models import ARCHS, Arch
from harness.models.layers import Layer, SelfAttention

N, NUM_CLASSES = 4, 3
CASES = [(name, res) for name in ARCHS for res in ARCHS.get(name).resolutions]
IDS = [f"{n}-{r}" for n, r in CASES]

# Whether D has batch norm without the spectral_norm setting (with it, none does).
D_BATCH_NORM = {
    "dcgan": True,
    "cgan": False,  # spectral norm, as in the projection discriminator
    "wgan": True,  # the WGAN paper's DCGAN critic keeps it
    "wgan-gp": False,  # the gradient penalty is per sample; batch norm mixes samples
    "sngan": False,
    "sagan": False,
    "siamese": False,
    "siamese-concat": False,
}
# Nets spectrally normalised whatever the setting says.
ALWAYS_SPECTRAL = {"sngan": ("D",), "sagan": ("G", "D"), "cgan": ("D",)}


def nets(name: str, resolution: int, **model) -> tuple[Arch, nn.Module, nn.Module]:
    torch.manual_seed(0)
    arch, spec = ARCHS.get(name), ModelSpec(name, z_dim=16, ngf=8, ndf=8, **model)
    return arch, arch.build_g(spec, resolution, NUM_CLASSES), arch.build_d(spec, resolution, NUM_CLASSES)


def inputs(resolution: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """z, labels, and two batches of 'real' images."""
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(N, 16, generator=gen)
    y = torch.tensor([0, 1, 2, 0])
    real, real2 = (torch.rand(N, 3, resolution, resolution, generator=gen) * 2 - 1 for _ in range(2))
    return z, y, real, real2


def logits(arch: Arch, D: nn.Module, x: torch.Tensor, y: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """D's logits for x: a pair D scores the pair (real, x), as the Siamese objective does."""
    return D(real, x) if arch.pair else D(x, y)


@pytest.mark.parametrize(("name", "resolution"), CASES, ids=IDS)
def test_shapes_and_range(name, resolution):
    arch, G, D = nets(name, resolution)
    z, y, real, real2 = inputs(resolution)
    fake = G(z, y)
    assert fake.shape == (N, 3, resolution, resolution)
    assert fake.min() >= -1 and fake.max() <= 1 and fake.std() > 0
    out = D(real, real2) if arch.pair else D(real, y)
    assert out.shape == (N,)


@pytest.mark.parametrize(("name", "resolution"), CASES, ids=IDS)
def test_labels_are_used_exactly_by_conditional_archs(name, resolution):
    arch, G, D = nets(name, resolution)
    z, y, real, _ = inputs(resolution)
    other = (y + 1) % NUM_CLASSES
    G.eval(), D.eval()  # in train mode spectral norm's power iteration changes D between calls
    with torch.no_grad():
        g_differs = not torch.allclose(G(z, y), G(z, other))
        d_differs = not arch.pair and not torch.allclose(D(real, y), D(real, other))
    assert g_differs == arch.conditional
    assert d_differs == arch.conditional


@pytest.mark.parametrize(("name", "resolution"), CASES, ids=IDS)
def test_one_training_round_moves_every_parameter(name, resolution):
    arch, G, D = nets(name, resolution)
    z, y, real, real2 = inputs(resolution)
    before = {id(p): p.detach().clone() for p in [*G.parameters(), *D.parameters()]}
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    # Two rounds: an attention block's query/key/value get no gradient until its gamma has left 0.
    for _ in range(2):
        fake = G(z, y).detach()
        d_loss = F.softplus(-logits(arch, D, real2, y, real)).mean() + F.softplus(logits(arch, D, fake, y, real)).mean()
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()

        g_loss = F.softplus(-logits(arch, D, G(z, y), y, real)).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        assert torch.isfinite(d_loss) and torch.isfinite(g_loss)

    for which, net in (("G", G), ("D", D)):
        still = [n for n, p in net.named_parameters() if torch.equal(before[id(p)], p.detach())]
        assert not still, f"{which} parameters that did not move: {still}"


@pytest.mark.parametrize("name", list(ARCHS))
def test_batch_norm_in_d(name):
    assert set(D_BATCH_NORM) == set(ARCHS), "add new archs to D_BATCH_NORM"
    _, _, D = nets(name, 32)
    assert any(isinstance(m, nn.BatchNorm2d) for m in D.modules()) == D_BATCH_NORM[name]


def spectral(net: nn.Module) -> list[bool]:
    """For each weight layer of net: is it spectrally normalised?"""
    return [parametrize.is_parametrized(m, "weight") for m in net.modules() if isinstance(m, Layer)]


@pytest.mark.parametrize("name", list(ARCHS))
def test_spectral_norm_setting_wraps_every_d_layer(name):
    _, G, D = nets(name, 32, spectral_norm=True)
    assert all(spectral(D)) and spectral(D)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    assert all(spectral(G)) if "G" in ALWAYS_SPECTRAL.get(name, ()) else not any(spectral(G))


@pytest.mark.parametrize("name", list(ARCHS))
def test_spectral_norm_off(name):
    _, G, D = nets(name, 32)
    for which, net in (("G", G), ("D", D)):
        wrapped = spectral(net)
        assert all(wrapped) if which in ALWAYS_SPECTRAL.get(name, ()) else not any(wrapped)


def attention_sizes(net: nn.Module, *args) -> list[int]:
    """The spatial sizes of the maps net's self-attention blocks see in one forward pass."""
    sizes: list[int] = []
    for m in net.modules():
        if isinstance(m, SelfAttention):
            m.register_forward_hook(lambda _m, args, _out: sizes.append(args[0].shape[-1]))
    with torch.no_grad():
        net(*args)
    return sizes


@pytest.mark.parametrize(("name", "resolution"), CASES, ids=IDS)
def test_self_attention_sits_at_half_resolution_in_sagan_only(name, resolution):
    _, G, D = nets(name, resolution)
    z, y, real, real2 = inputs(resolution)
    expected = [resolution // 2] if name == "sagan" else []
    assert attention_sizes(G, z, y) == expected
    assert attention_sizes(D, real, real2 if ARCHS.get(name).pair else y) == expected


SPEC_FIELDS = {f.name: f for f in [*dataclasses.fields(ModelSpec), *dataclasses.fields(TrainSpec)]}
SETTINGS = set(SPEC_FIELDS) - {"arch", "epochs", "seed"}  # what Arch.defaults may set


@pytest.mark.parametrize("name", list(ARCHS))
def test_defaults_are_suite_settings(name):
    for key, value in ARCHS.get(name).defaults.items():
        assert key in SETTINGS, f"{name}: {key!r} is not a ModelSpec/TrainSpec setting"
        kind = type(SPEC_FIELDS[key].default)
        assert isinstance(value, kind), f"{name}: {key}={value!r} is not a {kind.__name__}"


def test_paper_recipes():
    assert ARCHS.get("wgan").defaults["optimizer"] == "rmsprop" and ARCHS.get("wgan").objective == "wasserstein"
    assert ARCHS.get("wgan-gp").objective == "wasserstein-gp" and ARCHS.get("wgan-gp").defaults["beta1"] == 0.0
    assert ARCHS.get("sagan").defaults["lr_d"] == 4 * ARCHS.get("sagan").defaults["lr_g"]  # TTUR
    assert {ARCHS.get(n).objective for n in ("sngan", "sagan")} == {"hinge"}
    assert ARCHS.get("cgan").conditional and ARCHS.get("cgan").objective == "hinge" and ARCHS.get("cgan").version == 2
    assert all(ARCHS.get(n).pair and ARCHS.get(n).objective == "siamese-bce" for n in ("siamese", "siamese-concat"))
