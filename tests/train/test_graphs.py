"""The CUDA-graph step trains like the eager one (checked on a GPU); elsewhere the step stays eager and says why."""

import logging
import os
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState

from harness.config.specs import DataSpec, JobSpec, ModelSpec, TrainSpec
from harness.core import precision
from harness.data import load_dataset
from harness.models import ARCHS
from harness.train import graphs
from harness.train.augment import AUGMENTS
from harness.train.loop import prepare
from harness.train.objectives import OBJECTIVES
from harness.train.step import Step

# cuBLAS picks its reduction order per stream unless its workspace is fixed; the graph runs on a capture stream.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")

# Every arch with its paper's settings (n_critic, optimiser, objective), then the recipes that add work to a step.
CASES = [(arch, {}) for arch in ARCHS.names()] + [
    ("dcgan", {"augment": "diffaugment"}),
    ("dcgan", {"augment": "cutmix", "label_smoothing": 0.1}),
    ("dcgan", {"ema": 0.999}),
    ("dcgan", {"precision": "bf16"}),
    ("dcgan", {"n_critic": 2, "lr_schedule": "exponential"}),
]
IDS = [f"{arch}-{'-'.join(map(str, kw.values())) or 'paper'}" for arch, kw in CASES]


def job_for(arch: str, **train) -> JobSpec:
    train = {"precision": "fp32"} | ARCHS.get(arch).recipe | train  # fp32: TF32 rounding would blur it
    return JobSpec(
        model=ModelSpec(arch=arch, ngf=16, ndf=16, z_dim=32, arch_version=ARCHS.get(arch).version),
        data=DataSpec(source="synthetic", label="synthetic", resolution=32, n_images=256),
        train=TrainSpec(epochs=2, seed=3, batch_size=32, **train),
    )


def make(job: JobSpec, device: str):
    AcceleratorState._reset_state(reset_partial_state=True)  # a CPU test after a GPU one in the same process
    accelerator = Accelerator(cpu=device == "cpu")
    data = load_dataset(job.data, Path("."))
    s, batches, _ = prepare(job, data, accelerator, resident=True)
    augment = AUGMENTS.get(job.train.augment)
    objective = OBJECTIVES.get(ARCHS.get(job.model.arch).objective)(job.train, augment.d_input)
    step = Step(s, objective, augment, accelerator, job.model.z_dim, len(data.class_names), job.train.precision)
    return s, batches, step


def train(job: JobSpec, graph: bool, steps: int = 6):
    """`steps` steps (and a learning-rate change half-way, as an epoch boundary makes); the state after, and stats."""
    s, batches, step = make(job, "cuda")
    graphs.settle_optimizers(s, step.accelerator.device)  # as the trainer does: capturable on a GPU, graph or not
    train_step = graphs.for_job(step, graph)
    batches.set_epoch(1)
    seen = []
    with precision.flags(job.train.precision):
        for k, (images, labels) in zip(range(steps), batches, strict=False):
            if k == steps // 2:
                s.sched_g.step(), s.sched_d.step()
            seen.append(train_step(images, labels, (k + 1) % job.train.n_critic == 0))
    if graph:
        assert train_step.mode == "graph", train_step.fallback
    state = {f"G.{k}": v for k, v in s.G.state_dict().items()} | {f"D.{k}": v for k, v in s.D.state_dict().items()}
    if s.ema is not None:
        state |= {f"ema.{k}": v for k, v in s.ema.module.state_dict().items()}
    for name, opt in (("opt_g", s.opt_g), ("opt_d", s.opt_d)):
        for i, st in enumerate(opt.state.values()):
            state |= {f"{name}.{i}.{k}": v for k, v in st.items() if torch.is_tensor(v) and k != "step"}
    return state, seen


@cuda
@pytest.mark.gpu
@pytest.mark.parametrize(("arch", "train_kw"), CASES, ids=IDS)
def test_graph_step_trains_like_the_eager_step(arch, train_kw, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    job = job_for(arch, **train_kw)
    eager, eager_stats = train(job, graph=False)
    captured, graph_stats = train(job, graph=True)
    assert eager.keys() == captured.keys()
    # The same kernels on the same inputs and noise, so equal up to rounding. Adam's first steps move each weight by
    # about ±lr whatever the size of its gradient, so a rounding difference can flip a near-zero gradient's sign:
    # hence a relative tolerance rather than bit equality. fp32 passed at 1e-4 on an H100 (2026-11-22); bf16 rounds
    # at ~4e-3 and differed by 2.8e-3 there (G's first layer after 6 steps), so it gets 1e-2.
    rel = 1e-2 if job.train.precision == "bf16" else 1e-4
    for name in eager:
        a, b = eager[name].double(), captured[name].double()
        assert torch.linalg.norm(a - b) <= rel * torch.linalg.norm(a) + 1e-7, name
    for a, b in zip(eager_stats, graph_stats, strict=True):
        assert a.keys() == b.keys()
        assert all(b[k] == pytest.approx(a[k], rel=rel, abs=1e-5) for k in a)


def test_without_cuda_the_step_stays_eager_and_says_why(caplog):
    job = job_for("dcgan")
    _, batches, step = make(job, "cpu")
    with caplog.at_level(logging.INFO, logger="harness"):
        chosen = graphs.for_job(step, enabled=True)
    assert chosen is step
    assert "step: eager (CUDA graphs need a CUDA device, not cpu)" in caplog.text


def test_disabled_graphs_keep_the_eager_step():
    _, _, step = make(job_for("dcgan"), "cpu")
    assert graphs.for_job(step, enabled=False) is step


def test_the_warmup_leaves_no_trace():
    """graphs.restored puts every tensor back in place (and zeroes state created inside), so the warm-up steps a
    capture needs never change what a job trains on. Checked on the CPU, where the same code runs eagerly."""
    s, batches, step = make(job_for("dcgan"), "cpu")
    batches.set_epoch(1)
    images, labels = next(iter(batches))
    before = graphs.state_tensors(s)
    saved = [t.clone() for t in before]
    with graphs.restored(lambda: graphs.state_tensors(s)):
        step(images, labels, True)
    after = graphs.state_tensors(s)
    assert all(a is b for a, b in zip(before, after, strict=False))  # in place: a graph's addresses stay valid
    assert all(torch.equal(a, b) for a, b in zip(saved, after, strict=False))
    assert len(after) > len(before) and all(not t.any() for t in after[len(before) :])  # Adam's state: zeros


def test_a_checkpoint_from_a_gpu_job_trains_on_after_settling_on_a_cpu():
    """Loading an optimiser restores the capturable flag it was saved with: a GPU job's (True) on a CPU would make
    Adam refuse its first step. settle_optimizers, which the trainer calls after every checkpoint load, puts the
    flag and the step counters where this device needs them."""
    s, batches, step = make(job_for("dcgan"), "cpu")
    batches.set_epoch(1)
    images, labels = next(iter(batches))
    step(images, labels, True)
    for opt in (s.opt_d, s.opt_g):
        saved = opt.state_dict()
        for group in saved["param_groups"]:
            group["capturable"] = True  # as a graph-captured GPU job checkpoints it
        opt.load_state_dict(saved)
    with pytest.raises(AssertionError, match="capturable"):
        step(images, labels, True)
    graphs.settle_optimizers(s, torch.device("cpu"))
    assert all(not g["capturable"] for opt in (s.opt_d, s.opt_g) for g in opt.param_groups)
    assert torch.isfinite(torch.tensor(step(images, labels, True)["g_loss"]))


def test_the_warmup_refuses_a_state_tensor_replaced_instead_of_updated():
    """A graph keeps the addresses it captured: a replaced tensor would leave it updating memory nothing reads."""
    kept, swapped = torch.zeros(3), torch.zeros(3)
    current = [kept, swapped]
    with pytest.raises(RuntimeError, match="replaced a state tensor"):
        with graphs.restored(lambda: current):
            current[1] = torch.ones(3)  # as if a warm-up step had rebound a buffer
            current.append(torch.ones(2))  # and lazily made new state alongside
    assert torch.equal(kept, torch.zeros(3))
