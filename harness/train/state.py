"""What training holds and scoring reads: the nets, optimisers, schedules and EMA of one job (TrainState), built from
its spec (build), and the generator alone (build_generator) for what only samples: final grids, re-scoring."""

from dataclasses import dataclass

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from harness.config.specs import JobSpec
from harness.core.errors import ConfigError
from harness.models import ARCHS
from harness.train import recipes
from harness.train.objectives import OBJECTIVES


@dataclass
class TrainState:
    """What a checkpoint restores, as the trainer holds it (nets and optimisers possibly wrapped by Accelerate)."""

    G: nn.Module
    D: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    sched_g: torch.optim.lr_scheduler.LRScheduler
    sched_d: torch.optim.lr_scheduler.LRScheduler
    ema: AveragedModel | None = None


def build_generator(job: JobSpec, num_classes: int) -> nn.Module:
    """G as `job` builds it, its arch's recipe version checked; for scoring a stored generator."""
    arch = ARCHS.get(job.model.arch)
    arch.check_version(job.model.arch, job.model.arch_version)
    return arch.build_g(job.model, job.data.resolution, num_classes)


def build(job: JobSpec, num_classes: int) -> TrainState:
    """G, D, their optimisers and schedules, and the EMA copy of G, as the job's spec says (nothing on a device yet)."""
    t = job.train
    if t.objective not in OBJECTIVES:  # never resolved: only a suite (or from_dict of a record) resolves it
        raise ConfigError(f"{job.job_id}: train.objective {t.objective!r}; valid: {', '.join(OBJECTIVES.names())}")
    G = build_generator(job, num_classes)
    D = ARCHS.get(job.model.arch).build_d(job.model, job.data.resolution, num_classes)
    opt_g, opt_d = recipes.optimizer(t, G.parameters(), t.lr_g), recipes.optimizer(t, D.parameters(), t.lr_d)
    sched_g, sched_d = recipes.scheduler(t, opt_g), recipes.scheduler(t, opt_d)
    return TrainState(G, D, opt_g, opt_d, sched_g, sched_d, recipes.ema(G, t.ema))
