"""GAN objectives, kept apart from the networks so the trainer never asks which architecture it trains.

Each objective computes D's loss on a (real, fake) batch and G's loss on fakes; `augment` (DiffAugment or none) is
applied to every image D sees, real and fake alike, so the augmentation stays differentiable for G."""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from harness.registry import Registry
from harness.specs import TrainSpec

Stats = dict[str, torch.Tensor]  # detached scalars: read once per step, or after a CUDA graph replay
Labels = torch.Tensor | None
Augment = Callable[[torch.Tensor], torch.Tensor]


class Objective:
    def __init__(self, train: TrainSpec, augment: Augment | None = None):
        self.train = train
        self.augment = augment or (lambda x: x)

    def logits(self, D: nn.Module, x: torch.Tensor, y: Labels) -> torch.Tensor:
        return D(self.augment(x), y)

    def d_loss(self, D, real, fake, y_real: Labels, y_fake: Labels) -> tuple[torch.Tensor, Stats]:
        raise NotImplementedError

    def g_loss(self, D, fake, y_fake: Labels, real) -> tuple[torch.Tensor, Stats]:
        raise NotImplementedError

    def after_d_step(self, D: nn.Module) -> None:
        """Called after each optimiser step of D (weight clipping lives here)."""


OBJECTIVES: Registry[type[Objective]] = Registry("objective")
PAIR_OBJECTIVES = ("siamese-bce",)  # losses of a pair discriminator D(a, b) (models.Arch.pair)


def _probabilities(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> Stats:
    # D(x) and D(G(z)) as probabilities: the two numbers pytorch/examples prints to watch a GAN train.
    return {"d_real": torch.sigmoid(real_logits).mean().detach(), "d_fake": torch.sigmoid(fake_logits).mean().detach()}


def bce_d(real_logits: torch.Tensor, fake_logits: torch.Tensor, label_smoothing: float) -> tuple[torch.Tensor, Stats]:
    """D's BCE: 'real' logits towards 1 - label_smoothing (one-sided smoothing), 'fake' logits towards 0."""
    target = torch.full_like(real_logits, 1.0 - label_smoothing)
    loss = F.binary_cross_entropy_with_logits(real_logits, target) + F.binary_cross_entropy_with_logits(
        fake_logits, torch.zeros_like(fake_logits)
    )
    return loss, _probabilities(real_logits, fake_logits)


def bce_g(fake_logits: torch.Tensor) -> tuple[torch.Tensor, Stats]:
    """The non-saturating G loss: -log D(G(z)) rather than log(1 - D(G(z)))."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits)), {}


@OBJECTIVES.register("bce")
class NonSaturatingBCE(Objective):
    """Goodfellow et al.'s loss with the non-saturating G loss (as DCGAN trains); one-sided label smoothing."""

    def d_loss(self, D, real, fake, y_real, y_fake):
        return bce_d(self.logits(D, real, y_real), self.logits(D, fake, y_fake), self.train.label_smoothing)

    def g_loss(self, D, fake, y_fake, real):
        return bce_g(self.logits(D, fake, y_fake))


@OBJECTIVES.register("hinge")
class Hinge(Objective):
    """Hinge loss (Lim & Ye 2017; SNGAN, SAGAN): D pushes real logits above 1 and fake below -1."""

    def d_loss(self, D, real, fake, y_real, y_fake):
        real_logits, fake_logits = self.logits(D, real, y_real), self.logits(D, fake, y_fake)
        loss = F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
        return loss, _probabilities(real_logits, fake_logits)

    def g_loss(self, D, fake, y_fake, real):
        return -self.logits(D, fake, y_fake).mean(), {}


@OBJECTIVES.register("wasserstein")
class Wasserstein(Objective):
    """WGAN (Arjovsky et al. 2017): the critic estimates the Wasserstein-1 distance; Lipschitz by weight clipping."""

    def d_loss(self, D, real, fake, y_real, y_fake):
        real_score, fake_score = self.logits(D, real, y_real).mean(), self.logits(D, fake, y_fake).mean()
        return fake_score - real_score, {"wasserstein": (real_score - fake_score).detach()}

    def g_loss(self, D, fake, y_fake, real):
        return -self.logits(D, fake, y_fake).mean(), {}

    @torch.no_grad()
    def after_d_step(self, D):
        c = self.train.clip_value
        for p in D.parameters():
            p.clamp_(-c, c)


def gradient_penalty(D: nn.Module, real: torch.Tensor, fake: torch.Tensor, y: Labels, augment: Augment) -> torch.Tensor:
    """Gulrajani et al. 2017: E[(||grad_x D(x)||_2 - 1)^2] at random points between real and fake images."""
    alpha = torch.rand(real.size(0), 1, 1, 1, device=real.device)
    x = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(augment(x), y).sum(), x, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


@OBJECTIVES.register("wasserstein-gp")
class WassersteinGP(Wasserstein):
    """WGAN-GP: the Lipschitz constraint as a gradient penalty instead of clipping."""

    def d_loss(self, D, real, fake, y_real, y_fake):
        loss, stats = super().d_loss(D, real, fake, y_real, y_fake)
        penalty = gradient_penalty(D, real, fake.detach(), y_real, self.augment)
        return loss + self.train.gp_weight * penalty, {**stats, "gradient_penalty": penalty.detach()}

    def after_d_step(self, D):
        pass


@OBJECTIVES.register("siamese-bce")
class SiameseBCE(Objective):
    """Pair discriminator: (real, real') pairs are 'similar' (target 1 - label_smoothing), (real, fake) pairs are not;
    G is trained to make (real, fake) pairs look similar. real' is the batch rolled by one: other real images."""

    def pair(self, D, a, b):
        return D(self.augment(a), self.augment(b))

    def d_loss(self, D, real, fake, y_real, y_fake):
        same, different = self.pair(D, real, real.roll(1, dims=0)), self.pair(D, real, fake)
        return bce_d(same, different, self.train.label_smoothing)

    def g_loss(self, D, fake, y_fake, real):
        return bce_g(self.pair(D, real, fake))
