from pathlib import Path

from accelerate import Accelerator

from harness.runner import run_job
from harness.store import RunDir
from tests.helpers import tiny_job


def test_curve_epochs_are_scored_on_fewer_samples_than_the_last(tmp_path, inception_weights):
    job = tiny_job(epochs=2, metrics=("fid",), every=1, n_samples=32, curve_samples=16, ref_size=32)
    run = RunDir(tmp_path / "job")
    assert run_job(job, run, Accelerator(cpu=True), Path(".")) == "done"
    records = run.metrics()
    assert [(r["epoch"], r["n_samples"]) for r in records] == [(1, 16), (2, 32)]
    assert all(r["fid"] > 0 for r in records)
    final = run.final()
    assert final["fid"] == records[-1]["fid"] and final["protocol"]["n_samples"] == 32
