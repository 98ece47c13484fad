"""One training step of a job: a D step on a batch, then (every n_critic-th batch) a G step."""

from dataclasses import dataclass
from typing import Any

import torch
from accelerate import Accelerator

from harness.core import precision
from harness.train.draws import GLOBAL
from harness.train.state import TrainState


@dataclass
class Step:
    """One training step of a job, bound to its nets, objective, augmentation and precision (eager: PyTorch runs
    each kernel as Python reaches it; graphs.GraphStep replays the same work captured once)."""

    s: TrainState
    objective: Any
    augment: Any
    accelerator: Accelerator
    z_dim: int
    num_classes: int
    precision: str = precision.DEFAULT
    autocast_cache: bool = True  # off while a CUDA graph is captured: cached casts would outlive the capture
    mode = "eager"  # how it steps (graphs.GraphStep says "graph"); recorded per epoch

    def __call__(self, images: torch.Tensor, labels: torch.Tensor, update_g: bool) -> dict[str, float]:
        """One D step on a batch of uint8 reals, then (when update_g) one G step; the losses and D outputs."""
        stats = self.tensors(images, labels, update_g)
        self.after(update_g)
        return read(stats)

    def tensors(self, images: torch.Tensor, labels: torch.Tensor, update_g: bool) -> dict[str, torch.Tensor]:
        """The step's device work, with no host synchronisation (so it can be captured): its stats stay tensors."""
        s, accelerator, device = self.s, self.accelerator, self.accelerator.device
        autocast = precision.autocast(self.precision, device, cache=self.autocast_cache)
        real = images.float() / 127.5 - 1  # uint8 -> [-1, 1], the range of G's tanh
        if self.augment.real:
            real = self.augment.real(real, GLOBAL)
        y_fake = torch.randint(self.num_classes, (real.size(0),), device=device)  # unconditional nets ignore it
        with torch.set_grad_enabled(update_g), autocast:
            fake = s.G(torch.randn(real.size(0), self.z_dim, device=device), y_fake)
        with autocast:
            d_loss, stats = self.objective.d_loss(s.D, real, fake.detach(), labels, y_fake)
        stats = {"d_loss": step_d(self.objective, s, accelerator, d_loss), **stats}
        if update_g:
            with autocast:
                g_loss, g_stats = self.objective.g_loss(s.D, fake, y_fake, real)
            stats |= {"g_loss": step_g(s, accelerator, g_loss), **g_stats}
        return stats

    def after(self, update_g: bool) -> None:
        """Host-side bookkeeping after the device work: the EMA of G (AveragedModel branches on its counter)."""
        if update_g and self.s.ema is not None:
            self.s.ema.update_parameters(self.accelerator.unwrap_model(self.s.G))


def stack(stats: dict[str, torch.Tensor]) -> torch.Tensor:
    """The step's stats as one float tensor, in the dict's order."""
    return torch.stack([v.float() for v in stats.values()])


def read(stats: dict[str, torch.Tensor]) -> dict[str, float]:
    """The step's stats as floats, in one device-to-host copy rather than one per stat."""
    return dict(zip(stats, stack(stats).tolist(), strict=True))


def step_d(objective, s: TrainState, accelerator: Accelerator, loss: torch.Tensor) -> torch.Tensor:
    s.opt_d.zero_grad(set_to_none=True)
    accelerator.backward(loss)
    s.opt_d.step()
    objective.after_d_step(s.D)
    return loss.detach()


def step_g(s: TrainState, accelerator: Accelerator, loss: torch.Tensor) -> torch.Tensor:
    s.opt_g.zero_grad(set_to_none=True)
    accelerator.backward(loss)
    s.opt_g.step()
    return loss.detach()
