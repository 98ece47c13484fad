"""Deterministic structured images (a shape over a colour gradient), so a tiny GAN visibly learns on a CPU."""

from pathlib import Path

import numpy as np
import torch

from harness.config.specs import DataSpec
from harness.data import DATASETS, ImageSet
from harness.data.folder import stack

SHAPES = ("circle", "square", "triangle")
DEFAULT_SIZE = 2048
SPLIT_SEEDS = {"train": 0, "test": 1}
BACKGROUND = np.array([[0.15, 0.2, 0.35], [0.85, 0.8, 0.6]])  # dusk blue -> sand
INK = np.array([[0.9, 0.25, 0.2], [0.2, 0.7, 0.3], [0.95, 0.85, 0.2]])  # circle red, square green, triangle yellow


def _signed_distance(shape: int, x: np.ndarray, y: np.ndarray, size: float) -> np.ndarray:
    """Roughly: negative inside the shape, in image-width units."""
    if shape == 0:
        return np.hypot(x, y) - size
    if shape == 1:
        return np.maximum(np.abs(x), np.abs(y)) - size
    # An upright isosceles triangle: above its base and inside both slanted sides.
    return np.maximum(y - size, np.abs(x) * 2 - (y + size)) / np.sqrt(2)


def render(rng: np.random.Generator, resolution: int) -> tuple[np.ndarray, int]:
    """One image: a shape whose colour depends on its class, over a two-tone gradient at a random angle.
    Few degrees of freedom (class, position, size, angle, a little colour jitter) keep it learnable in minutes."""
    grid = (np.arange(resolution) + 0.5) / resolution
    x, y = np.meshgrid(grid, grid)
    angle = rng.uniform(0, 2 * np.pi)
    t = np.clip((x - 0.5) * np.cos(angle) + (y - 0.5) * np.sin(angle) + 0.5, 0, 1)[..., None]
    background = BACKGROUND[0] + (BACKGROUND[1] - BACKGROUND[0]) * t + rng.normal(0, 0.04, 3)
    shape = int(rng.integers(len(SHAPES)))
    ink = INK[shape] + rng.normal(0, 0.06, 3)
    cx, cy = rng.uniform(0.3, 0.7, 2)
    size = rng.uniform(0.15, 0.3)
    # One pixel of soft edge keeps the images anti-aliased at any resolution.
    coverage = np.clip(0.5 - _signed_distance(shape, x - cx, y - cy, size) * resolution, 0, 1)[..., None]
    image = np.clip(background * (1 - coverage) + ink * coverage, 0, 1)
    return np.round(image * 255).astype(np.uint8), shape


@DATASETS.register("synthetic")
class Synthetic:
    class_names = SHAPES
    default_size = DEFAULT_SIZE
    needs_path = False

    def load(self, spec: DataSpec, root: Path, split: str) -> ImageSet:
        rng = np.random.default_rng(SPLIT_SEEDS.get(split, 2))
        n = spec.n_images or DEFAULT_SIZE
        images, labels = zip(*(render(rng, spec.resolution) for _ in range(n)), strict=True)
        return ImageSet(stack(list(images)), torch.tensor(labels, dtype=torch.int64), SHAPES)
