"""Pictures of a generator: fixed-noise grids, latent-interpolation strips (slerp) and one-row-per-class grids."""

from pathlib import Path

import torch

from harness.core import atomic
from harness.core.images import grid, png_bytes, to_uint8

GRID = 64  # images in each epoch's grid (8 x 8)


def fixed_inputs(z_dim: int, num_classes: int, seed: int, device: torch.device, n: int = GRID):
    """The same z (and, for conditional G, labels: row r shows class r mod K) every epoch, from the job's seed."""
    z = torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    y = ((torch.arange(n) // 8) % num_classes).to(device) if num_classes else None
    return z, y


@torch.no_grad()
def render(G: torch.nn.Module, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """uint8 images from G in eval mode (batch-norm running statistics), leaving G's mode as it was."""
    was_training = G.training
    G.eval()
    images = to_uint8(G(z, y).float()).cpu()
    G.train(was_training)
    return images


def save_grid(path: Path, images: torch.Tensor, nrow: int = 8) -> None:
    atomic.write_bytes(path, png_bytes(grid(images, nrow)))


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows of a and b (White 2016): Gaussian latents keep their norm along the path."""
    a_n, b_n = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((a_n * b_n).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


def interpolation(G, z_dim: int, num_classes: int, seed: int, device, pairs: int = 8, steps: int = 10) -> torch.Tensor:
    """`pairs` rows, each `steps` images from one latent to another (same class along a row for conditional G)."""
    gen = torch.Generator().manual_seed(seed + 1)
    a, b = torch.randn(pairs, z_dim, generator=gen), torch.randn(pairs, z_dim, generator=gen)
    t = torch.linspace(0, 1, steps).view(1, steps, 1)
    z = slerp(a[:, None], b[:, None], t).reshape(pairs * steps, z_dim).to(device)
    y = (torch.arange(pairs).repeat_interleave(steps) % num_classes).to(device) if num_classes else None
    return render(G, z, y)


def per_class(G, z_dim: int, num_classes: int, seed: int, device, per_row: int = 8) -> torch.Tensor:
    """One row per class, the same z down each column."""
    z = torch.randn(per_row, z_dim, generator=torch.Generator().manual_seed(seed + 2)).repeat(num_classes, 1)
    y = torch.arange(num_classes).repeat_interleave(per_row)
    return render(G, z.to(device), y.to(device))
