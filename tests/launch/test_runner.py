from pathlib import Path

import pytest
import torch
from accelerate import Accelerator

from harness.launch.runner import run_job
from harness.report.aggregate import repeat_spread
from harness.store.runs import RunDir
from harness.train import checkpoint
from tests.helpers import tiny_job


def test_curve_epochs_are_scored_on_fewer_samples_and_the_last_eval_repeats_times(tmp_path, inception_weights):
    job = tiny_job(epochs=2, metrics=("fid",), every=1, n_samples=32, curve_samples=16, ref_size=32, repeats=2)
    run = RunDir(tmp_path / "job")
    assert run_job(job, run, Accelerator(cpu=True), Path(".")) == "done"
    records = run.metrics()
    assert [(r["epoch"], r["n_samples"]) for r in records] == [(1, 16), (2, 32)]
    assert all(r["fid"] > 0 for r in records) and "repeats" not in records[0]  # the curve: scored once
    final = run.final()
    assert final["fid"] == records[-1]["fid"] and final["protocol"]["n_samples"] == 32
    # The final score twice, from fresh noise against the one cached reference: each kept, their mean reported.
    first, second = (r["fid"] for r in final["repeats"])
    assert first != second and final["fid"] == pytest.approx((first + second) / 2)
    spread = repeat_spread(final)
    assert spread["repeats"] == 2 and spread["fid_repeat_std"] == pytest.approx(abs(first - second) / 2**0.5)


TIMING = ("train_seconds", "images_per_s", "seconds", "eval_seconds")


def test_same_spec_and_seed_give_bit_identical_final_metrics(tmp_path, inception_weights):
    """Two independent runs of one spec on CPU: every loss, score and weight equal, not merely close."""
    job = tiny_job(epochs=2, metrics=("fid", "kid"), n_samples=32, kid_subset_size=16, ref_size=32)
    runs = [RunDir(tmp_path / name) for name in ("first", "second")]
    for run in runs:
        assert run_job(job, run, Accelerator(cpu=True), Path(".")) == "done"
    first, second = ({k: v for k, v in run.final().items() if k not in TIMING} for run in runs)
    assert first == second and first["fid"] > 0 and first["kid"] is not None
    assert [{k: v for k, v in r.items() if k not in TIMING} for r in runs[0].metrics()] == [
        {k: v for k, v in r.items() if k not in TIMING} for r in runs[1].metrics()
    ]
    a, b = (checkpoint.read(run.checkpoint_path)["G"] for run in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert first["seed"] == job.train.seed
    assert set(first["env"]) >= {"harness", "python", "torch", "torchvision", "numpy", "accelerate", "torch_fidelity"}
