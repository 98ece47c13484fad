"""The one training loop: build G, D, optimisers and schedules, prepare them with Accelerate, train epoch by epoch."""

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader, Dataset, Sampler

from harness import checkpoint, recipes, samples
from harness.augment import AUGMENTS
from harness.checkpoint import TrainState
from harness.data import ImageSet
from harness.models import ARCHS
from harness.objectives import OBJECTIVES
from harness.specs import JobSpec
from harness.store import RunDir

Scorer = Callable[[torch.nn.Module, int], dict[str, Any]]  # (G to score, epoch) -> scores


class Progress(Protocol):
    def epoch_started(self, epoch: int, steps: int) -> None: ...
    def step(self) -> None: ...
    def epoch_ended(self, record: dict[str, Any]) -> None: ...


class NoProgress:
    def epoch_started(self, epoch, steps):
        pass

    def step(self):
        pass

    def epoch_ended(self, record):
        pass


class Images(Dataset):
    def __init__(self, data: ImageSet):
        self.images, self.labels = data.images, data.labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[i], self.labels[i]


class EpochShuffle(Sampler[int]):
    """A permutation that is a pure function of (seed, epoch), so a resumed job sees the same batches.
    With `length` > n (oversampling) the set is repeated, each repeat freshly shuffled."""

    def __init__(self, n: int, seed: int, length: int | None = None):
        self.n, self.seed, self.length, self.epoch = n, seed, length or n, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        repeats = -(-self.length // self.n)
        return iter(torch.cat([torch.randperm(self.n, generator=gen) for _ in range(repeats)])[: self.length].tolist())

    def __len__(self) -> int:
        return self.length


def scores_due(job: JobSpec, epoch: int) -> bool:
    every = job.eval.every
    return bool(job.eval.metrics) and (epoch == job.train.epochs or (every > 0 and epoch % every == 0))


def build(job: JobSpec, num_classes: int) -> TrainState:
    arch, t = ARCHS.get(job.model.arch), job.train
    G = arch.build_g(job.model, job.data.resolution, num_classes)
    D = arch.build_d(job.model, job.data.resolution, num_classes)
    opt_g, opt_d = recipes.optimizer(t, G.parameters(), t.lr_g), recipes.optimizer(t, D.parameters(), t.lr_d)
    sched_g, sched_d = recipes.scheduler(t, opt_g), recipes.scheduler(t, opt_d)
    return TrainState(G, D, opt_g, opt_d, sched_g, sched_d, recipes.ema(G, t.ema))


def generator_to_score(s: TrainState, accelerator: Accelerator) -> torch.nn.Module:
    """The EMA generator when EMA is on (the standard in modern GAN benchmarks), else G itself."""
    return s.ema.module if s.ema is not None else accelerator.unwrap_model(s.G)


def train(
    job: JobSpec,
    run: RunDir,
    accelerator: Accelerator,
    data: ImageSet,
    scorer: Scorer | None = None,
    progress: Progress | None = None,
) -> int:
    """Train `job` to its last epoch, resuming from the run's checkpoint; returns the epoch it started from."""
    progress = progress or NoProgress()
    torch.manual_seed(job.train.seed)
    t, z_dim, num_classes = job.train, job.model.z_dim, len(data.class_names)
    augment = AUGMENTS.get(t.augment)
    objective = OBJECTIVES.get(ARCHS.get(job.model.arch).objective)(t, augment.d_input)
    sampler = EpochShuffle(len(data), t.seed, job.data.oversample)
    loader = DataLoader(Images(data), batch_size=t.batch_size, sampler=sampler, drop_last=True)
    s = build(job, num_classes)
    s.G, s.D, s.opt_g, s.opt_d, loader = accelerator.prepare(s.G, s.D, s.opt_g, s.opt_d, loader)
    if s.ema is not None:
        s.ema.to(accelerator.device)  # the average was copied from G before prepare() moved G
    start, step = checkpoint.load(run, job.job_id, s, accelerator.unwrap_model)
    run.keep_metrics_through(start)
    device = accelerator.device
    fixed_z, fixed_y = samples.fixed_inputs(z_dim, num_classes, t.seed, device)

    for epoch in range(start + 1, t.epochs + 1):
        loader.set_epoch(epoch)
        progress.epoch_started(epoch, len(loader))
        sums, counts, t0 = defaultdict(float), defaultdict(int), time.perf_counter()
        for images, labels in loader:
            real = images.float() / 127.5 - 1  # uint8 -> [-1, 1], the range of G's tanh
            if augment.real:
                real = augment.real(real)
            y_fake = torch.randint(num_classes, (real.size(0),), device=device)  # unconditional nets ignore labels
            update_g = (step + 1) % t.n_critic == 0  # n_critic D steps per G step, counted across epochs
            with torch.set_grad_enabled(update_g):
                fake = s.G(torch.randn(real.size(0), z_dim, device=device), y_fake)
            stats = d_step(objective, s, accelerator, real, fake.detach(), labels, y_fake)
            if update_g:
                stats |= g_step(objective, s, accelerator, fake, y_fake, real)
            for k, v in stats.items():
                sums[k], counts[k] = sums[k] + v, counts[k] + 1
            step += 1
            progress.step()
        seconds = time.perf_counter() - t0
        record = {
            "epoch": epoch,
            "step": step,
            "seconds": seconds,
            "images_per_s": len(loader) * t.batch_size / seconds,
        }
        record |= {k: v / counts[k] for k, v in sums.items()}
        record |= {"lr_g": s.opt_g.param_groups[0]["lr"], "lr_d": s.opt_d.param_groups[0]["lr"]}  # this epoch's
        s.sched_g.step()
        s.sched_d.step()
        G = generator_to_score(s, accelerator)
        if accelerator.is_main_process:
            samples.save_grid(run.samples_dir / f"epoch_{epoch:04d}.png", samples.render(G, fixed_z, fixed_y))
        scored = scorer is not None and scores_due(job, epoch)
        if scored:
            record |= scorer(G, epoch)
        if accelerator.is_main_process:
            if scored:
                checkpoint.save_snapshot(run, epoch, s, accelerator.unwrap_model)
            run.append_metrics(record)
            checkpoint.save(run, job.job_id, epoch, step, s, accelerator.unwrap_model)
        progress.epoch_ended(record)
    return start


def d_step(objective, s: TrainState, accelerator, real, fake, y_real, y_fake) -> dict[str, float]:
    loss, stats = objective.d_loss(s.D, real, fake, y_real, y_fake)
    s.opt_d.zero_grad(set_to_none=True)
    accelerator.backward(loss)
    s.opt_d.step()
    objective.after_d_step(s.D)
    return {"d_loss": loss.item(), **stats}


def g_step(objective, s: TrainState, accelerator, fake, y_fake, real) -> dict[str, float]:
    loss, stats = objective.g_loss(s.D, fake, y_fake, real)
    s.opt_g.zero_grad(set_to_none=True)
    accelerator.backward(loss)
    s.opt_g.step()
    if s.ema is not None:
        s.ema.update_parameters(accelerator.unwrap_model(s.G))
    return {"g_loss": loss.item(), **stats}
