"""DCGAN (Radford et al. 2016) as in pytorch/examples: transposed-conv G, strided-conv D, at 32, 64 or 128 px."""

import math

import torch
from torch import nn

from harness.models import ARCHS, Arch, init_normal
from harness.specs import ModelSpec


def _n_blocks(resolution: int) -> int:
    """Stride-2 blocks between 4x4 and the image, counting the last one: 3 at 32px, 4 at 64px."""
    return int(math.log2(resolution)) - 2


class Generator(nn.Module):
    def __init__(self, z_dim: int = 100, ngf: int = 64, resolution: int = 64, channels: int = 3):
        super().__init__()
        n = _n_blocks(resolution)
        width = ngf * 2 ** (n - 1)
        # input is Z, going into a convolution; state size. (ngf * 2**(n-1)) x 4 x 4
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, width, 4, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(n - 1):
            # state size doubles spatially, halves in channels: ... -> ngf x (resolution/2) x (resolution/2)
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(True),
            ]
            width //= 2
        # state size. channels x resolution x resolution
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.z_dim = z_dim
        self.apply(init_normal)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.view(z.size(0), -1, 1, 1))


class Discriminator(nn.Module):
    """Outputs logits: the sigmoid lives in the loss (BCE-with-logits), which is the numerically stable form."""

    def __init__(self, ndf: int = 64, resolution: int = 64, channels: int = 3):
        super().__init__()
        n = _n_blocks(resolution)
        # input is channels x resolution x resolution; state size. ndf x (resolution/2) x (resolution/2)
        layers: list[nn.Module] = [nn.Conv2d(channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        width = ndf
        for _ in range(n - 1):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2)]
            layers += [nn.LeakyReLU(0.2, inplace=True)]
            width *= 2
        # state size. (ndf * 2**(n-1)) x 4 x 4 -> one logit
        layers += [nn.Conv2d(width, 1, 4, 1, 0, bias=False)]
        self.main = nn.Sequential(*layers)
        self.apply(init_normal)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1)


ARCHS.register("dcgan")(
    Arch(
        build_g=lambda m, res: Generator(m.z_dim, m.ngf, res),
        build_d=lambda m, res: Discriminator(m.ndf, res),
        objective="bce",
        resolutions=(32, 64, 128),
    )
)


def build(spec: ModelSpec, resolution: int) -> tuple[nn.Module, nn.Module]:
    arch = ARCHS.get(spec.arch)
    return arch.build_g(spec, resolution), arch.build_d(spec, resolution)
