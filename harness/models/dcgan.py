"""DCGAN (Radford et al. 2016) as in pytorch/examples: transposed-conv G, strided-conv D, at 32, 64 or 128 px."""

import torch
from torch import nn

from harness.models import ARCHS, Arch, init_normal
from harness.models.layers import dcgan_upsampling, n_blocks, sn_all


class Generator(nn.Module):
    def __init__(self, z_dim: int = 100, ngf: int = 64, resolution: int = 64, channels: int = 3):
        super().__init__()
        n = n_blocks(resolution)
        width = ngf * 2 ** (n - 1)
        # input is Z, going into a convolution; state size. (ngf * 2**(n-1)) x 4 x 4
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, width, 4, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        self.main = nn.Sequential(*layers, *dcgan_upsampling(width, n, channels))
        self.z_dim = z_dim
        self.apply(init_normal)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.main(z.view(z.size(0), -1, 1, 1))


def d_features(ndf: int, resolution: int, batch_norm: bool, channels: int = 3) -> tuple[list[nn.Module], int]:
    """DCGAN D's strided convs from the image down to a (ndf * 2**(n-1)) x 4 x 4 map; and that width.
    Convs carry no bias when batch norm follows them (its shift replaces it), and one otherwise."""
    bias = not batch_norm
    # input is channels x resolution x resolution; state size. ndf x (resolution/2) x (resolution/2)
    layers: list[nn.Module] = [nn.Conv2d(channels, ndf, 4, 2, 1, bias=bias), nn.LeakyReLU(0.2, inplace=True)]
    width = ndf
    for _ in range(n_blocks(resolution) - 1):
        layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=bias)]
        layers += [nn.BatchNorm2d(width * 2)] if batch_norm else []
        layers += [nn.LeakyReLU(0.2, inplace=True)]
        width *= 2
    # state size. (ndf * 2**(n-1)) x 4 x 4
    return layers, width


class Discriminator(nn.Module):
    """Outputs logits: the sigmoid lives in the loss (BCE-with-logits), which is the numerically stable form.
    With spectral norm the batch norm goes, as in SN-GAN: its division by the batch's std would undo the Lipschitz
    bound that spectral norm sets."""

    def __init__(
        self,
        ndf: int = 64,
        resolution: int = 64,
        spectral_norm: bool = False,
        batch_norm: bool = True,
        channels: int = 3,
    ):
        super().__init__()
        batch_norm = batch_norm and not spectral_norm
        layers, width = d_features(ndf, resolution, batch_norm, channels)
        # state size. (ndf * 2**(n-1)) x 4 x 4 -> one logit
        self.main = nn.Sequential(*layers, nn.Conv2d(width, 1, 4, 1, 0, bias=not batch_norm))
        self.apply(init_normal)
        sn_all(self, spectral_norm)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.main(x).view(-1)


ARCHS.register("dcgan")(
    Arch(
        build_g=lambda m, res, num_classes: Generator(m.z_dim, m.ngf, res),
        build_d=lambda m, res, num_classes: Discriminator(m.ndf, res, m.spectral_norm),
        objective="bce",
        resolutions=(32, 64, 128),
    )
)
