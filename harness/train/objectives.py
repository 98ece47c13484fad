"""GAN objectives, kept apart from the networks so the trainer never asks which architecture it trains.

Each objective computes D's loss on a (real, fake) batch and G's loss on fakes; `augment` (DiffAugment or none) is
applied to every image D sees, real and fake alike, so the augmentation stays differentiable for G. The random
numbers a loss needs (the augmentation's, the penalty's) come from `draw` (torch's global generator unless a seed
lane passes its own: see draws.py), and the penalty's gradient by input from `input_grad` (autograd's in a job,
torch.func's in seed lanes, where the loss runs under vmap)."""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from harness.config.specs import TrainSpec
from harness.core.registry import Registry
from harness.train.draws import GLOBAL, Draws

Stats = dict[str, torch.Tensor]  # detached scalars: read once per step, or after a CUDA graph replay
Labels = torch.Tensor | None
Augment = Callable[[torch.Tensor, Draws], torch.Tensor]
InputGrad = Callable[[Callable[[torch.Tensor], torch.Tensor], torch.Tensor], torch.Tensor]  # (f, x) -> d sum f / dx


def autograd_input_grad(f, x: torch.Tensor) -> torch.Tensor:
    """d(sum f(x))/dx, kept in the graph so the loss built on it backpropagates to f's parameters."""
    x = x.requires_grad_(True)
    (grad,) = torch.autograd.grad(f(x).sum(), x, create_graph=True)
    return grad


def func_input_grad(f, x: torch.Tensor) -> torch.Tensor:
    """The same through torch.func.grad, which runs under vmap (autograd.grad does not); the outer backward still
    reaches f's parameters (tested equal in float64 to autograd's)."""
    return torch.func.grad(lambda x: f(x).sum())(x)


class Objective:
    def __init__(self, train: TrainSpec, augment: Augment | None = None, input_grad: InputGrad = autograd_input_grad):
        self.train = train
        self.augment = augment or (lambda x, draw: x)
        self.input_grad = input_grad

    def logits(self, D: nn.Module, x: torch.Tensor, y: Labels, draw: Draws = GLOBAL) -> torch.Tensor:
        return D(self.augment(x, draw), y)

    def d_loss(self, D, real, fake, y_real: Labels, y_fake: Labels, draw: Draws = GLOBAL) -> tuple[torch.Tensor, Stats]:
        raise NotImplementedError

    def g_loss(self, D, fake, y_fake: Labels, real, draw: Draws = GLOBAL) -> tuple[torch.Tensor, Stats]:
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

    def d_loss(self, D, real, fake, y_real, y_fake, draw=GLOBAL):
        real_logits = self.logits(D, real, y_real, draw)
        return bce_d(real_logits, self.logits(D, fake, y_fake, draw), self.train.label_smoothing)

    def g_loss(self, D, fake, y_fake, real, draw=GLOBAL):
        return bce_g(self.logits(D, fake, y_fake, draw))


@OBJECTIVES.register("hinge")
class Hinge(Objective):
    """Hinge loss (Lim & Ye 2017; SNGAN, SAGAN): D pushes real logits above 1 and fake below -1."""

    def d_loss(self, D, real, fake, y_real, y_fake, draw=GLOBAL):
        real_logits, fake_logits = self.logits(D, real, y_real, draw), self.logits(D, fake, y_fake, draw)
        loss = F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
        return loss, _probabilities(real_logits, fake_logits)

    def g_loss(self, D, fake, y_fake, real, draw=GLOBAL):
        return -self.logits(D, fake, y_fake, draw).mean(), {}


@OBJECTIVES.register("wasserstein")
class Wasserstein(Objective):
    """WGAN (Arjovsky et al. 2017): the critic estimates the Wasserstein-1 distance; Lipschitz by weight clipping."""

    def d_loss(self, D, real, fake, y_real, y_fake, draw=GLOBAL):
        real_score, fake_score = self.logits(D, real, y_real, draw).mean(), self.logits(D, fake, y_fake, draw).mean()
        return fake_score - real_score, {"wasserstein": (real_score - fake_score).detach()}

    def g_loss(self, D, fake, y_fake, real, draw=GLOBAL):
        return -self.logits(D, fake, y_fake, draw).mean(), {}

    @torch.no_grad()
    def after_d_step(self, D):
        c = self.train.clip_value
        for p in D.parameters():
            p.clamp_(-c, c)


def gradient_penalty(
    D: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    y: Labels,
    augment: Augment,
    draw: Draws,
    input_grad: InputGrad,
) -> torch.Tensor:
    """Gulrajani et al. 2017: E[(||grad_x D(x)||_2 - 1)^2] at random points between real and fake images."""
    alpha = draw.rand((real.size(0), 1, 1, 1), real.device)
    grad = input_grad(lambda x: D(augment(x, draw), y), alpha * real + (1 - alpha) * fake)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


@OBJECTIVES.register("wasserstein-gp")
class WassersteinGP(Wasserstein):
    """WGAN-GP: the Lipschitz constraint as a gradient penalty instead of clipping."""

    def d_loss(self, D, real, fake, y_real, y_fake, draw=GLOBAL):
        loss, stats = super().d_loss(D, real, fake, y_real, y_fake, draw)
        penalty = gradient_penalty(D, real, fake.detach(), y_real, self.augment, draw, self.input_grad)
        return loss + self.train.gp_weight * penalty, {**stats, "gradient_penalty": penalty.detach()}

    def after_d_step(self, D):
        pass


@OBJECTIVES.register("siamese-bce")
class SiameseBCE(Objective):
    """Pair discriminator: (real, real') pairs are 'similar' (target 1 - label_smoothing), (real, fake) pairs are not;
    G is trained to make (real, fake) pairs look similar. real' is the batch rolled by one: other real images."""

    def pair(self, D, a, b, draw=GLOBAL):
        return D(self.augment(a, draw), self.augment(b, draw))

    def d_loss(self, D, real, fake, y_real, y_fake, draw=GLOBAL):
        same, different = self.pair(D, real, real.roll(1, dims=0), draw), self.pair(D, real, fake, draw)
        return bce_d(same, different, self.train.label_smoothing)

    def g_loss(self, D, fake, y_fake, real, draw=GLOBAL):
        return bce_g(self.pair(D, real, fake, draw))
