"""The one training loop, for one job or K seed lanes: build G, D, optimisers and schedules, prepare them with
Accelerate, train epoch by epoch, and at each epoch's end record, sample, score and checkpoint each lane."""

import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object

from harness.config.specs import JobSpec
from harness.core import faults, precision
from harness.data import ImageSet
from harness.store.runs import RunDir
from harness.train import batching, checkpoint, distributed, graphs, samples
from harness.train.augment import AUGMENTS
from harness.train.batching import EpochShuffle
from harness.train.distributed import StopRequest
from harness.train.objectives import OBJECTIVES
from harness.train.state import TrainState, build
from harness.train.step import Step

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


@dataclass
class Lane:
    """One job as the loop trains it: its nets and optimisers, data order, checkpoint position and per-epoch duties.
    A single job is one lane; seed-batched jobs (harness/train/lanes.py) are K lanes stepped as one model."""

    job: JobSpec
    run: RunDir
    s: TrainState
    sampler: EpochShuffle
    loader: Any
    at: checkpoint.Position
    fixed: tuple  # the noise (and labels) of its per-epoch sample grid
    scorer: Scorer | None = None
    gen: torch.Generator | None = None  # a seed lane's own noise; None: torch's global generator, per rank
    outcome: Exception | None = None  # Diverged or Interrupted once it has ended so

    def rng(self) -> list[dict]:
        """Its RNG state as the checkpoint keeps it: one entry per rank (a seed lane is one process)."""
        if self.gen is not None:
            return [checkpoint.generator_state(self.gen)]
        return gather_object([checkpoint.rng_state()])


def prepare(job: JobSpec, data: ImageSet, accelerator: Accelerator, resident: bool | None = None, lane=False):
    """Nets, optimisers and batches for `job`: on several ranks, DDP-wrapped nets (identical at the start) and
    batches that give each rank its slice of every global batch; then each rank's noise seeded. A seed lane
    (`lane`) keeps its nets unwrapped on the device, its data resident, and leaves the global RNG alone (it draws
    from its own generator). Returns (state, batches, sampler)."""
    t, device = job.train, accelerator.device
    torch.manual_seed(t.seed)  # the same initial nets on every rank, and in a lane as in a separate job
    sampler = EpochShuffle(len(data), t.seed, job.data.oversample)
    s = build(job, len(data.class_names))
    if lane:
        s.G.to(device), s.D.to(device)
    else:
        s.G, s.D, s.opt_g, s.opt_d = accelerator.prepare(s.G, s.D, s.opt_g, s.opt_d)
    if s.ema is not None:
        s.ema.to(device)  # the average was copied from G before G moved
    resident = lane or (batching.fits(data, device) if resident is None else resident)
    loader = batching.batches(data, sampler, t.batch_size, accelerator, resident)
    if not lane:
        torch.manual_seed(distributed.rank_seed(t.seed, accelerator.process_index))  # each rank its own noise
    return s, loader, sampler


def open_lane(job: JobSpec, run: RunDir, data: ImageSet, accelerator: Accelerator, scorer=None, own_rng=False) -> Lane:
    """A job ready to train (prepare), at its checkpoint when it has one. `own_rng` (a seed lane): its noise comes
    from its own generator, seeded as a one-process job's global one is, so a lane draws what a separate job draws."""
    s, loader, sampler = prepare(job, data, accelerator, lane=own_rng)
    device, seed = accelerator.device, job.train.seed
    gen = distributed.lane_generator(seed, device) if own_rng else None
    at = checkpoint.load(run, job.job_id, s, accelerator.unwrap_model)
    graphs.settle_optimizers(s, device)
    if at.rng and gen is not None:
        checkpoint.set_generator_state(gen, at.rng[0])
    elif at.rng:
        checkpoint.set_rng_state(at.rng[accelerator.process_index])
    if accelerator.is_main_process:
        run.keep_metrics_through(at.epoch)
    fixed = samples.fixed_inputs(job.model.z_dim, len(data.class_names), seed, device)
    return Lane(job, run, s, sampler, loader, at, fixed, scorer, gen)


class LaneSteps(Protocol):
    """A training step of K >= 1 lanes, as the loop calls it."""

    mode: str  # "eager" or "graph": recorded per epoch

    def __call__(self, images: torch.Tensor, labels: torch.Tensor, update_g: bool) -> list[dict[str, float]]: ...
    def batches(self, lanes: list[Lane]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...
    def copy_back(self, states: list[TrainState]) -> None: ...
    def next_lr(self, s: TrainState) -> None: ...


class OneLane:
    """A single job's step (eager, DDP or CUDA graph: step.Step, graphs.GraphStep) as the loop steps lanes."""

    def __init__(self, step):
        self.step = step

    @property
    def mode(self) -> str:
        return self.step.mode

    def __call__(self, images, labels, update_g):
        return [self.step(images, labels, update_g)]

    def batches(self, lanes):
        return iter(lanes[0].loader)

    def copy_back(self, states):  # the step trains the job's own nets in place
        pass

    def next_lr(self, s):  # its optimisers are the job's own, stepped by its schedules
        pass


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
    Every rank runs this; only the main process writes. Raises Diverged when it blows up, Interrupted when `stop`
    is requested."""
    with precision.flags(job.train.precision):
        t, z_dim, num_classes = job.train, job.model.z_dim, len(data.class_names)
        augment = AUGMENTS.get(t.augment)
        objective = OBJECTIVES.get(t.objective)(t, augment.d_input)
        lane = open_lane(job, run, data, accelerator, scorer)
        step = Step(lane.s, objective, augment, accelerator, z_dim, num_classes, t.precision)
        [lane] = loop([lane], OneLane(graphs.for_job(step, t.cuda_graph)), accelerator, progress, stop)
        if lane.outcome is not None:
            raise lane.outcome
        return lane.at.epoch


def _live(lanes: list[Lane]) -> list[Lane]:
    return [lane for lane in lanes if lane.outcome is None]


def loop(lanes: list[Lane], train_step: LaneSteps, accelerator, progress=None, stop=None, diverged=None) -> list[Lane]:
    """The one training loop: K >= 1 lanes, opened at the same checkpoint position, trained epoch by epoch to their
    last, and returned, each with its outcome (None: trained to the end). A lane that diverges ends there (its
    result recorded at once by `diverged(lane)`) while the others train on; a stop request checkpoints every live
    lane, mid-epoch or at an epoch's end, and ends them Interrupted."""
    progress, stop, diverged = progress or NoProgress(), stop or StopRequest(), diverged or (lambda lane: None)
    at, t = lanes[0].at, lanes[0].job.train
    per_epoch, step = lanes[0].sampler.length // t.batch_size, at.step  # global batches per epoch (drop_last)

    for epoch in range(at.epoch + 1, t.epochs + 1):
        resumed = [lane.at.partial if epoch == at.epoch + 1 else {} for lane in lanes]
        batch = at.batch if resumed[0] else 0
        for lane in lanes:
            lane.loader.set_epoch(epoch)  # reaches the sampler: the epoch's data order
            lane.sampler.skip_in(epoch, batch * t.batch_size)
        progress.epoch_started(epoch, len(lanes[0].loader))
        tallies, t0 = [Tally.resumed(r) for r in resumed], time.perf_counter() - resumed[0].get("seconds", 0.0)
        for images, labels in train_step.batches(lanes):
            update_g = (step + 1) % t.n_critic == 0  # n_critic D steps per G step, counted across epochs
            stats = train_step(images, labels, update_g)
            for lane, lane_stats in zip(lanes, stats, strict=True):
                # a lane ended is no longer asked; on several ranks (one lane) every rank stops together
                if lane.outcome is None and (reason := distributed.first_reason(accelerator, divergence(lane_stats))):
                    lane.outcome = Diverged(epoch, step + 1, reason)
                    diverged(lane)  # a seed lane computes on (its NaNs stay in its slices), unread
            faults.point("step")
            for tally, lane_stats in zip(tallies, stats, strict=True):
                tally.add(lane_stats)
            step, batch = step + 1, batch + 1
            progress.step()
            if not _live(lanes) or stop.due(accelerator, step):
                break
        live = [(lane, tally) for lane, tally in zip(lanes, tallies, strict=True) if lane.outcome is None]
        if not live:
            return lanes
        train_step.copy_back([lane.s for lane in lanes])
        seconds = time.perf_counter() - t0
        if batch < per_epoch:  # stopped mid-epoch: keep this epoch's progress too
            for lane, tally in live:
                save(lane, accelerator, checkpoint.Position(epoch - 1, step, batch, tally.partial(seconds)))
                lane.outcome = Interrupted(epoch, batch)
            return lanes
        for lane, tally in live:
            # A seed lane's record times the whole step of K lanes: its images/s are its own; the group's are K times.
            record = epoch_record(epoch, step, seconds, per_epoch * t.batch_size, tally, lane.s)
            record["cuda_graph"] = int(train_step.mode == "graph")  # how the epoch was stepped
            end_epoch(lane, accelerator, record)
        train_step.next_lr(live[0][0].s)  # a live lane's schedule: a diverged one's is no longer stepped
        progress.epoch_ended(record)
        if epoch < t.epochs and stop.due(accelerator, step, sync=True):
            for lane, _ in live:
                lane.outcome = Interrupted(epoch + 1, 0)
            return lanes
    return lanes


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


def end_epoch(lane: Lane, accelerator: Accelerator, record: dict) -> None:
    """After an epoch's last step: next epoch's learning rates, its sample grid, its scores when due (with a
    snapshot of G), its record, and the checkpoint."""
    job, run, s = lane.job, lane.run, lane.s
    s.sched_g.step()
    s.sched_d.step()
    distributed.sync_buffers(accelerator, s)  # batch-norm statistics: rank 0's, as checkpointed and scored
    G, main = generator_to_score(s, accelerator), accelerator.is_main_process
    if main:
        samples.save_grid(run.samples_dir / f"epoch_{record['epoch']:04d}.png", samples.render(G, *lane.fixed))
    scored = lane.scorer is not None and scores_due(job, record["epoch"])
    if scored:
        record |= lane.scorer(G, record["epoch"])  # every rank generates its share; the main process scores
        faults.point("eval")
    if main and scored:
        checkpoint.save_snapshot(run, job.job_id, record["epoch"], s, accelerator.unwrap_model)
    if main:
        run.append_metrics(record)
    save(lane, accelerator, checkpoint.Position(record["epoch"], record["step"]))


def save(lane: Lane, accelerator: Accelerator, at: checkpoint.Position) -> None:
    """Every rank hands in its RNG state; the main process writes the checkpoint."""
    at.rng = lane.rng()
    if accelerator.is_main_process:
        checkpoint.save(lane.run, lane.job.job_id, at, lane.s, accelerator.unwrap_model)
    accelerator.wait_for_everyone()
