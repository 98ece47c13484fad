"""Seed-batched training: the K jobs of a suite that differ only in their seed, trained in one process as one model.

Each job is a lane. torch.func stacks the lanes' parameters, buffers and optimiser states along a new leading dim and
vmaps the nets and the objective over it, so every kernel runs once for all K lanes: K times the work per launch,
which is what a GPU starved by small kernels needs. Lanes share nothing but the kernels. Each keeps its own seed
(initial nets, data order, noise: its own generator, drawn in the order a separate job draws), its own optimiser
state (Adam and RMSprop are elementwise, so one optimiser over stacked tensors is K optimisers) and its own run
directory. They train in the one loop (train/loop.py) a separate job trains in; this module adds only what batching
needs: the stacked states, the vmapped step, and the copy back into every lane's TrainState at each epoch's end, where
the loop's per-epoch code (records, sample grids, scores, checkpoint) runs on each lane as for a separate job; a
lane's checkpoint resumes as a separate job and the other way round. Results match separate jobs to float rounding (vmap
runs convolutions grouped), not bit for bit."""

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from torch.optim.swa_utils import AveragedModel

from harness.config.specs import JobSpec
from harness.core import precision
from harness.train import batching, draws, recipes
from harness.train.augment import AUGMENTS, Augment
from harness.train.loop import Lane, loop, open_lane
from harness.train.objectives import OBJECTIVES, func_input_grad
from harness.train.state import TrainState
from harness.train.step import stack


class Unbatchable(Exception):
    """These lanes cannot train as one model (say why); the launcher runs them as separate jobs instead."""


def group_key(job: JobSpec) -> JobSpec:
    """What lanes must share: the whole spec but the seed."""
    return dataclasses.replace(job, train=dataclasses.replace(job.train, seed=0))


def groups(jobs: list[JobSpec]) -> list[list[JobSpec]]:
    """Jobs grouped by everything but their seed, in suite order."""
    by_key: dict[JobSpec, list[JobSpec]] = {}
    for job in jobs:
        by_key.setdefault(group_key(job), []).append(job)
    return list(by_key.values())


def plan(jobs: list[JobSpec], trackers: tuple[str, ...] = ()) -> list[tuple[list[JobSpec], str]]:
    """Every group of jobs that differ only in their seed, with why it cannot train as lanes ('' when it can)."""
    planned = []
    for group in groups(jobs):
        why = "trackers follow one job per process" if trackers else why_not(group[0])
        planned.append((group, why if len(group) > 1 else "no other seed of it to run"))
    return planned


def units(jobs: list[JobSpec], trackers: tuple[str, ...] = ()) -> list[list[JobSpec]]:
    """The jobs as what one process trains at a time: each group of seeds that can be lanes, every other job alone."""
    return [unit for group, why in plan(jobs, trackers) for unit in ([group] if not why else [[j] for j in group])]


def check_group(jobs: list[JobSpec]) -> None:
    """Jobs given to train as lanes must be seeds of one configuration (one line naming the first that is not)."""
    for job in jobs[1:]:
        if group_key(job) != group_key(jobs[0]):
            raise Unbatchable(f"{job.job_id} differs from {jobs[0].job_id} in more than its seed")


def why_not(job: JobSpec) -> str:
    """Why this job cannot train as a lane ('' when it can)."""
    t = job.train
    if t.processes > 1:
        return f"processes: {t.processes} (a lane is one process)"
    return ""


@dataclass
class Stacked:
    """K copies of one net as stacked tensors, and a stateless copy of the net (on the meta device) to call them."""

    net: nn.Module
    params: dict[str, torch.Tensor]
    buffers: dict[str, torch.Tensor]

    @classmethod
    def of(cls, nets: list[nn.Module]) -> "Stacked":
        params, buffers = stack_module_state(nets)  # params come back as new leaves that require grad
        return cls(copy.deepcopy(nets[0]).to("meta"), params, buffers)

    def bind(self, params: dict, buffers: dict):
        """One lane's net: called inside vmap with that lane's slices."""
        return lambda *args: functional_call(self.net, (params, buffers), args)

    def parameters(self):  # what objectives' after_d_step (weight clipping) iterates
        return iter(self.params.values())

    @torch.no_grad()
    def copy_to(self, nets: list[nn.Module]) -> None:
        stacked = self.params | self.buffers
        for k, net in enumerate(nets):
            for name, t in [*net.named_parameters(), *net.named_buffers()]:
                t.copy_(stacked[name][k])


@dataclass
class StackedEMA:
    """The lanes' EMAs of G as stacked tensors, updated after each G step with the averaging function of their own
    AveragedModel (recipes.ema: parameters, then buffers). It is elementwise, so this is each lane's own update."""

    tensors: list[torch.Tensor]
    count: int  # AveragedModel's n_averaged, kept on the host: the first update copies instead of averaging
    average: Any

    @classmethod
    def of(cls, emas: list[AveragedModel | None]) -> "StackedEMA | None":
        if emas[0] is None:
            return None
        tensors = [torch.stack(ts) for ts in zip(*(_averaged(ema) for ema in emas), strict=True)]
        return cls(tensors, int(emas[0].n_averaged), emas[0].multi_avg_fn)

    @torch.no_grad()
    def update(self, G: Stacked) -> None:
        current = [t.detach() for t in (*G.params.values(), *G.buffers.values())]
        if self.count == 0:
            torch._foreach_copy_(self.tensors, current)
        else:
            by_dtype: dict[torch.dtype, tuple[list, list]] = {}  # as AveragedModel groups them: one call per dtype
            for ema, cur in zip(self.tensors, current, strict=True):
                by_dtype.setdefault(ema.dtype, ([], []))[0].append(ema)
                by_dtype[ema.dtype][1].append(cur)
            for emas, currents in by_dtype.values():
                self.average(emas, currents, None)
        self.count += 1

    @torch.no_grad()
    def copy_to(self, emas: list[AveragedModel]) -> None:
        for k, ema in enumerate(emas):
            for t, stacked in zip(_averaged(ema), self.tensors, strict=True):
                t.copy_(stacked[k])
            ema.n_averaged.fill_(self.count)


def _averaged(ema: AveragedModel) -> list[torch.Tensor]:
    return [t.detach() for t in (*ema.module.parameters(), *ema.module.buffers())]


def stacked_optimizer(train, opts: list[torch.optim.Optimizer], params: list[torch.Tensor]) -> torch.optim.Optimizer:
    """One optimiser over the stacked parameters holding every lane's state: per-parameter tensors stacked, the
    step count shared (lanes step together). Hyper-parameters (lr included) are lane 0's."""
    opt = recipes.optimizer(train, params, opts[0].param_groups[0]["lr"])
    for group, lane_group in zip(opt.param_groups, opts[0].param_groups, strict=True):
        group.update({k: v for k, v in lane_group.items() if k != "params"})
    copy_state(opt, opts, into_lanes=False)
    return opt


def copy_state(opt: torch.optim.Optimizer, opts: list[torch.optim.Optimizer], into_lanes: bool) -> None:
    """Optimiser state between the stacked optimiser and the lanes' own, in the direction asked."""
    stacked = opt.param_groups[0]["params"]
    lanes = [o.param_groups[0]["params"] for o in opts]
    for i, p in enumerate(stacked):
        if into_lanes:
            for k, o in enumerate(opts):
                o._opt_called = True  # it has stepped, as the stacked optimiser: its schedule need not warn
                o.state[lanes[k][i]] = {n: _lane_slice(n, v, k) for n, v in opt.state[p].items()}
        elif opts[0].state.get(lanes[0][i]):
            states = [o.state[lane[i]] for o, lane in zip(opts, lanes, strict=True)]
            opt.state[p] = {
                n: v.clone() if n == "step" else torch.stack([s[n] for s in states]) for n, v in states[0].items()
            }


def _lane_slice(name: str, value, k: int):
    """Lane k's own copy of one optimiser-state entry (a clone, not a view that would keep all K lanes' storage)."""
    if not torch.is_tensor(value):
        return value
    return value.clone() if name == "step" else value[k].clone()


@dataclass
class LaneStep:
    """One training step of K lanes: one D step on each lane's batch, then (when update_g) one G step."""

    G: Stacked
    D: Stacked
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    objective: Any
    gens: list[torch.Generator]
    z_dim: int
    num_classes: int
    augment: Augment = field(default_factory=Augment)
    precision: str = precision.DEFAULT
    ema: StackedEMA | None = None
    # The draws each loss makes, by which loss and batch shape (see draws.py): recorded once, drawn per lane per step.
    recorded: dict[tuple, list[draws.Spec]] = field(default_factory=dict)
    mode = "eager"  # lanes are not captured in a CUDA graph (yet)

    def batches(self, lanes: list[Lane]):
        """Each lane's next batch from its own data order, stacked: images [K, B, C, H, W], labels [K, B]."""
        for parts in zip(*(lane.loader for lane in lanes), strict=True):
            yield tuple(torch.stack(p) for p in zip(*parts, strict=True))

    def __call__(self, images: torch.Tensor, labels: torch.Tensor, update_g: bool) -> list[dict[str, float]]:
        """images [K, B, C, H, W] uint8, labels [K, B]; each lane's losses and D outputs."""
        device, batch = images.device, images.size(1)
        autocast = precision.autocast(self.precision, device)
        real = images.float() / 127.5 - 1
        # Per lane in a separate job's order: the real batch's augmentation, the fake labels, the noise, then the
        # draws of D's loss and, after D's step, of G's.
        if self.augment.real:
            real = torch.stack([self.augment.real(r, draws.Live(g)) for r, g in zip(real, self.gens, strict=True)])
        y_fake = torch.stack([torch.randint(self.num_classes, (batch,), generator=g, device=device) for g in self.gens])
        z = torch.stack([torch.randn(batch, self.z_dim, generator=g, device=device) for g in self.gens])
        with torch.set_grad_enabled(update_g), autocast:
            fake = vmap(self._g)(self.G.params, self.G.buffers, z, y_fake)
        d_args = (real, fake.detach(), labels, y_fake)
        with autocast:
            d_draws = self.lane_draws("d", self.objective.d_loss, d_args)
            d_loss, stats = vmap(self._d_loss)(self.D.params, self.D.buffers, *d_args, d_draws)
        stats = {"d_loss": _step(self.opt_d, d_loss), **stats}
        self.objective.after_d_step(self.D)
        if update_g:
            g_args = (fake, y_fake, real)
            with autocast:
                g_draws = self.lane_draws("g", self.objective.g_loss, g_args)
                g_loss, g_stats = vmap(self._g_loss)(self.D.params, self.D.buffers, *g_args, g_draws)
            stats |= {"g_loss": _step(self.opt_g, g_loss), **g_stats}
            if self.ema is not None:
                self.ema.update(self.G)
        values = stack(stats).tolist()  # [stat][lane], one device-to-host copy
        return [dict(zip(stats, lane, strict=True)) for lane in zip(*values, strict=True)]

    def lane_draws(self, which: str, loss, args: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
        """What `loss` draws on these lanes' batches, drawn from each lane's generator: [K, ...] tensors in order."""
        key = (which, *(tuple(a.shape) for a in args))
        if key not in self.recorded:
            record = draws.Record()
            with torch.enable_grad():  # on lane 0's shapes, D a stand-in: only the sequence of draws is kept
                loss(_stand_in_d, *(a[0].detach() for a in args), draw=record)
            self.recorded[key] = record.specs
        return draws.for_lanes(self.recorded[key], self.gens, args[0].device)

    @classmethod
    def of(cls, jobs: list[JobSpec], states: list[TrainState], gens: list[torch.Generator], num_classes: int):
        """The step for lanes whose nets and optimisers are `states` (stacked copies of them: see copy_back)."""
        t, job = jobs[0].train, jobs[0]
        G, D = Stacked.of([s.G for s in states]), Stacked.of([s.D for s in states])
        opt_g = stacked_optimizer(t, [s.opt_g for s in states], list(G.params.values()))
        opt_d = stacked_optimizer(t, [s.opt_d for s in states], list(D.params.values()))
        augment = AUGMENTS.get(t.augment)
        objective = OBJECTIVES.get(t.objective)(t, augment.d_input, input_grad=func_input_grad)
        ema = StackedEMA.of([s.ema for s in states])
        return cls(G, D, opt_g, opt_d, objective, gens, job.model.z_dim, num_classes, augment, t.precision, ema)

    def copy_back(self, states: list[TrainState]) -> None:
        """The lanes' nets and optimiser states, from the stacked tensors into each lane's own TrainState."""
        self.G.copy_to([s.G for s in states])
        self.D.copy_to([s.D for s in states])
        copy_state(self.opt_g, [s.opt_g for s in states], into_lanes=True)
        copy_state(self.opt_d, [s.opt_d for s in states], into_lanes=True)
        if self.ema is not None:
            self.ema.copy_to([s.ema for s in states])

    def next_lr(self, lane: TrainState) -> None:
        """The next epoch's learning rates, as the lanes' own schedules (stepped by end_epoch) set them."""
        for opt, lane_opt in ((self.opt_g, lane.opt_g), (self.opt_d, lane.opt_d)):
            for group, lane_group in zip(opt.param_groups, lane_opt.param_groups, strict=True):
                group["lr"] = lane_group["lr"]

    def _g(self, params, buffers, z, y):
        return self.G.bind(params, buffers)(z, y)

    def _d_loss(self, params, buffers, real, fake, y_real, y_fake, drawn):
        return self.objective.d_loss(self.D.bind(params, buffers), real, fake, y_real, y_fake, draws.Replay(drawn))

    def _g_loss(self, params, buffers, fake, y_fake, real, drawn):
        return self.objective.g_loss(self.D.bind(params, buffers), fake, y_fake, real, draws.Replay(drawn))


def _stand_in_d(x: torch.Tensor, *_) -> torch.Tensor:
    """A D for recording draws: differentiable in its input (the penalty takes its gradient), cheap, no parameters."""
    return x.flatten(1).sum(1)


def _step(opt: torch.optim.Optimizer, losses: torch.Tensor) -> torch.Tensor:
    """The lanes' losses summed: lanes share no parameter, so each lane's gradient is its own loss's."""
    opt.zero_grad(set_to_none=True)
    losses.sum().backward()
    opt.step()
    return losses.detach()


def train_lanes(jobs, runs, accelerator, data, scorers, progress=None, stop=None, diverged=None) -> list[Lane]:
    """Train K lanes to their last epoch with the one loop (loop.loop), resuming from their checkpoints; returns
    the lanes, each with its outcome (None: trained to the end). `diverged(lane)` is called as a lane diverges, so its
    result is recorded at once. Raises Unbatchable when they cannot train together."""
    with precision.flags(jobs[0].train.precision):
        lanes = open_lanes(jobs, runs, accelerator, data, scorers)
        gens = [lane.gen for lane in lanes]
        train_step = LaneStep.of(jobs, [lane.s for lane in lanes], gens, len(data.class_names))
        return loop(lanes, train_step, accelerator, progress, stop, diverged)


def open_lanes(jobs, runs, accelerator, data, scorers) -> list[Lane]:
    """Every lane opened on one copy of the data on the device; Unbatchable when they cannot train together."""
    device = accelerator.device
    if accelerator.num_processes > 1:
        raise Unbatchable("lanes train in one process")
    if not batching.fits(data, device):
        raise Unbatchable(f"the dataset does not fit on {device}")
    data = dataclasses.replace(data, images=data.images.to(device), labels=data.labels.to(device))
    opened = zip(jobs, runs, scorers, strict=True)
    lanes = [open_lane(job, run, data, accelerator, scorer, own_rng=True) for job, run, scorer in opened]
    if len({(lane.at.epoch, lane.at.step, lane.at.batch) for lane in lanes}) > 1:
        raise Unbatchable("their checkpoints stand at different points")
    return lanes
