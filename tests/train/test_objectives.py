import dataclasses

import pytest
import torch
from torch import nn

from harness.config.specs import TrainSpec
from harness.train.draws import GLOBAL
from harness.train.objectives import OBJECTIVES, autograd_input_grad, func_input_grad, gradient_penalty

TRAIN = TrainSpec(epochs=1, seed=0, objective="bce")


class LinearD(nn.Module):
    """D(x) = <w, x>: its input gradient is w everywhere, so the gradient penalty is known exactly."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x, y=None):
        return (x * self.w).flatten(1).sum(1)


class PairD(nn.Module):
    def __init__(self):
        super().__init__()
        self.f = nn.Linear(3 * 4 * 4, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, a, b):
        return self.head((self.f(a.flatten(1)) - self.f(b.flatten(1))).abs()).view(-1)


@pytest.mark.parametrize("input_grad", [autograd_input_grad, func_input_grad], ids=["autograd", "torch.func"])
def test_gradient_penalty_on_a_known_input(input_grad):
    """Both ways to the input gradient (a job's, and seed lanes' under vmap) give the known penalty and the same
    gradient with respect to D's parameters."""
    w = torch.full((1, 3, 4, 4), 2.0 / (48**0.5))  # ||w||_2 = 2 -> penalty (2 - 1)^2 = 1
    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    same = lambda x, draw: x  # noqa: E731
    D = LinearD(w)
    penalty = gradient_penalty(D, real, fake, None, same, GLOBAL, input_grad)
    assert penalty.item() == pytest.approx(1.0, rel=1e-5)
    penalty.backward()  # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = w here (||w|| = 2)
    assert torch.allclose(D.w.grad, w, rtol=1e-5)
    w_unit = w / 2
    unit = gradient_penalty(LinearD(w_unit), real, fake, None, same, GLOBAL, input_grad)
    assert unit.item() == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("name", OBJECTIVES.names())
def test_every_objective_gives_finite_losses_with_gradients(name):
    torch.manual_seed(0)
    objective = OBJECTIVES.get(name)(TRAIN)
    D = PairD() if name == "siamese-bce" else nn.Sequential(nn.Flatten(), nn.Linear(48, 1))
    D_call = D if name == "siamese-bce" else (lambda x, y=None: D(x).view(-1))
    real, fake = torch.randn(6, 3, 4, 4), torch.randn(6, 3, 4, 4, requires_grad=True)
    d_loss, _ = objective.d_loss(D_call, real, fake.detach(), None, None)
    d_loss.backward()
    assert torch.isfinite(d_loss) and all(p.grad is not None for p in D.parameters())
    g_loss, _ = objective.g_loss(D_call, fake, None, real)
    g_loss.backward()
    assert torch.isfinite(g_loss) and fake.grad is not None and fake.grad.abs().sum() > 0


def test_label_smoothing_lowers_the_real_target():
    D = lambda x, y=None: torch.full((x.size(0),), 20.0)  # noqa: E731  (sure it is real)
    real = fake = torch.zeros(4, 3, 4, 4)
    plain, _ = OBJECTIVES.get("bce")(TRAIN).d_loss(D, real, fake, None, None)
    smooth, _ = OBJECTIVES.get("bce")(dataclasses.replace(TRAIN, label_smoothing=0.1)).d_loss(D, real, fake, None, None)
    assert smooth > plain + 1.0  # a confident 'real' is now penalised: the target is 0.9


def test_wasserstein_clips_critic_weights_after_each_step():
    objective = OBJECTIVES.get("wasserstein")(dataclasses.replace(TRAIN, clip_value=0.05))
    D = nn.Linear(10, 1)
    nn.init.normal_(D.weight, std=1.0)
    objective.after_d_step(D)
    assert all(p.abs().max() <= 0.05 for p in D.parameters())


def test_augment_is_applied_to_real_and_fake():
    seen = []

    def augment(x, draw):
        seen.append(x)
        return x

    objective = OBJECTIVES.get("hinge")(TRAIN, augment)
    real, fake = torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4)
    objective.d_loss(lambda x, y=None: x.flatten(1).sum(1), real, fake, None, None)
    assert any(x is real for x in seen) and any(x is fake for x in seen)
