"""Architecture registry: each entry builds a generator G and a discriminator D and names its default objective."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from harness.config.specs import ModelSpec
from harness.core.errors import ConfigError
from harness.core.registry import Registry


class RetiredRecipe(ConfigError):
    """A job of an arch's earlier recipe version: its nets are no longer built."""


@dataclass(frozen=True)
class Arch:
    """How to build one GAN variant. Nets share one calling convention so the trainer never asks which arch it has:
    G(z, y=None) -> images in [-1, 1]; D(x, y=None) -> logits [N] (a pair D, `pair=True`, is D(a, b) -> logits [N]).
    `y` holds class labels for conditional archs and is None otherwise."""

    build_g: Callable[[ModelSpec, int, int], nn.Module]  # (model spec, resolution, num_classes) -> G
    build_d: Callable[[ModelSpec, int, int], nn.Module]  # (model spec, resolution, num_classes) -> D
    objective: str  # a name in harness.train.objectives.OBJECTIVES
    resolutions: tuple[int, ...]
    conditional: bool = False
    pair: bool = False
    # Suite settings from this arch's paper (learning rates, betas, n_critic, optimizer...): a suite's own
    # defaults and overrides take precedence over them. They and `objective` are resolved into each job's spec.
    defaults: Mapping[str, Any] = field(default_factory=dict)
    # The recipe revision of the nets build_g and build_d make (layers, normalisation, initialisation), hashed into
    # job ids: a change to them is a new version, so an old id never comes to mean other nets. Checked by
    # tests/models/test_fingerprints.py.
    version: int = 1

    @property
    def recipe(self) -> dict[str, Any]:
        """The training settings this arch resolves into each job's spec: its objective and its paper's defaults."""
        return {"objective": self.objective, **self.defaults}

    def check_version(self, name: str, version: int) -> None:
        """Only the current recipe can be built: a job of an earlier one reports, but cannot train or be re-scored."""
        if version != self.version:
            raise RetiredRecipe(
                f"{name} recipe v{version} is retired (the zoo builds v{self.version}); its records still report, "
                "but its nets can no longer be built"
            )

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
    elif isinstance(module, nn.BatchNorm2d) and module.affine:  # conditional batch norm keeps its own
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


from harness.models import cgan, dcgan, sagan, siamese, sngan, wgan  # noqa: E402, F401  (each registers itself)
