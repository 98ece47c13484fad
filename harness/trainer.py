"""The one training loop: build G, D, optimisers and schedules, prepare them with Accelerate, train epoch by epoch."""

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object
from torch.utils.data import DataLoader, Dataset, Sampler

from harness import checkpoint, distributed, recipes, samples
from harness.augment import AUGMENTS
from harness.checkpoint import TrainState
from harness.data import ImageSet
from harness.distributed import StopRequest
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
    With `length` > n (oversampling) the set is repeated, each repeat freshly shuffled. `skip_in(epoch, k)` drops
    the first k indices of that epoch: a job stopped mid-epoch resumes at the batch it stopped at."""

    def __init__(self, n: int, seed: int, length: int | None = None):
        self.n, self.seed, self.length, self.epoch = n, seed, length or n, 0
        self.skip = (0, 0)  # (epoch, indices)

    def set_epoch(self, epoch: int) -> None:  # Accelerate's loader calls this with its own epoch counter
        self.epoch = epoch

    def skip_in(self, epoch: int, indices: int) -> None:
        self.skip = (epoch, indices)

    def _skipped(self) -> int:
        return self.skip[1] if self.skip[0] == self.epoch else 0

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        repeats = -(-self.length // self.n)
        order = torch.cat([torch.randperm(self.n, generator=gen) for _ in range(repeats)])[: self.length]
        return iter(order[self._skipped() :].tolist())

    def __len__(self) -> int:
        return self.length - self._skipped()


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


class Interrupted(Exception):
    """Training stopped on request after checkpointing mid-epoch; running the job again resumes there."""

    def __init__(self, epoch: int, batch: int):
        super().__init__(f"stopped in epoch {epoch} after {batch} batches, checkpointed; run again to resume")
        self.epoch, self.batch = epoch, batch


def prepare(job: JobSpec, data: ImageSet, accelerator: Accelerator) -> tuple[TrainState, DataLoader, EpochShuffle]:
    """Nets, optimisers and the loader, prepared by Accelerate: on several ranks, DDP-wrapped nets (identical at the
    start) and a loader that hands each rank its slice of every global batch."""
    t = job.train
    torch.manual_seed(t.seed)  # the same initial nets on every rank
    sampler = EpochShuffle(len(data), t.seed, job.data.oversample)
    # Its own generator: a loader draws a base seed from the global RNG per epoch, which would shift a resumed
    # mid-epoch run's noise by one draw.
    loader = DataLoader(Images(data), t.batch_size, sampler=sampler, drop_last=True, generator=torch.Generator())
    s = build(job, len(data.class_names))
    s.G, s.D, s.opt_g, s.opt_d, loader = accelerator.prepare(s.G, s.D, s.opt_g, s.opt_d, loader)
    if s.ema is not None:
        s.ema.to(accelerator.device)  # the average was copied from G before prepare() moved G
    torch.manual_seed(distributed.rank_seed(t.seed, accelerator.process_index))  # each rank its own noise
    return s, loader, sampler


def train(
    job: JobSpec,
    run: RunDir,
    accelerator: Accelerator,
    data: ImageSet,
    scorer: Scorer | None = None,
    progress: Progress | None = None,
    stop: StopRequest | None = None,
) -> int:
    """Train `job` to its last epoch, resuming from the run's checkpoint; returns the epoch it started from.
    Every rank runs this; only the main process writes. Raises Interrupted when `stop` is requested."""
    progress, stop = progress or NoProgress(), stop or StopRequest()
    main = accelerator.is_main_process
    t, z_dim, num_classes = job.train, job.model.z_dim, len(data.class_names)
    augment = AUGMENTS.get(t.augment)
    objective = OBJECTIVES.get(ARCHS.get(job.model.arch).objective)(t, augment.d_input)
    s, loader, sampler = prepare(job, data, accelerator)
    at = checkpoint.load(run, job.job_id, s, accelerator.unwrap_model)
    if at.rng:
        checkpoint.set_rng_state(at.rng[accelerator.process_index])
    if main:
        run.keep_metrics_through(at.epoch)
    device, step = accelerator.device, at.step
    fixed_z, fixed_y = samples.fixed_inputs(z_dim, num_classes, t.seed, device)
    per_epoch = sampler.length // t.batch_size  # global batches per epoch (the last partial batch is dropped)

    for epoch in range(at.epoch + 1, t.epochs + 1):
        resumed = at.partial if epoch == at.epoch + 1 else {}
        batch = at.batch if resumed else 0
        loader.set_epoch(epoch)  # reaches the sampler: the epoch's data order
        sampler.skip_in(epoch, batch * t.batch_size)
        progress.epoch_started(epoch, len(loader))
        sums, counts = defaultdict(float, resumed.get("sums", {})), defaultdict(int, resumed.get("counts", {}))
        t0 = time.perf_counter() - resumed.get("seconds", 0.0)
        for images, labels in loader:
            update_g = (step + 1) % t.n_critic == 0  # n_critic D steps per G step, counted across epochs
            stats = train_step(s, objective, augment, accelerator, images, labels, z_dim, num_classes, update_g)
            for k, v in stats.items():
                sums[k], counts[k] = sums[k] + v, counts[k] + 1
            step, batch = step + 1, batch + 1
            progress.step()
            if stop.due(accelerator, step):
                break
        if batch < per_epoch:  # stopped mid-epoch: keep this epoch's progress too
            partial = {"sums": dict(sums), "counts": dict(counts), "seconds": time.perf_counter() - t0}
            save(run, job, accelerator, s, checkpoint.Position(epoch - 1, step, batch, partial))
            raise Interrupted(epoch, batch)
        seconds = time.perf_counter() - t0
        record = {
            "epoch": epoch,
            "step": step,
            "seconds": seconds,
            "images_per_s": per_epoch * t.batch_size / seconds,
        }
        record |= {k: v / counts[k] for k, v in sums.items()}
        record |= {"lr_g": s.opt_g.param_groups[0]["lr"], "lr_d": s.opt_d.param_groups[0]["lr"]}  # this epoch's
        s.sched_g.step()
        s.sched_d.step()
        G = generator_to_score(s, accelerator)
        if main:
            samples.save_grid(run.samples_dir / f"epoch_{epoch:04d}.png", samples.render(G, fixed_z, fixed_y))
        scored = scorer is not None and scores_due(job, epoch)
        if scored:
            record |= scorer(G, epoch)  # every rank generates its share; the main process scores
        if main and scored:
            checkpoint.save_snapshot(run, epoch, s, accelerator.unwrap_model)
        if main:
            run.append_metrics(record)
        save(run, job, accelerator, s, checkpoint.Position(epoch, step))
        progress.epoch_ended(record)
        if epoch < t.epochs and stop.due(accelerator, step, sync=True):
            raise Interrupted(epoch + 1, 0)
    return at.epoch


def save(run: RunDir, job: JobSpec, accelerator: Accelerator, s: TrainState, at: checkpoint.Position) -> None:
    """Every rank hands in its RNG state; the main process writes the checkpoint."""
    at.rng = gather_object([checkpoint.rng_state()])
    if accelerator.is_main_process:
        checkpoint.save(run, job.job_id, at, s, accelerator.unwrap_model)


def train_step(s: TrainState, objective, augment, accelerator, images, labels, z_dim, num_classes, update_g) -> dict:
    """One D step on a batch of uint8 reals, then (when update_g) one G step; returns the losses and D outputs."""
    device = accelerator.device
    real = images.float() / 127.5 - 1  # uint8 -> [-1, 1], the range of G's tanh
    if augment.real:
        real = augment.real(real)
    y_fake = torch.randint(num_classes, (real.size(0),), device=device)  # unconditional nets ignore labels
    with torch.set_grad_enabled(update_g):
        fake = s.G(torch.randn(real.size(0), z_dim, device=device), y_fake)
    stats = d_step(objective, s, accelerator, real, fake.detach(), labels, y_fake)
    if update_g:
        stats |= g_step(objective, s, accelerator, fake, y_fake, real)
    return stats


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
