"""Augmentations, by suite name. DiffAugment (Zhao et al. 2020) transforms every image D sees, real and fake, with
differentiable ops so G's gradient passes through; cutmix and saturation augment the real batch only. Every random
parameter comes from a draws.Draws (torch's global generator unless a seed lane passes its own), and every op is a
pure function of its input, so a transform also runs under vmap."""

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from harness.core.registry import Registry
from harness.train.draws import GLOBAL, Draws

Transform = Callable[[torch.Tensor, Draws], torch.Tensor]  # (images, where their random parameters come from)


@dataclass(frozen=True)
class Augment:
    d_input: Transform | None = None  # applied to real and fake inside the objective (must be differentiable)
    real: Transform | None = None  # applied to the real batch before D sees it


AUGMENTS: Registry[Augment] = Registry("augment")


def _per_image(x: torch.Tensor, draw: Draws) -> torch.Tensor:
    return draw.rand((x.size(0), 1, 1, 1), x.device, x.dtype)


def brightness(x: torch.Tensor, draw: Draws = GLOBAL) -> torch.Tensor:
    return x + (_per_image(x, draw) - 0.5)


def saturation(x: torch.Tensor, draw: Draws = GLOBAL, spread: float = 1.0) -> torch.Tensor:
    """Scale each image's colour around its grey level by a factor in [1 - spread, 1 + spread]."""
    grey = x.mean(dim=1, keepdim=True)
    return (x - grey) * (1 + spread * (2 * _per_image(x, draw) - 1)) + grey


def contrast(x: torch.Tensor, draw: Draws = GLOBAL) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_per_image(x, draw) + 0.5) + mean


def translation(x: torch.Tensor, draw: Draws = GLOBAL, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ratio x size pixels, zeros coming in; whole-pixel shifts via nearest sampling."""
    n, _, h, w = x.shape
    shift = draw.randint(-int(h * ratio), int(h * ratio) + 1, (n, 2), x.device).to(x.dtype)
    # The sampling grid written out (affine_grid's with an identity theta plus the shift, in its align_corners=False
    # coordinates: pixel centres at (2i + 1) / size - 1); affine_grid itself has no batching rule under vmap.
    xs = (torch.arange(w, device=x.device, dtype=x.dtype) * 2 + 1) / w - 1
    ys = (torch.arange(h, device=x.device, dtype=x.dtype) * 2 + 1) / h - 1
    gx = xs.view(1, 1, w) - (2 * shift[:, 1] / w).view(n, 1, 1)
    gy = ys.view(1, h, 1) - (2 * shift[:, 0] / h).view(n, 1, 1)
    grid = torch.stack([gx.expand(n, h, w), gy.expand(n, h, w)], dim=-1)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def _boxes(x: torch.Tensor, side: torch.Tensor, draw: Draws) -> torch.Tensor:
    """A 0/1 mask per image: 1 inside a random square of the given side (pixels), centred anywhere."""
    n, _, h, w = x.shape
    cy, cx = draw.rand((n, 1, 1), x.device) * h, draw.rand((n, 1, 1), x.device) * w
    ys, xs = torch.arange(h, device=x.device).view(1, h, 1), torch.arange(w, device=x.device).view(1, 1, w)
    half = side.view(n, 1, 1) / 2
    inside = ((ys + 0.5 - cy).abs() < half) & ((xs + 0.5 - cx).abs() < half)
    return inside.unsqueeze(1).to(x.dtype)


def cutout(x: torch.Tensor, draw: Draws = GLOBAL, ratio: float = 0.5) -> torch.Tensor:
    side = torch.full((x.size(0),), ratio * x.size(2), device=x.device)
    return x * (1 - _boxes(x, side, draw))


def diffaugment(x: torch.Tensor, draw: Draws = GLOBAL) -> torch.Tensor:
    """DiffAugment's 'color,translation,cutout' policy."""
    return cutout(translation(contrast(saturation(brightness(x, draw), draw), draw), draw), draw)


def cutmix(x: torch.Tensor, draw: Draws = GLOBAL) -> torch.Tensor:
    """Paste a random square (area ~ U(0, 1)) of another real image into each real image."""
    side = draw.rand((x.size(0),), x.device).sqrt() * x.size(2)
    mask = _boxes(x, side, draw)
    return x * (1 - mask) + x.roll(1, dims=0) * mask


AUGMENTS.register("none")(Augment())
AUGMENTS.register("diffaugment")(Augment(d_input=diffaugment))
AUGMENTS.register("cutmix")(Augment(real=cutmix))
AUGMENTS.register("saturation")(Augment(real=lambda x, draw=GLOBAL: saturation(x, draw, spread=0.5).clamp(-1, 1)))
