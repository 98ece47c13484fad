"""Siamese GANs, a pair D with one shared CNN branch: `siamese` compares the two feature vectors by |a - b| (the
cats-and-dogs Siamese report), `siamese-concat` by concatenating them, [a, b] (the other report's variant)."""

import torch
from torch import nn

from harness.models import ARCHS, Arch, dcgan, init_normal
from harness.models.layers import dcgan_upsampling, n_blocks, sn_all


class Generator(nn.Module):
    """Dense -> 4x4 map -> transposed convs with BN + ReLU -> tanh."""

    def __init__(self, z_dim: int = 100, ngf: int = 64, resolution: int = 32, channels: int = 3):
        super().__init__()
        n = n_blocks(resolution)
        width = ngf * 2 ** (n - 1)
        # input is Z, going into a dense layer; state size. (ngf * 2**(n-1)) x 4 x 4
        layers: list[nn.Module] = [
            nn.Linear(z_dim, width * 4 * 4, bias=False),
            nn.Unflatten(1, (width, 4, 4)),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        self.main = nn.Sequential(*layers, *dcgan_upsampling(width, n, channels))
        self.z_dim = z_dim
        self.apply(init_normal)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.main(z)


class Discriminator(nn.Module):
    """D(a, b) -> logit that a and b are both real. One branch embeds both images (the same weights for each);
    `combine` is "abs-diff" (|a - b|, symmetric in a and b) or "concat" ([a, b]); dense layers make the logit."""

    def __init__(self, ndf: int = 64, resolution: int = 32, combine: str = "abs-diff", spectral_norm: bool = False):
        super().__init__()
        if combine not in ("abs-diff", "concat"):
            raise ValueError(f"unknown combine {combine!r}; valid: abs-diff, concat")
        # No batch norm in the branch: real and fake halves of a pair would share its statistics, and D could
        # tell them apart by the batch rather than by the image.
        layers, width = dcgan.d_features(ndf, resolution, batch_norm=False)
        features = ndf * 2
        # state size. (ndf * 2**(n-1)) x 4 x 4 -> a feature vector of ndf*2
        self.branch = nn.Sequential(*layers, nn.Flatten(), nn.Linear(width * 4 * 4, features), nn.LeakyReLU(0.2))
        self.combine = combine
        pair = features if combine == "abs-diff" else 2 * features
        self.head = nn.Sequential(nn.Linear(pair, features), nn.LeakyReLU(0.2), nn.Linear(features, 1))
        self.apply(init_normal)
        sn_all(self, spectral_norm)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        fa, fb = self.branch(torch.cat([a, b])).chunk(2)  # one pass: both images through the same weights
        pair = (fa - fb).abs() if self.combine == "abs-diff" else torch.cat([fa, fb], dim=1)
        return self.head(pair).view(-1)


def _register(name: str, combine: str) -> None:
    ARCHS.register(name)(
        Arch(
            build_g=lambda m, res, num_classes: Generator(m.z_dim, m.ngf, res),
            build_d=lambda m, res, num_classes: Discriminator(m.ndf, res, combine, m.spectral_norm),
            objective="siamese-bce",
            resolutions=(32, 64),
            pair=True,
            defaults={"lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.5, "label_smoothing": 0.1},
        )
    )


_register("siamese", "abs-diff")
_register("siamese-concat", "concat")
