"""Seed-batched training (harness/train/lanes.py): K jobs that differ only in their seed trained as lanes of one batched
model end where K separate jobs end (to float rounding), stop and resume as separate jobs do, and fall back to
separate jobs whenever they cannot train together."""

import copy
import dataclasses
import errno
import itertools
import math
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from accelerate import Accelerator
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from harness.config.specs import JobSpec
from harness.core.errors import DiskError, explain_os_error
from harness.data import load_dataset
from harness.launch import runner
from harness.launch.local import run_suite
from harness.launch.processes import Where
from harness.launch.progress import describe
from harness.launch.runner import run_job, run_lanes
from harness.models import ARCHS
from harness.plan.suite import load_suite
from harness.store.runs import DIVERGED, DONE, FAILED, INTERRUPTED, RUNNING, RunDir, job_dir
from harness.train import checkpoint, distributed, lanes
from harness.train import loop as trainer
from harness.train.augment import AUGMENTS
from harness.train.distributed import StopRequest
from harness.train.loop import Diverged, Interrupted, NoProgress, train
from harness.train.objectives import OBJECTIVES
from harness.train.state import build
from harness.train.step import Step
from tests.helpers import StopAt, harness, tiny_job, tiny_suite


def _job(arch: str = "dcgan", seed: int = 0, epochs: int = 2, n_images: int = 64, **train_changes) -> JobSpec:
    """A tiny job (z_dim 16, ngf 8, ndf 8, 64 synthetic 32px images, batch 16: 4 steps an epoch) of any arch."""
    job = tiny_job(epochs=epochs, seed=seed, n_images=n_images, arch=arch)
    return dataclasses.replace(job, train=dataclasses.replace(job.train, **train_changes))


LANE_ARCHS = [arch for arch in ARCHS.names() if not lanes.why_not(_job(arch))]
# Every augmentation beside each arch with its own defaults: the draws inside a loss (DiffAugment in D's and G's
# losses, WGAN-GP's interpolation, both at once, a pair D's two inputs) and before it (CutMix, saturation on reals).
LANE_CASES = [(arch, {}) for arch in LANE_ARCHS] + [
    ("dcgan", {"augment": "diffaugment"}),
    ("dcgan", {"augment": "cutmix"}),
    ("dcgan", {"augment": "saturation"}),
    ("wgan-gp", {"augment": "diffaugment"}),
    ("siamese", {"augment": "diffaugment"}),
]
SEEDS = (0, 1)


@pytest.fixture(scope="module")
def accelerator():
    return Accelerator(cpu=True)


def _data(job: JobSpec):
    return load_dataset(job.data, Path("."))


def _train_lanes(jobs, runs, accelerator, progress=None, stop=None):
    return lanes.train_lanes(jobs, runs, accelerator, _data(jobs[0]), [None] * len(jobs), progress, stop)


def _assert_close(a: dict, b: dict, rel: float, what: str, floor: float = 1e-12) -> None:
    """Every tensor of two state dicts equal within `rel` of its largest magnitude (or of `floor`, if larger)."""
    assert a.keys() == b.keys(), what
    for key in a:
        x, y = a[key].double(), b[key].double()
        worst = (x - y).abs().max().item() if x.numel() else 0.0
        scale = max(x.abs().max().item() if x.numel() else 0.0, floor)
        assert worst <= rel * scale, f"{what}.{key}: differs by {worst:.3g} (largest {scale:.3g})"


def _assert_equal(a: dict, b: dict, what: str) -> None:
    assert a.keys() == b.keys(), what
    for key in a:
        assert torch.equal(a[key], b[key]), f"{what}.{key} differs"


@pytest.fixture(scope="module")
def straight(tmp_path_factory, accelerator) -> list[RunDir]:
    """Two dcgan lanes (seeds 0 and 1) trained for 2 epochs without interruption: what other runs are held to."""
    root = tmp_path_factory.mktemp("straight")
    jobs, runs = [_job(seed=s) for s in SEEDS], [RunDir(root / f"lane{s}") for s in SEEDS]
    ended = _train_lanes(jobs, runs, accelerator)
    assert [lane.outcome for lane in ended] == [None, None]
    return runs


# --- one step ------------------------------------------------------------------------------------------------------


class InDouble(nn.Module):
    """A net computing in float64 whatever it is given (the steps hand it float32 images and noise)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net.double()

    def forward(self, *args):
        return self.net(*(a.double() if a.is_floating_point() else a for a in args))


def _steps_alone_and_as_lanes(arch, accelerator, dtype, steps=3, **train):
    """`steps` LaneSteps of 2 lanes, and `steps` Steps of each seed alone, on the same batches of real images (G
    stepped at every other step, as with n_critic 2): each lane's and each job's stats per step, and the lanes' and
    the jobs' nets after them."""
    jobs = [_job(arch, seed=s, **train) for s in SEEDS]
    data = _data(jobs[0])
    num_classes = len(data.class_names)
    alone = []
    for job in jobs:
        torch.manual_seed(job.train.seed)
        s = build(job, num_classes)
        alone.append(dataclasses.replace(s, G=InDouble(s.G), D=InDouble(s.D)) if dtype == torch.float64 else s)
    together = copy.deepcopy(alone)
    picks = torch.randint(len(data.images), (steps, len(SEEDS), 16), generator=torch.Generator().manual_seed(123))
    images, labels = data.images[picks], data.labels[picks]  # [step, lane, batch, ...]
    update_g = [i % 2 == 0 for i in range(steps)]

    gens = [distributed.lane_generator(job.train.seed, torch.device("cpu")) for job in jobs]
    lane_step = lanes.LaneStep.of(jobs, together, gens, num_classes)
    batched = [lane_step(images[i], labels[i], update_g[i]) for i in range(steps)]
    lane_step.copy_back(together)

    separate = []
    for k, (job, s) in enumerate(zip(jobs, alone, strict=True)):
        torch.manual_seed(job.train.seed)  # a one-process job draws its noise from the global generator
        t = job.train
        objective = OBJECTIVES.get(t.objective)(t, AUGMENTS.get(t.augment).d_input)
        step = Step(s, objective, AUGMENTS.get(t.augment), accelerator, job.model.z_dim, num_classes)
        separate.append([step(images[i, k], labels[i, k], update_g[i]) for i in range(steps)])
    return [[batched[i][k] for i in range(steps)] for k in range(len(SEEDS))], separate, together, alone


def _assert_nets_close(together, alone, rel: float) -> None:
    for k, (a, b) in enumerate(zip(alone, together, strict=True)):
        for net in ("G", "D"):
            x, y = getattr(a, net).state_dict(), getattr(b, net).state_dict()
            # a floor: SAGAN's key bias has no gradient but rounding (softmax ignores a shift), so it stays ~1e-19
            _assert_close(x, y, rel, f"lane {k} {net}", floor=1e-6)


@pytest.mark.parametrize("arch, train", LANE_CASES, ids=lambda v: v if isinstance(v, str) else "-".join(v.values()))
def test_lane_steps_compute_exactly_what_separate_steps_compute(arch, train, accelerator):
    """In float64 rounding cannot hide a mistake: after 3 steps, 2 lanes of every arch (and augmentation) give each
    job's losses and D outputs (to float32 rounding: stats are read as float32), its nets to 1e-9 and its optimiser
    moments to 1e-8 (a siamese D's with DiffAugment come 2e-9 apart); so each lane drew its noise and augmentations
    as a separate job of its seed draws them. (In float32 some archs end 1e-3 apart, as the next test says: rounding
    amplified, not a mistake.)"""
    lane_stats, job_stats, together, alone = _steps_alone_and_as_lanes(arch, accelerator, torch.float64, **train)
    for k in range(len(SEEDS)):
        assert lane_stats[k] == [pytest.approx(stats, rel=1e-6) for stats in job_stats[k]], f"lane {k}"  # float32 stats
        assert ["g_loss" in stats for stats in lane_stats[k]] == [True, False, True]
    _assert_nets_close(together, alone, 1e-9)
    for k, (a, b) in enumerate(zip(alone, together, strict=True)):
        for name in ("opt_g", "opt_d"):
            want, got = getattr(a, name).state_dict()["state"], getattr(b, name).state_dict()["state"]
            assert want.keys() == got.keys() and want
            for i in want:
                _assert_close(want[i], got[i], 1e-8, f"lane {k} {name} {i}", floor=1e-12)


def test_lane_steps_match_separate_steps_in_float32(accelerator):
    """In float32, the precision lanes train in, DCGAN's lanes stay within float rounding of separate jobs. (Other
    archs drift further after a few steps: vmap runs convolutions grouped, which rounds differently, and at
    initialisation their D's gradients can be ill-conditioned enough that Adam's first steps amplify that.)"""
    lane_stats, job_stats, together, alone = _steps_alone_and_as_lanes("dcgan", accelerator, torch.float32)
    for k in range(len(SEEDS)):
        for i, (got, expected) in enumerate(zip(lane_stats[k], job_stats[k], strict=True)):
            assert got.keys() == expected.keys()
            for name in expected:
                assert got[name] == pytest.approx(expected[name], rel=1e-4, abs=1e-5), f"lane {k} step {i} {name}"
    _assert_nets_close(together, alone, 1e-4)


# --- whole runs ----------------------------------------------------------------------------------------------------


def test_lanes_end_where_separate_jobs_end(tmp_path, accelerator, straight):
    for seed, lane in zip(SEEDS, straight, strict=True):
        alone = RunDir(tmp_path / f"alone{seed}")
        job = _job(seed=seed)
        assert train(job, alone, accelerator, _data(job)) == 0
        a, b = checkpoint.read(alone.checkpoint_path), checkpoint.read(lane.checkpoint_path)
        assert (a["job_id"], a["epoch"], a["step"]) == (b["job_id"], b["epoch"], b["step"]) == (job.job_id, 2, 8)
        for net in ("G", "D"):
            _assert_close(a[net], b[net], 1e-4, f"seed {seed} {net}")
        assert len(a["rng"]) == len(b["rng"]) == 1
        _assert_equal(a["rng"][0], b["rng"][0], f"seed {seed} rng")  # the lane drew exactly the noise the job did
        ra, rb = alone.metrics(), lane.metrics()
        assert [(r["epoch"], r["step"]) for r in ra] == [(r["epoch"], r["step"]) for r in rb] == [(1, 4), (2, 8)]
        for key in ("d_loss", "g_loss"):
            assert [r[key] for r in rb] == pytest.approx([r[key] for r in ra], rel=1e-5), f"seed {seed} {key}"
        assert all(r["cuda_graph"] == 0 for r in rb)
        assert (lane.samples_dir / "epoch_0001.png").is_file() and (lane.samples_dir / "epoch_0002.png").is_file()


def test_lanes_keep_each_jobs_ema_of_g(tmp_path, accelerator):
    jobs = [_job(seed=s, epochs=1, ema=0.9) for s in SEEDS]
    ended = _train_lanes(jobs, [RunDir(tmp_path / f"lane{s}") for s in SEEDS], accelerator)
    assert [lane.outcome for lane in ended] == [None, None]
    for job, lane in zip(jobs, ended, strict=True):
        alone = RunDir(tmp_path / f"alone{job.train.seed}")
        train(job, alone, accelerator, _data(job))
        a, b = checkpoint.read(alone.checkpoint_path)["ema"], checkpoint.read(lane.run.checkpoint_path)["ema"]
        assert a is not None and b is not None
        assert a["n_averaged"] == b["n_averaged"] == 4  # one update per G step
        _assert_close(a, b, 1e-4, f"seed {job.train.seed} ema")


def test_stopped_lanes_checkpoint_and_resume_as_lanes_or_as_separate_jobs(tmp_path, accelerator, straight):
    jobs, runs = [_job(seed=s) for s in SEEDS], [RunDir(tmp_path / f"lane{s}") for s in SEEDS]
    stop = StopRequest()
    ended = _train_lanes(jobs, runs, accelerator, StopAt(stop, 2, 2), stop)
    for lane, run in zip(ended, runs, strict=True):
        assert isinstance(lane.outcome, Interrupted)
        assert (lane.outcome.epoch, lane.outcome.batch) == (2, 2)
        ckpt = checkpoint.read(run.checkpoint_path)
        assert (ckpt["epoch"], ckpt["batch"], ckpt["step"]) == (1, 2, 6)
        assert [r["epoch"] for r in run.metrics()] == [1]

    # Lane 1's mid-epoch checkpoint, resumed as a separate job.
    shutil.copytree(runs[1].path, tmp_path / "alone1")
    alone = RunDir(tmp_path / "alone1")
    assert train(jobs[1], alone, accelerator, _data(jobs[1])) == 1
    assert [(r["epoch"], r["step"]) for r in alone.metrics()] == [(1, 4), (2, 8)]
    a, b = checkpoint.read(straight[1].checkpoint_path), checkpoint.read(alone.checkpoint_path)
    for net in ("G", "D"):
        _assert_close(a[net], b[net], 1e-4, f"lane 1 resumed alone {net}")

    # Both resumed as lanes: bit for bit where the uninterrupted lanes ended.
    resumed = _train_lanes(jobs, runs, accelerator)
    assert [lane.outcome for lane in resumed] == [None, None]
    for seed, run, ref in zip(SEEDS, runs, straight, strict=True):
        a, b = checkpoint.read(ref.checkpoint_path), checkpoint.read(run.checkpoint_path)
        assert (b["epoch"], b["batch"], b["step"]) == (2, 0, 8)
        for net in ("G", "D"):
            _assert_equal(a[net], b[net], f"seed {seed} {net} after resume")
        _assert_equal(a["rng"][0], b["rng"][0], f"seed {seed} rng after resume")
        assert [(r["epoch"], r["step"]) for r in run.metrics()] == [(1, 4), (2, 8)]
        for key in ("d_loss", "g_loss", "d_real", "d_fake"):
            assert [r[key] for r in run.metrics()] == [r[key] for r in ref.metrics()], f"seed {seed} {key}"


def _flag_lane_1_at_step_3(monkeypatch):
    """divergence() names a reason for lane 1's stats at step 3 (it is called per live lane, lane by lane)."""
    calls, real = itertools.count(), trainer.divergence
    monkeypatch.setattr(trainer, "divergence", lambda stats: "flagged" if next(calls) == 5 else real(stats))
    return 3, "flagged"


def _poison_lane_1_after_step_2(monkeypatch):
    """Lane 1's D turns to NaN after step 2, so its losses at step 3 are NaN: a real divergence in one lane."""
    calls, real = itertools.count(1), lanes.LaneStep.__call__

    def poisoned(self, images, labels, update_g):
        stats = real(self, images, labels, update_g)
        if next(calls) == 2:
            with torch.no_grad():
                for p in self.D.params.values():
                    p[1].fill_(float("nan"))
        return stats

    monkeypatch.setattr(lanes.LaneStep, "__call__", poisoned)
    return 3, "d_loss is nan"


@pytest.mark.parametrize("diverge", [_flag_lane_1_at_step_3, _poison_lane_1_after_step_2], ids=["flagged", "nan"])
def test_one_lane_diverging_leaves_the_others_undisturbed(tmp_path, accelerator, straight, monkeypatch, diverge):
    at_step, reason = diverge(monkeypatch)
    jobs, runs = [_job(seed=s) for s in SEEDS], [RunDir(tmp_path / f"lane{s}") for s in SEEDS]
    ended = _train_lanes(jobs, runs, accelerator)
    assert ended[0].outcome is None
    assert isinstance(ended[1].outcome, Diverged)
    assert (ended[1].outcome.epoch, ended[1].outcome.step, ended[1].outcome.reason) == (1, at_step, reason)
    assert not runs[1].checkpoint_path.exists() and runs[1].metrics() == []  # it ended before its first epoch did
    a, b = checkpoint.read(straight[0].checkpoint_path), checkpoint.read(runs[0].checkpoint_path)
    for net in ("G", "D"):
        _assert_equal(a[net], b[net], f"lane 0 {net}")
    assert [r["d_loss"] for r in runs[0].metrics()] == [r["d_loss"] for r in straight[0].metrics()]


def test_every_lane_diverging_ends_the_run(tmp_path, accelerator):
    jobs = [_job(seed=s, lr_d=1.0e6, lr_g=1.0e6) for s in SEEDS]  # beyond ±1e6 at the first step
    ended = _train_lanes(jobs, [RunDir(tmp_path / f"lane{s}") for s in SEEDS], accelerator)
    for lane in ended:
        assert isinstance(lane.outcome, Diverged) and (lane.outcome.epoch, lane.outcome.step) == (1, 1)
        assert not lane.run.checkpoint_path.exists()


def _flag(monkeypatch, *calls: int) -> None:
    """divergence() names a reason ("flagged") at these calls: it is called per live lane, lane by lane, each step
    (so with 2 lanes, calls 0 and 1 are step 1's; once a lane has diverged only the others are asked)."""
    count, real = itertools.count(), trainer.divergence
    monkeypatch.setattr(trainer, "divergence", lambda stats: "flagged" if next(count) in calls else real(stats))


class Described:
    """Progress that reads each epoch's record as the suite's progress does (launch.progress.describe), and calls
    `look(record)` as each epoch ends."""

    def __init__(self, look=None):
        self.lines, self.look = [], look

    def epoch_started(self, epoch, steps):
        pass

    def step(self):
        pass

    def epoch_ended(self, record):
        self.lines.append(describe(record))
        if self.look:
            self.look(record)


def test_every_lane_diverging_the_last_at_an_epochs_last_step_ends_the_run(tmp_path, accelerator, monkeypatch):
    """Lane 0 diverges at step 1, lane 1 (asked alone from then on) at step 4, the last of the epoch: no lane lives
    through the epoch, so no epoch ends and no record is written (an empty record once reached the progress)."""
    _flag(monkeypatch, 0, 4)
    jobs, runs = [_job(seed=s) for s in SEEDS], [RunDir(tmp_path / f"lane{s}") for s in SEEDS]
    progress = Described()
    ended = _train_lanes(jobs, runs, accelerator, progress)
    assert [type(lane.outcome) for lane in ended] == [Diverged, Diverged]
    assert [(lane.outcome.epoch, lane.outcome.step, lane.outcome.reason) for lane in ended] == [
        (1, 1, "flagged"),
        (1, 4, "flagged"),
    ]
    assert progress.lines == []
    for run in runs:
        assert not run.checkpoint_path.exists() and run.metrics() == []


def test_lanes_train_at_a_live_lanes_learning_rates_after_lane_0_diverges(tmp_path, accelerator, monkeypatch):
    """A diverged lane's schedule is no longer stepped: after lane 0 diverges in epoch 1, lane 1 still trains at its
    cosine schedule's rates, so it ends bit for bit where it ends beside a live lane 0 (lr_d differs from lr_g, so
    each net's rate comes from its own schedule)."""
    jobs = [_job(seed=s, epochs=3, n_images=32, lr_schedule="cosine", lr_d=4e-4) for s in SEEDS]  # 2 steps an epoch
    straight = [RunDir(tmp_path / f"straight{s}") for s in SEEDS]
    assert [lane.outcome for lane in _train_lanes(jobs, straight, accelerator)] == [None, None]

    _flag(monkeypatch, 0)  # lane 0 at step 1
    runs = [RunDir(tmp_path / f"lane{s}") for s in SEEDS]
    ended = _train_lanes(jobs, runs, accelerator)
    assert isinstance(ended[0].outcome, Diverged) and (ended[0].outcome.epoch, ended[0].outcome.step) == (1, 1)
    assert ended[1].outcome is None
    a, b = checkpoint.read(straight[1].checkpoint_path), checkpoint.read(runs[1].checkpoint_path)
    assert (b["epoch"], b["step"]) == (3, 6)
    for net in ("G", "D"):
        _assert_equal(a[net], b[net], f"lane 1 {net}")
    for name in ("opt_g", "opt_d"):
        assert a[name]["state"].keys() == b[name]["state"].keys()
        for i in a[name]["state"]:
            _assert_equal(a[name]["state"][i], b[name]["state"][i], f"lane 1 {name} {i}")

    t, records = jobs[1].train, runs[1].metrics()
    factors = [0.5 * (1 + math.cos(math.pi * done / 3)) for done in range(3)]  # epoch e trains at lr x f(e - 1)
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert [r["lr_g"] for r in records] == pytest.approx([t.lr_g * f for f in factors], rel=1e-12)
    assert [r["lr_d"] for r in records] == pytest.approx([t.lr_d * f for f in factors], rel=1e-12)
    assert [r["d_loss"] for r in records] == [r["d_loss"] for r in straight[1].metrics()]


def _optimiser_tensors(state: dict) -> list[torch.Tensor]:
    return [v for per_param in state.values() for v in per_param.values() if torch.is_tensor(v)]


def test_each_lanes_checkpoint_holds_its_own_optimiser_state_alone(tmp_path, accelerator):
    """A lane's optimiser state is its own slice, copied out of the stacked state: no tensor keeps the storage of all
    K lanes (which torch.save would write whole), so a lane's checkpoint is the size of a separate job's."""
    jobs = [_job(seed=s, epochs=1) for s in range(4)]
    ended = _train_lanes(jobs, [RunDir(tmp_path / f"lane{job.train.seed}") for job in jobs], accelerator)
    assert [lane.outcome for lane in ended] == [None] * 4
    alone = RunDir(tmp_path / "alone")
    assert train(jobs[0], alone, accelerator, _data(jobs[0])) == 0
    expected, size = checkpoint.read(alone.checkpoint_path), alone.checkpoint_path.stat().st_size

    for k, lane in enumerate(ended):
        ckpt = checkpoint.read(lane.run.checkpoint_path)
        for name in ("opt_g", "opt_d"):
            saved = _optimiser_tensors(ckpt[name]["state"])
            held = _optimiser_tensors(getattr(lane.s, name).state)
            assert saved and len(saved) == len(held)
            for t in saved + held:
                assert t.untyped_storage().nbytes() == t.numel() * t.element_size(), f"lane {k} {name}"
            assert [t.shape for t in saved] == [t.shape for t in _optimiser_tensors(expected[name]["state"])]
        got = lane.run.checkpoint_path.stat().st_size
        assert abs(got - size) <= 0.05 * size, f"lane {k}: {got} bytes, a separate job's {size}"


# --- which jobs can be lanes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arch, changes, reason",
    [
        ("dcgan", {}, ""),
        ("wgan-gp", {}, ""),  # its penalty's input gradient through torch.func under vmap
        ("dcgan", {"augment": "diffaugment"}, ""),  # drawn from each lane's own generator
        ("dcgan", {"ema": 0.999}, ""),  # lanes stack their EMAs of G too
        ("dcgan", {"processes": 2}, "processes: 2"),
    ],
)
def test_why_not_says_why_a_job_cannot_be_a_lane(arch, changes, reason):
    why = lanes.why_not(_job(arch, **changes))
    if reason:
        assert reason in why
    else:
        assert why == ""


def test_groups_keep_suite_order_and_differ_only_in_the_seed():
    d0, w0, d1, fast0, w1, d2 = (
        _job("dcgan", 0),
        _job("wgan", 0),
        _job("dcgan", 1),
        _job("dcgan", 0, lr_d=1e-3),
        _job("wgan", 1),
        _job("dcgan", 2),
    )
    assert lanes.groups([d0, w0, d1, fast0, w1, d2]) == [[d0, d1, d2], [w0, w1], [fast0]]
    assert lanes.group_key(d0) == lanes.group_key(d2) != lanes.group_key(fast0)
    assert lanes.groups([]) == []


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_optimizer_state_round_trips_through_the_stacked_optimizer(optimizer):
    jobs = [_job(seed=s, optimizer=optimizer) for s in SEEDS]
    trained = []
    for job in jobs:
        torch.manual_seed(job.train.seed)
        s = build(job, 10)
        for _ in range(3):  # a few real optimiser steps, each lane on its own batch
            s.opt_d.zero_grad()
            s.D(torch.randn(4, 3, 32, 32), None).square().mean().backward()
            s.opt_d.step()
        trained.append(s)
    D = lanes.Stacked.of([s.D for s in trained])
    stacked = lanes.stacked_optimizer(jobs[0].train, [s.opt_d for s in trained], list(D.params.values()))
    assert stacked.param_groups[0]["lr"] == trained[0].opt_d.param_groups[0]["lr"]

    fresh = [build(job, 10) for job in jobs]
    lanes.copy_state(stacked, [s.opt_d for s in fresh], into_lanes=True)
    for k, (s, f) in enumerate(zip(trained, fresh, strict=True)):
        want, got = s.opt_d.state_dict()["state"], f.opt_d.state_dict()["state"]
        assert want.keys() == got.keys() and len(want) == len(list(s.D.parameters()))
        for i in want:
            _assert_equal(want[i], got[i], f"lane {k} param {i}")

    # The lanes' states are their own copies, not views of the stacked optimiser's.
    before = [copy.deepcopy(f.opt_d.state_dict()["state"]) for f in fresh]
    for p in D.params.values():
        p.grad = torch.ones_like(p)
    stacked.step()
    for f, was in zip(fresh, before, strict=True):
        now = f.opt_d.state_dict()["state"]
        for i in was:
            _assert_equal(was[i], now[i], f"param {i} after a stacked step")


# --- suites --------------------------------------------------------------------------------------------------------


def _suite(tmp_path: Path, archs: list[str], epochs: int, seeds, **axes) -> object:
    path = tiny_suite(tmp_path / "lanes.yaml", name="lanes", epochs=epochs, seeds=seeds)
    text = yaml.safe_load(path.read_text())
    text["matrix"] |= {"arch": archs, **axes}
    path.write_text(yaml.safe_dump(text))
    return load_suite(path)


def test_a_suite_trains_each_configurations_seeds_as_lanes(tmp_path, capfd):
    """dcgan and wgan-gp (its penalty's input gradient under vmap), both with DiffAugment: 3 seeds each as 3 lanes."""
    suite = _suite(tmp_path, ["dcgan", "wgan-gp"], epochs=1, seeds=(0, 1, 2), augment=["diffaugment"])
    where = Where(results=tmp_path / "results", data_root=tmp_path, device="cpu")
    outcome = run_suite(suite, list(suite.jobs), where, seed_batch=True)
    log = capfd.readouterr().err
    assert log.count("2 more seed(s) as lanes") == 2, log
    assert sorted(outcome.done) == sorted(job.job_id for job in suite.jobs) and len(outcome.done) == 6
    assert not (outcome.failed or outcome.interrupted or outcome.diverged or outcome.not_started)
    for job in suite.jobs:
        run = job_dir(where.results, suite.name, job.job_id)
        final = run.final()
        assert run.state == DONE and final["resumed_from_epoch"] == 0
        assert [r["epoch"] for r in run.metrics()] == [1]
        assert final["lanes"] == 3, job.job_id
    again = run_suite(suite, list(suite.jobs), where, seed_batch=True)
    assert len(again.skipped) == 6 and not again.done


class StopAfterEpoch(NoProgress):
    def __init__(self, stop, epoch):
        self.stop, self.epoch = stop, epoch

    def epoch_ended(self, record):
        if record["epoch"] == self.epoch:
            self.stop.set()


def test_seeds_whose_checkpoints_stand_apart_run_one_by_one(tmp_path, accelerator, capfd):
    suite = _suite(tmp_path, ["dcgan"], epochs=2, seeds=(0, 1))
    where = Where(results=tmp_path / "results", data_root=tmp_path, device="cpu")
    first = suite.jobs[0]
    run0 = job_dir(where.results, suite.name, first.job_id)
    stop = StopRequest()
    assert run_job(first, run0, accelerator, where.data_root, StopAfterEpoch(stop, 1), stop) == INTERRUPTED
    assert checkpoint.read(run0.checkpoint_path)["epoch"] == 1

    capfd.readouterr()
    outcome = run_suite(suite, list(suite.jobs), where, seed_batch=True)
    assert "cannot train them as lanes (their checkpoints stand at different points)" in capfd.readouterr().err
    assert sorted(outcome.done) == sorted(job.job_id for job in suite.jobs) and not outcome.failed
    for job, resumed_from in zip(suite.jobs, (1, 0), strict=True):
        run = job_dir(where.results, suite.name, job.job_id)
        final = run.final()
        assert run.state == DONE and "lanes" not in final and final["resumed_from_epoch"] == resumed_from
        assert [r["epoch"] for r in run.metrics()] == [1, 2]


def test_a_dry_run_shows_which_jobs_train_as_lanes_and_why_others_do_not(tmp_path):
    suite = _suite(tmp_path, ["dcgan"], epochs=1, seeds=(0, 1), processes=[1, 2])
    results = tmp_path / "results"
    done = harness("run", str(suite.path), "--dry-run", "--seed-batch", "--results", str(results))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert [line.split()[1] for line in lines] == [job.job_id for job in suite.jobs]
    paired, alone = [line for line in lines if "(lane " in line], [line for line in lines if "(alone: " in line]
    assert len(paired) == 2 and paired[0].endswith("(lane 1 of 2)") and paired[1].endswith("(lane 2 of 2)"), lines
    assert len(alone) == 2 and all(line.endswith("(alone: processes: 2 (a lane is one process))") for line in alone)
    assert not results.exists()


def test_seed_batch_with_jobs_per_gpu_trains_k_groups_of_lanes_at_once(tmp_path):
    """Two configurations' two seeds each, through the real CLI: two processes at once, each training its two seeds
    as lanes (`harness run-job --job-id A,B`), every job recorded as one of 2 lanes and a unit's log in its first
    job's run.log."""
    suite = _suite(tmp_path, ["dcgan", "wgan"], epochs=1, seeds=(0, 1))
    results = tmp_path / "results"
    args = ("--seed-batch", "--jobs-per-gpu", "2", "--threads", "1", "--results", str(results))
    done = harness("run", str(suite.path), *args, "--data-root", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "packing 4 jobs as 2 units (lanes), 2 at a time" in done.stderr + done.stdout
    for job in suite.jobs:
        run = job_dir(results, suite.name, job.job_id)
        assert run.state == DONE and run.final()["lanes"] == 2, job.job_id
    firsts = [job_dir(results, suite.name, group[0].job_id) for group in lanes.groups(list(suite.jobs))]
    assert all("1 more seed(s) as lanes" in run.log_path.read_text() for run in firsts)


def test_run_job_with_ids_of_different_configurations_is_one_line_and_exit_2(tmp_path):
    suite = _suite(tmp_path, ["dcgan", "wgan"], epochs=1, seeds=(0,))
    ids = ",".join(job.job_id for job in suite.jobs)
    done = harness("run-job", str(suite.path), "--job-id", ids, "--results", str(tmp_path / "results"))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "differs from" in done.stderr and "seeds of one configuration" in done.stderr
    assert not (tmp_path / "results").exists()


# --- run_lanes: each lane's records --------------------------------------------------------------------------------


def test_run_lanes_records_a_lanes_divergence_as_it_happens(tmp_path, accelerator, monkeypatch):
    """Lane 1 diverges at step 2: its status and final.json say so while lane 0 trains on (already when epoch 1
    ends), and lane 0 ends done, recorded as one of 2 lanes."""
    _flag(monkeypatch, 3)  # lane 1 at step 2
    jobs, runs = [_job(seed=s) for s in SEEDS], [RunDir(tmp_path / f"lane{s}") for s in SEEDS]
    seen = {}
    progress = Described(lambda record: seen.setdefault(record["epoch"], [RunDir(r.path).state for r in runs]))
    assert run_lanes(jobs, runs, accelerator, Path("."), progress) == [DONE, DIVERGED]
    assert seen == {1: [RUNNING, DIVERGED], 2: [RUNNING, DIVERGED]}

    where = {"epoch": 1, "step": 2, "reason": "flagged"}
    status, final = runs[1].status(), runs[1].final()
    assert status["state"] == DIVERGED and {k: status[k] for k in where} == where
    assert final["diverged"] == where and final["job_id"] == jobs[1].job_id and final["seed"] == 1
    assert runs[1].metrics() == []

    final = runs[0].final()
    assert runs[0].state == DONE
    assert final["lanes"] == 2 and final["epochs"] == 2 and final["resumed_from_epoch"] == 0 and "diverged" not in final
    assert [r["epoch"] for r in runs[0].metrics()] == [1, 2]


def test_run_lanes_a_lane_failing_as_it_finishes_fails_alone(tmp_path, accelerator, monkeypatch):
    """The disk fills as lane 1's final samples are written: lane 1 fails with the one-line disk error (returned in
    place of its state, not raised), and lane 0 is done."""
    jobs, runs = [_job(seed=s, epochs=1) for s in SEEDS], [RunDir(tmp_path / f"lane{s}") for s in SEEDS]
    real = runner.final_samples

    def disk_full_for_lane_1(job, run, num_classes):
        if run.path == runs[1].path:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(job, run, num_classes)

    monkeypatch.setattr(runner, "final_samples", disk_full_for_lane_1)
    states = run_lanes(jobs, runs, accelerator, Path("."))
    line = str(explain_os_error(OSError(errno.ENOSPC, "No space left on device")))
    assert line.startswith("no space left on device") and len(line.splitlines()) == 1
    assert len(states) == 2 and states[0] == DONE
    assert isinstance(states[1], DiskError) and str(states[1]) == line

    status = runs[1].status()
    assert status["state"] == FAILED and status["error"] == line and "traceback" not in status
    assert runs[1].final() is None and runs[1].checkpoint_path.exists()  # it resumes from there once there is room
    assert runs[0].state == DONE and runs[0].final()["lanes"] == 2
    assert (runs[0].samples_dir / "interpolation.png").is_file()


# --- spectral norm -------------------------------------------------------------------------------------------------


LAYERS = {
    "conv": lambda: nn.Conv2d(4, 8, 3),
    "conv-transpose": lambda: nn.ConvTranspose2d(8, 4, 4, 2, 1),
    "linear": lambda: nn.Linear(12, 6),
}


def _input(layer: nn.Module, n: int = 2) -> torch.Tensor:
    return torch.randn(n, 12) if isinstance(layer, nn.Linear) else torch.randn(n, layer.in_channels, 6, 6)


@pytest.mark.parametrize("make", LAYERS.values(), ids=LAYERS.keys())
def test_spectral_norm_is_torchs_to_the_bit(make):
    from torch.nn.utils.parametrizations import spectral_norm

    from harness.models.layers import SpectralNorm, sn

    torch.manual_seed(0)
    theirs = make()
    ours = copy.deepcopy(theirs)
    torch.manual_seed(1)  # both draw their initial u from the global generator
    spectral_norm(theirs)
    torch.manual_seed(1)
    sn(ours, True)
    assert isinstance(ours.parametrizations.weight[0], SpectralNorm)
    assert theirs.state_dict().keys() == ours.state_dict().keys()
    _assert_equal(theirs.state_dict(), ours.state_dict(), "initial state")
    for _ in range(4):  # one power iteration per training forward pass
        x = _input(theirs)
        assert torch.equal(theirs(x), ours(x))
    _assert_equal(theirs.state_dict(), ours.state_dict(), "after training forwards")
    theirs.eval(), ours.eval()
    x = _input(theirs)
    assert torch.equal(theirs(x), ours(x))


@pytest.mark.parametrize("make", LAYERS.values(), ids=LAYERS.keys())
def test_spectral_norm_batches_under_vmap(make):
    """What it is for: K stacked copies called in one vmap update each copy's u and v as each layer alone would."""
    from harness.models.layers import sn

    torch.manual_seed(0)
    layers = [nn.Sequential(sn(make(), True)).train() for _ in range(2)]  # parametrised layers' classes differ
    alone = copy.deepcopy(layers)
    params, buffers = stack_module_state(layers)
    meta = copy.deepcopy(layers[0]).to("meta")
    xs = torch.stack([_input(layers[0][0]) for _ in layers])
    for _ in range(3):
        out = vmap(lambda p, b, x: functional_call(meta, (p, b), (x,)))(params, buffers, xs)
        for k, layer in enumerate(alone):
            assert torch.allclose(out[k], layer(xs[k]), rtol=1e-5, atol=1e-6)
    for k, layer in enumerate(alone):
        for name, b in layer.named_buffers():
            assert torch.allclose(buffers[name][k], b, rtol=1e-5, atol=1e-6), f"layer {k} {name}"


# --- lane generators -----------------------------------------------------------------------------------------------


def test_a_lanes_cpu_generator_state_round_trips():
    gen = distributed.lane_generator(7, torch.device("cpu"))
    torch.randn(3, generator=gen)
    state = checkpoint.generator_state(gen)
    assert state.keys() == {"torch"} and torch.equal(state["torch"], gen.get_state())
    want = torch.randn(8, generator=gen)

    other = distributed.lane_generator(8, torch.device("cpu"))
    checkpoint.set_generator_state(other, {"torch": state["torch"]})  # a state with only a "torch" key
    assert torch.equal(torch.randn(8, generator=other), want)
    assert torch.equal(checkpoint.generator_state(other)["torch"], gen.get_state())

    with torch.random.fork_rng(devices=[]):  # the format a separate job resumes: its global generator goes on alike
        checkpoint.set_rng_state(state)
        assert torch.equal(torch.randn(8), want)


class _CudaGenerator:
    """Stands in for a CUDA generator (naming a CUDA device needs no GPU): the states it is set to."""

    device = torch.device("cuda", 1)

    def __init__(self):
        self.states = []

    def set_state(self, state):
        self.states.append(state)


def test_a_cpu_checkpoint_resumed_on_a_gpu_keeps_the_lanes_seeded_stream():
    """As checkpoint.set_rng_state: a state without "cuda" leaves a CUDA generator as seeded; with "cuda", it takes
    its device's entry."""
    gen = _CudaGenerator()
    checkpoint.set_generator_state(gen, {"torch": torch.get_rng_state()})
    assert gen.states == []
    cuda = [torch.zeros(4, dtype=torch.uint8), torch.ones(4, dtype=torch.uint8)]
    checkpoint.set_generator_state(gen, {"torch": torch.get_rng_state(), "cuda": cuda})
    assert len(gen.states) == 1 and gen.states[0] is cuda[1]
