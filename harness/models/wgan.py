"""WGAN (Arjovsky et al. 2017) and WGAN-GP (Gulrajani et al. 2017): DCGAN's G with DCGAN's D as the critic."""

from harness.models import ARCHS, Arch, dcgan

# DCGAN's D already ends in a logit, not a sigmoid: as a critic it outputs an unbounded score.

ARCHS.register("wgan")(
    Arch(
        build_g=lambda m, res, num_classes: dcgan.Generator(m.z_dim, m.ngf, res),
        # batch norm stays, as in the WGAN paper's DCGAN critic: weight clipping does not need per-sample gradients
        build_d=lambda m, res, num_classes: dcgan.Discriminator(m.ndf, res, m.spectral_norm),
        objective="wasserstein",
        resolutions=(32, 64),
        defaults={"optimizer": "rmsprop", "lr_g": 5e-5, "lr_d": 5e-5, "n_critic": 5},
    )
)

ARCHS.register("wgan-gp")(
    Arch(
        build_g=lambda m, res, num_classes: dcgan.Generator(m.z_dim, m.ngf, res),
        # No normalisation in the critic, as in the authors' DCGAN-style CIFAR-10 critic: the penalty is on each
        # sample's gradient, and batch norm makes each output depend on the whole batch.
        build_d=lambda m, res, num_classes: dcgan.Discriminator(m.ndf, res, m.spectral_norm, batch_norm=False),
        objective="wasserstein-gp",
        resolutions=(32, 64),
        defaults={"lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.0, "beta2": 0.9, "n_critic": 5},
    )
)
