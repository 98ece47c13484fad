"""Architecture registry: each entry builds a generator G and a discriminator D and names its default objective."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from harness.errors import ConfigError
from harness.registry import Registry
from harness.specs import ModelSpec


@dataclass(frozen=True)
class Arch:
    """How to build one GAN variant. Nets share one calling convention so the trainer never asks which arch it has:
    G(z, y=None) -> images in [-1, 1]; D(x, y=None) -> logits [N] (a pair D, `pair=True`, is D(a, b) -> logits [N]).
    `y` holds class labels for conditional archs and is None otherwise."""

    build_g: Callable[[ModelSpec, int, int], nn.Module]  # (model spec, resolution, num_classes) -> G
    build_d: Callable[[ModelSpec, int, int], nn.Module]  # (model spec, resolution, num_classes) -> D
    objective: str  # a name in harness.objectives.OBJECTIVES
    resolutions: tuple[int, ...]
    conditional: bool = False
    pair: bool = False
    # Suite settings from this arch's paper (learning rates, betas, n_critic, optimizer...): a suite's own
    # defaults and overrides take precedence over them.
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def check_resolution(self, name: str, resolution: int, where: str) -> None:
        if resolution not in self.resolutions:
            valid = ", ".join(map(str, self.resolutions))
            raise ConfigError(f"{where}: {name} cannot generate {resolution}px images; valid: {valid}")


ARCHS: Registry[Arch] = Registry("arch")


def init_normal(module: nn.Module) -> None:
    """DCGAN init (Radford et al.): conv weights ~ N(0, 0.02); batch-norm scale ~ N(1, 0.02), shift 0."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


from harness.models import cgan, dcgan, sagan, siamese, sngan, wgan  # noqa: E402, F401  (each registers itself)
