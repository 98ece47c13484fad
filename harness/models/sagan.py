"""SAGAN (Zhang et al. 2019) at DCGAN scale: SN-GAN's CNN with self-attention at half the image size in G and D,
spectral norm in both, hinge loss and the two-timescale learning rates (D 4x faster)."""

from harness.models import ARCHS, Arch, sngan

# At 128px the paper found attention helps most on the larger maps (32x32, 64x64, its Table 1); at 32/64px the
# half-size map (16x16, 32x32) is the largest that is still cheap to attend over (positions^2 memory).

ARCHS.register("sagan")(
    Arch(
        build_g=lambda m, res, num_classes: sngan.Generator(m.z_dim, m.ngf, res, res // 2, spectral_norm=True),
        build_d=lambda m, res, num_classes: sngan.Discriminator(m.ndf, res, res // 2),
        objective="hinge",
        resolutions=(32, 64),
        defaults={"lr_g": 1e-4, "lr_d": 4e-4, "beta1": 0.0, "beta2": 0.9},
    )
)
