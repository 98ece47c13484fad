"""Augmentations, by suite name. DiffAugment (Zhao et al. 2020) transforms every image D sees, real and fake, with
differentiable ops so G's gradient passes through; cutmix and saturation augment the real batch only."""

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from harness.registry import Registry

Transform = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Augment:
    d_input: Transform | None = None  # applied to real and fake inside the objective (must be differentiable)
    real: Transform | None = None  # applied to the real batch before D sees it


AUGMENTS: Registry[Augment] = Registry("augment")


def _per_image(x: torch.Tensor) -> torch.Tensor:
    return torch.rand(x.size(0), 1, 1, 1, device=x.device, dtype=x.dtype)


def brightness(x: torch.Tensor) -> torch.Tensor:
    return x + (_per_image(x) - 0.5)


def saturation(x: torch.Tensor, spread: float = 1.0) -> torch.Tensor:
    """Scale each image's colour around its grey level by a factor in [1 - spread, 1 + spread]."""
    grey = x.mean(dim=1, keepdim=True)
    return (x - grey) * (1 + spread * (2 * _per_image(x) - 1)) + grey


def contrast(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_per_image(x) + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ratio x size pixels, zeros coming in; whole-pixel shifts via nearest sampling."""
    n, _, h, w = x.shape
    shift = torch.randint(-int(h * ratio), int(h * ratio) + 1, (n, 2), device=x.device).to(x.dtype)
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, 0, 2], theta[:, 1, 2] = -2 * shift[:, 1] / w, -2 * shift[:, 0] / h
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def _boxes(x: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
    """A 0/1 mask per image: 1 inside a random square of the given side (pixels), centred anywhere."""
    n, _, h, w = x.shape
    cy, cx = (torch.rand(n, 1, 1, device=x.device) * h), (torch.rand(n, 1, 1, device=x.device) * w)
    ys, xs = torch.arange(h, device=x.device).view(1, h, 1), torch.arange(w, device=x.device).view(1, 1, w)
    half = side.view(n, 1, 1) / 2
    inside = ((ys + 0.5 - cy).abs() < half) & ((xs + 0.5 - cx).abs() < half)
    return inside.unsqueeze(1).to(x.dtype)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    side = torch.full((x.size(0),), ratio * x.size(2), device=x.device)
    return x * (1 - _boxes(x, side))


def diffaugment(x: torch.Tensor) -> torch.Tensor:
    """DiffAugment's 'color,translation,cutout' policy."""
    return cutout(translation(contrast(saturation(brightness(x)))))


def cutmix(x: torch.Tensor) -> torch.Tensor:
    """Paste a random square (area ~ U(0, 1)) of another real image into each real image."""
    side = torch.rand(x.size(0), device=x.device).sqrt() * x.size(2)
    mask = _boxes(x, side)
    return x * (1 - mask) + x.roll(1, dims=0) * mask


AUGMENTS.register("none")(Augment())
AUGMENTS.register("diffaugment")(Augment(d_input=diffaugment))
AUGMENTS.register("cutmix")(Augment(real=cutmix))
AUGMENTS.register("saturation")(Augment(real=lambda x: saturation(x, spread=0.5).clamp(-1, 1)))
