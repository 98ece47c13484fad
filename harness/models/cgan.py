"""Class-conditional GAN, the projection-discriminator recipe (Miyato & Koyama 2018) on SN-GAN's standard CNN:
conditional batch norm in G, a spectrally normalised D with a projection head, the hinge loss.

Why this recipe: it is the class-conditional GAN the literature trains on CIFAR-10 (projection D: FID ~10-17 with
ResNets; BigGAN builds on it), and on SN-GAN's CNN it is the conditional twin of the zoo's `sngan`, so the two
compare like for like. Labels enter G through the batch-norm gains and shifts of every layer, and D through an
inner product with its pooled features, rather than concatenated to z: the concatenated form (this arch's v1,
DCGAN nets with BCE) collapsed to one image per class on CIFAR-10 (results/cifar_all, cgan@v1). Learning rates
and betas are SN-GAN's setting for its CNN (Adam 2e-4, beta1 0.5, beta2 0.999, one D step per G step), as `sngan`
uses: the ResNets' n_dis = 5 with beta1 = 0 needs 5x the D steps, which a CNN of this size does not."""

import torch
from torch import nn

from harness.models import ARCHS, Arch, init_normal, sngan
from harness.models.layers import n_blocks, sn_all


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose gain and shift are looked up per class (de Vries et al. 2017; Miyato & Koyama 2018):
    gains start near 1 (N(1, 0.02), DCGAN's batch-norm init, so classes differ from the first step) and shifts at 0."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Embedding(num_classes, channels)
        self.shift = nn.Embedding(num_classes, channels)
        nn.init.normal_(self.gain.weight, 1.0, 0.02)
        nn.init.zeros_(self.shift.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.bn(x) * self.gain(y)[:, :, None, None] + self.shift(y)[:, :, None, None]


class Generator(nn.Module):
    """SN-GAN's Table 3 G (dense -> 4x4 -> transposed convs -> 3x3 conv -> tanh) with every batch norm conditional."""

    def __init__(self, z_dim: int = 128, ngf: int = 64, resolution: int = 32, num_classes: int = 10):
        super().__init__()
        n = n_blocks(resolution)
        width = ngf * 2**n
        # input is Z, going into a dense layer; state size. (ngf * 2**n) x 4 x 4
        self.dense = nn.Sequential(nn.Linear(z_dim, width * 4 * 4, bias=False), nn.Unflatten(1, (width, 4, 4)))
        self.norms = nn.ModuleList([ConditionalBatchNorm2d(width, num_classes)])
        self.ups = nn.ModuleList()
        for _ in range(n):
            # state size doubles spatially, halves in channels: ... -> ngf x resolution x resolution
            self.ups.append(nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False))
            self.norms.append(ConditionalBatchNorm2d(width // 2, num_classes))
            width //= 2
        # state size. 3 x resolution x resolution
        self.to_rgb = nn.Sequential(nn.Conv2d(width, 3, 3, 1, 1), nn.Tanh())
        self.z_dim = z_dim
        self.apply(init_normal)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.norms[0](self.dense(z), y))
        for up, norm in zip(self.ups, self.norms[1:], strict=True):
            h = torch.relu(norm(up(h), y))
        return self.to_rgb(h)


class Discriminator(nn.Module):
    """SN-GAN's Table 3 D features, summed over positions into h; logit = linear(h) + <embed(y), h> (the projection
    form of log p(y|x) in the logit); spectral norm on every layer, the class embedding included."""

    def __init__(self, ndf: int = 64, resolution: int = 32, num_classes: int = 10):
        super().__init__()
        layers, width = sngan.d_features(ndf, resolution)
        # state size. width x 4 x 4, summed over positions -> h: width
        self.main = nn.Sequential(*layers)
        self.linear = nn.Linear(width, 1)
        self.embed = nn.Embedding(num_classes, width)
        self.apply(init_normal)
        sn_all(self, True)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.main(x).sum(dim=(2, 3))
        return self.linear(h).view(-1) + (self.embed(y) * h).sum(dim=1)


ARCHS.register("cgan")(
    Arch(
        build_g=lambda m, res, num_classes: Generator(m.z_dim, m.ngf, res, num_classes),
        build_d=lambda m, res, num_classes: Discriminator(m.ndf, res, num_classes),
        objective="hinge",
        resolutions=(32, 64),
        conditional=True,
        defaults={"lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999},
        version=2,
    )
)
