"""SN-GAN (Miyato et al. 2018) with its standard CNN: spectral norm on every D layer, hinge loss, at 32 or 64 px."""

import torch
from torch import nn

from harness.models import ARCHS, Arch, init_normal
from harness.models.layers import SelfAttention, n_blocks, sn_all


class Generator(nn.Module):
    """The paper's Table 3 G: dense -> 4x4 -> transposed convs with BN + ReLU -> 3x3 conv -> tanh.
    `attention_at` puts a self-attention block on the map of that size (SAGAN); `spectral_norm` wraps every layer."""

    def __init__(
        self,
        z_dim: int = 128,
        ngf: int = 64,
        resolution: int = 32,
        attention_at: int | None = None,
        spectral_norm: bool = False,
        channels: int = 3,
    ):
        super().__init__()
        n = n_blocks(resolution)
        width, size = ngf * 2**n, 4
        # input is Z, going into a dense layer; state size. (ngf * 2**n) x 4 x 4 (512 x 4 x 4 at 32px, ngf=64)
        layers: list[nn.Module] = [
            nn.Linear(z_dim, width * 4 * 4, bias=False),
            nn.Unflatten(1, (width, 4, 4)),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(n):
            # state size doubles spatially, halves in channels: ... -> ngf x resolution x resolution
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2)]
            layers += [nn.ReLU(True)]
            width, size = width // 2, size * 2
            layers += [SelfAttention(width)] if size == attention_at else []
        # state size. channels x resolution x resolution
        layers += [nn.Conv2d(width, channels, 3, 1, 1), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.z_dim = z_dim
        self.apply(init_normal)
        sn_all(self, spectral_norm)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.main(z)


def d_features(
    ndf: int, resolution: int, attention_at: int | None = None, channels: int = 3
) -> tuple[list[nn.Module], int]:
    """The paper's Table 3 D from the image down to a 4x4 map: per scale a 3x3 conv then a 4x4 stride-2 conv,
    LeakyReLU 0.1, no batch norm, then a 3x3 conv doubling the width; and that width."""
    layers: list[nn.Module] = []
    width, size = channels, resolution
    for i in range(n_blocks(resolution)):
        # state size. (ndf * 2**i) x (size/2) x (size/2)
        layers += [nn.Conv2d(width, ndf * 2**i, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True)]
        layers += [nn.Conv2d(ndf * 2**i, ndf * 2**i, 4, 2, 1), nn.LeakyReLU(0.1, inplace=True)]
        width, size = ndf * 2**i, size // 2
        layers += [SelfAttention(width)] if size == attention_at else []
    # state size. (2 * width) x 4 x 4 (512 x 4 x 4 at 32px, ndf=64)
    layers += [nn.Conv2d(width, 2 * width, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True)]
    return layers, 2 * width


class Discriminator(nn.Module):
    """The paper's Table 3 D: per scale a 3x3 conv then a 4x4 stride-2 conv, LeakyReLU 0.1, no batch norm; a dense
    logit; spectral norm on every layer. `attention_at` puts a self-attention block on the map of that size (SAGAN)."""

    def __init__(self, ndf: int = 64, resolution: int = 32, attention_at: int | None = None, channels: int = 3):
        super().__init__()
        layers, width = d_features(ndf, resolution, attention_at, channels)
        # state size. width x 4 x 4 (512 x 4 x 4 at 32px, ndf=64) -> one logit
        self.main = nn.Sequential(*layers, nn.Flatten(), nn.Linear(width * 4 * 4, 1))
        self.apply(init_normal)
        sn_all(self, True)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.main(x).view(-1)


ARCHS.register("sngan")(
    Arch(
        build_g=lambda m, res, num_classes: Generator(m.z_dim, m.ngf, res),
        build_d=lambda m, res, num_classes: Discriminator(m.ndf, res),
        objective="hinge",
        resolutions=(32, 64),
        defaults={"lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999},
    )
)
