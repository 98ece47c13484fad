"""One training step (D then G) of every architecture at 32x32 on the CPU, through the trainer's own Step."""

from pathlib import Path

import pytest
import torch
from accelerate import Accelerator

from harness.config.specs import DataSpec, JobSpec, ModelSpec, TrainSpec
from harness.data import load_dataset
from harness.models import ARCHS
from harness.train.augment import AUGMENTS
from harness.train.loop import prepare
from harness.train.objectives import OBJECTIVES
from harness.train.step import Step

BATCH = 32


def job_for(arch: str) -> JobSpec:
    return JobSpec(
        model=ModelSpec(arch=arch, ngf=32, ndf=32, arch_version=ARCHS.get(arch).version),
        data=DataSpec(source="synthetic", label="synthetic", resolution=32, n_images=256),
        train=TrainSpec(epochs=1, seed=0, batch_size=BATCH, **ARCHS.get(arch).recipe),
    )


@pytest.mark.parametrize("arch", ARCHS.names())
def test_train_step(benchmark, arch):
    job = job_for(arch)
    accelerator = Accelerator(cpu=True)
    data = load_dataset(job.data, Path("."))
    s, batches, _ = prepare(job, data, accelerator)
    augment = AUGMENTS.get(job.train.augment)
    objective = OBJECTIVES.get(ARCHS.get(arch).objective)(job.train, augment.d_input)
    step = Step(s, objective, augment, accelerator, job.model.z_dim, len(data.class_names))
    batches.set_epoch(1)
    images, labels = next(iter(batches))
    stats = benchmark(step, images, labels, True)
    assert torch.isfinite(torch.tensor(stats["d_loss"])) and "g_loss" in stats


LANES = 4


def test_seed_batched_step(benchmark):
    """One step of LANES dcgan seeds as lanes of one vmapped model (harness/train/lanes.py): compare with LANES x the
    dcgan row above."""
    import dataclasses

    from harness.train import distributed, lanes
    from harness.train.state import build

    jobs = [
        dataclasses.replace(job_for("dcgan"), train=TrainSpec(epochs=1, seed=k, batch_size=BATCH, objective="bce"))
        for k in range(LANES)
    ]
    states = []
    for job in jobs:
        torch.manual_seed(job.train.seed)
        states.append(build(job, 1))
    gens = [distributed.lane_generator(job.train.seed, torch.device("cpu")) for job in jobs]
    step = lanes.LaneStep.of(jobs, states, gens, 1)
    data = load_dataset(jobs[0].data, Path("."))
    images, labels = (
        data.images[: LANES * BATCH].view(LANES, BATCH, 3, 32, 32),
        data.labels[: LANES * BATCH].view(LANES, BATCH),
    )
    stats = benchmark(step, images, labels, True)
    assert len(stats) == LANES and all(torch.isfinite(torch.tensor(s["d_loss"])) for s in stats)
