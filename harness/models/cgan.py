"""Class-conditional DCGAN: G reads concat(z, embed(y)); D has a projection head (Miyato & Koyama 2018)."""

import torch
from torch import nn

from harness.models import ARCHS, Arch, dcgan, init_normal
from harness.models.layers import sn_all


class Generator(nn.Module):
    def __init__(self, z_dim: int = 100, ngf: int = 64, resolution: int = 64, num_classes: int = 10):
        super().__init__()
        # as wide as z and N(0, 1) like z (PyTorch's default), so labels and noise weigh alike in G's input
        self.embed = nn.Embedding(num_classes, z_dim)
        # input is concat(z, embed(y)). 2*z_dim; the rest is DCGAN's G
        self.main = dcgan.Generator(2 * z_dim, ngf, resolution)
        self.z_dim = z_dim

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.main(torch.cat([z, self.embed(y)], dim=1))


class Discriminator(nn.Module):
    """logit = linear(h) + <embed(y), h>, h the pooled features: the projection form of p(y|x) in the logit."""

    def __init__(self, ndf: int = 64, resolution: int = 64, num_classes: int = 10, spectral_norm: bool = False):
        super().__init__()
        layers, width = dcgan.d_features(ndf, resolution, batch_norm=not spectral_norm)
        # state size. (ndf * 2**(n-1)) x 4 x 4, summed over positions -> h: (ndf * 2**(n-1))
        self.main = nn.Sequential(*layers)
        self.linear = nn.Linear(width, 1)
        self.embed = nn.Embedding(num_classes, width)
        self.apply(init_normal)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)  # the linear head's scale, so neither term starts out dominant
        sn_all(self, spectral_norm)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.main(x).sum(dim=(2, 3))
        return self.linear(h).view(-1) + (self.embed(y) * h).sum(dim=1)


ARCHS.register("cgan")(
    Arch(
        build_g=lambda m, res, num_classes: Generator(m.z_dim, m.ngf, res, num_classes),
        build_d=lambda m, res, num_classes: Discriminator(m.ndf, res, num_classes, m.spectral_norm),
        objective="bce",
        resolutions=(32, 64),
        conditional=True,
    )
)
