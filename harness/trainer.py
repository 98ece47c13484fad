"""The one training loop: build G, D, optimisers and schedules, prepare them with Accelerate, train epoch by epoch."""

import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object

from harness import batching, checkpoint, distributed, faults, graphs, precision, recipes, samples
from harness.augment import AUGMENTS
from harness.batching import EpochShuffle
from harness.checkpoint import TrainState
from harness.data import ImageSet
from harness.distributed import StopRequest
from harness.errors import ConfigError
from harness.models import ARCHS
from harness.objectives import OBJECTIVES
from harness.specs import JobSpec
from harness.step import Step
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


def scores_due(job: JobSpec, epoch: int) -> bool:
    every = job.eval.every
    return bool(job.eval.metrics) and (epoch == job.train.epochs or (every > 0 and epoch % every == 0))


def build(job: JobSpec, num_classes: int) -> TrainState:
    arch, t = ARCHS.get(job.model.arch), job.train
    arch.check_version(job.model.arch, job.model.arch_version)
    if t.objective not in OBJECTIVES:  # never resolved: only a suite (or from_dict of a record) resolves it
        raise ConfigError(f"{job.job_id}: train.objective {t.objective!r}; valid: {', '.join(OBJECTIVES.names())}")
    G = arch.build_g(job.model, job.data.resolution, num_classes)
    D = arch.build_d(job.model, job.data.resolution, num_classes)
    opt_g, opt_d = recipes.optimizer(t, G.parameters(), t.lr_g), recipes.optimizer(t, D.parameters(), t.lr_d)
    sched_g, sched_d = recipes.scheduler(t, opt_g), recipes.scheduler(t, opt_d)
    return TrainState(G, D, opt_g, opt_d, sched_g, sched_d, recipes.ema(G, t.ema))


def generator_to_score(s: TrainState, accelerator: Accelerator) -> torch.nn.Module:
    """The EMA generator when EMA is on (the standard in modern GAN benchmarks), else G itself."""
    return s.ema.module if s.ema is not None else accelerator.unwrap_model(s.G)


EXPLODED = 1e6  # a loss or D statistic beyond this has blown up: healthy zoo runs stay orders of magnitude below


def divergence(stats: dict[str, float]) -> str:
    """Why this step's losses and D outputs say training has diverged ('' when they do not)."""
    for name, value in stats.items():
        if not math.isfinite(value):
            return f"{name} is {value}"
        if abs(value) > EXPLODED:
            return f"{name} = {value:.3g} (beyond ±{EXPLODED:.0e})"
    return ""


class Diverged(Exception):
    """Training blew up (NaN/Inf, exploding D): the job ends here as `diverged`, a result rather than a failure."""

    def __init__(self, epoch: int, step: int, reason: str):
        super().__init__(f"diverged in epoch {epoch} at step {step}: {reason}")
        self.epoch, self.step, self.reason = epoch, step, reason


class Interrupted(Exception):
    """Training stopped on request after checkpointing mid-epoch; running the job again resumes there."""

    def __init__(self, epoch: int, batch: int):
        super().__init__(f"stopped in epoch {epoch} after {batch} batches, checkpointed; run again to resume")
        self.epoch, self.batch = epoch, batch


def prepare(job: JobSpec, data: ImageSet, accelerator: Accelerator, resident: bool | None = None):
    """Nets, optimisers and batches, prepared by Accelerate: on several ranks, DDP-wrapped nets (identical at the
    start), and batches that give each rank its slice of every global batch. Returns (state, batches, sampler)."""
    t = job.train
    torch.manual_seed(t.seed)  # the same initial nets on every rank
    sampler = EpochShuffle(len(data), t.seed, job.data.oversample)
    s = build(job, len(data.class_names))
    s.G, s.D, s.opt_g, s.opt_d = accelerator.prepare(s.G, s.D, s.opt_g, s.opt_d)
    if s.ema is not None:
        s.ema.to(accelerator.device)  # the average was copied from G before prepare() moved G
    resident = batching.fits(data, accelerator.device) if resident is None else resident
    loader = batching.batches(data, sampler, t.batch_size, accelerator, resident)
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
    with precision.flags(job.train.precision):
        return _train(job, run, accelerator, data, scorer, progress, stop)


def _train(job, run, accelerator, data, scorer, progress, stop) -> int:
    progress, stop = progress or NoProgress(), stop or StopRequest()
    main = accelerator.is_main_process
    t, z_dim, num_classes = job.train, job.model.z_dim, len(data.class_names)
    augment = AUGMENTS.get(t.augment)
    objective = OBJECTIVES.get(t.objective)(t, augment.d_input)
    s, loader, sampler = prepare(job, data, accelerator)
    train_step = graphs.for_job(Step(s, objective, augment, accelerator, z_dim, num_classes, t.precision), t.cuda_graph)
    at = checkpoint.load(run, job.job_id, s, accelerator.unwrap_model)
    graphs.settle_optimizers(s, accelerator.device)
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
        tally, t0 = Tally.resumed(resumed), time.perf_counter() - resumed.get("seconds", 0.0)
        for images, labels in loader:
            update_g = (step + 1) % t.n_critic == 0  # n_critic D steps per G step, counted across epochs
            stats = train_step(images, labels, update_g)
            if reason := distributed.first_reason(accelerator, divergence(stats)):
                raise Diverged(epoch, step + 1, reason)
            faults.point("step")
            tally.add(stats)
            step, batch = step + 1, batch + 1
            progress.step()
            if stop.due(accelerator, step):
                break
        if batch < per_epoch:  # stopped mid-epoch: keep this epoch's progress too
            partial = tally.partial(time.perf_counter() - t0)
            save(run, job, accelerator, s, checkpoint.Position(epoch - 1, step, batch, partial))
            raise Interrupted(epoch, batch)
        record = epoch_record(epoch, step, time.perf_counter() - t0, per_epoch * t.batch_size, tally, s)
        record["cuda_graph"] = int(train_step.mode == "graph")  # how the epoch was stepped
        end_epoch(job, run, accelerator, s, record, scorer, (fixed_z, fixed_y))
        progress.epoch_ended(record)
        if epoch < t.epochs and stop.due(accelerator, step, sync=True):
            raise Interrupted(epoch + 1, 0)
    return at.epoch


@dataclass
class Tally:
    """An epoch's running sums of the step stats, and how many steps gave each (g_loss: the G steps only)."""

    sums: defaultdict = field(default_factory=lambda: defaultdict(float))
    counts: defaultdict = field(default_factory=lambda: defaultdict(int))

    @classmethod
    def resumed(cls, partial: dict) -> "Tally":
        """The sums a run stopped mid-epoch had reached (an empty tally for a fresh epoch)."""
        return cls(defaultdict(float, partial.get("sums", {})), defaultdict(int, partial.get("counts", {})))

    def add(self, stats: dict[str, float]) -> None:
        for k, v in stats.items():
            self.sums[k], self.counts[k] = self.sums[k] + v, self.counts[k] + 1

    def means(self) -> dict[str, float]:
        return {k: v / self.counts[k] for k, v in self.sums.items()}

    def partial(self, seconds: float) -> dict:
        """What a mid-epoch checkpoint keeps, so the epoch's record comes out as if it had not been interrupted."""
        return {"sums": dict(self.sums), "counts": dict(self.counts), "seconds": seconds}


def epoch_record(epoch: int, step: int, seconds: float, images: int, tally: Tally, s: TrainState) -> dict[str, Any]:
    """An epoch's line of metrics.jsonl: counters, speed, mean losses and D outputs, the learning rates it used."""
    record = {"epoch": epoch, "step": step, "seconds": seconds, "images_per_s": images / seconds}
    record |= tally.means()
    return record | {"lr_g": s.opt_g.param_groups[0]["lr"], "lr_d": s.opt_d.param_groups[0]["lr"]}


def end_epoch(job, run, accelerator, s: TrainState, record: dict, scorer, fixed, rng: dict | None = None) -> None:
    """After an epoch's last step: next epoch's learning rates, its sample grid, its scores when due (with a
    snapshot of G), its record, and the checkpoint (with `rng` as this job's RNG state when given)."""
    s.sched_g.step()
    s.sched_d.step()
    distributed.sync_buffers(accelerator, s)  # batch-norm statistics: rank 0's, as checkpointed and scored
    G, main = generator_to_score(s, accelerator), accelerator.is_main_process
    if main:
        samples.save_grid(run.samples_dir / f"epoch_{record['epoch']:04d}.png", samples.render(G, *fixed))
    scored = scorer is not None and scores_due(job, record["epoch"])
    if scored:
        record |= scorer(G, record["epoch"])  # every rank generates its share; the main process scores
        faults.point("eval")
    if main and scored:
        checkpoint.save_snapshot(run, job.job_id, record["epoch"], s, accelerator.unwrap_model)
    if main:
        run.append_metrics(record)
    save(run, job, accelerator, s, checkpoint.Position(record["epoch"], record["step"]), rng)


def save(run: RunDir, job: JobSpec, accelerator: Accelerator, s: TrainState, at: checkpoint.Position, rng=None):
    """Every rank hands in its RNG state (or `rng`, a seed-batched lane's); the main process writes the checkpoint."""
    at.rng = [rng] if rng is not None else gather_object([checkpoint.rng_state()])
    if accelerator.is_main_process:
        checkpoint.save(run, job.job_id, at, s, accelerator.unwrap_model)
    accelerator.wait_for_everyone()
