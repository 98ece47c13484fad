"""Training recipes by suite name: optimisers, learning-rate schedules over a job's epochs, EMA of G's weights."""

import math
from collections.abc import Callable, Iterable

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from harness.config.specs import TrainSpec
from harness.core.registry import Registry

OPTIMIZERS: Registry[Callable[..., torch.optim.Optimizer]] = Registry("optimizer")
OPTIMIZERS.register("adam")(lambda params, lr, betas: torch.optim.Adam(params, lr, betas=betas))
OPTIMIZERS.register("rmsprop")(lambda params, lr, betas: torch.optim.RMSprop(params, lr))  # WGAN: no momentum

EXPONENTIAL_END = 0.01  # exponential decay ends at 1% of the initial learning rate

# lr factor after `done` of `epochs` epochs; every schedule starts at 1.
SCHEDULES: Registry[Callable[[int, int], float]] = Registry("lr_schedule")
SCHEDULES.register("none")(lambda done, epochs: 1.0)
SCHEDULES.register("cosine")(lambda done, epochs: 0.5 * (1 + math.cos(math.pi * min(done, epochs) / epochs)))
SCHEDULES.register("exponential")(lambda done, epochs: EXPONENTIAL_END ** (min(done, epochs) / epochs))


def optimizer(train: TrainSpec, params: Iterable[torch.nn.Parameter], lr: float) -> torch.optim.Optimizer:
    return OPTIMIZERS.get(train.optimizer)(params, lr, (train.beta1, train.beta2))


def scheduler(train: TrainSpec, opt: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LambdaLR:
    """Stepped once per epoch, so epoch e trains at lr x factor(e - 1)."""
    factor = SCHEDULES.get(train.lr_schedule)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda done: factor(done, train.epochs))


def ema(G: torch.nn.Module, decay: float) -> AveragedModel | None:
    """An exponential moving average of G's parameters and buffers (batch-norm statistics too); None when off."""
    if decay <= 0:
        return None
    return AveragedModel(G, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
