"""Architecture registry: each entry builds a generator G and a discriminator D and names its default objective."""

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from harness.errors import ConfigError
from harness.registry import Registry
from harness.specs import ModelSpec


@dataclass(frozen=True)
class Arch:
    build_g: Callable[[ModelSpec, int], nn.Module]  # (model spec, resolution) -> G: z [N, z_dim] -> images in [-1, 1]
    build_d: Callable[[ModelSpec, int], nn.Module]  # (model spec, resolution) -> D: images -> logits [N]
    objective: str
    resolutions: tuple[int, ...]

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


from harness.models import dcgan  # noqa: E402, F401  (registers itself)
