"""Jobs launched on this machine as real processes: a job of two DDP ranks, packed jobs, `harness run-job`, and the
stop signal a SLURM task gets before its time limit."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from harness.store.runs import RunDir
from harness.train import checkpoint
from tests.helpers import REPO, harness, tiny_suite


def _runs(results: Path) -> list[RunDir]:
    return [RunDir(p.parent) for p in sorted(results.rglob("spec.json"))]


@pytest.mark.integration
def test_a_two_process_job_trains_as_two_ranks_and_writes_one_record(tmp_path, inception_weights):
    """processes: 2 → `harness run` starts accelerate launch; two gloo ranks train and split the scoring."""
    eval_kw = {"metrics": ["fid"], "n_samples": 40, "ref_size": 32, "every": 1}
    suite = tiny_suite(tmp_path / "ddp.yaml", name="ddp", epochs=2, defaults={"processes": 2}, **eval_kw)
    done = harness("run", str(suite), "--results", str(tmp_path / "results"), "--device", "cpu", timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    [run] = _runs(tmp_path / "results")
    final = run.final()
    assert final["processes"] == 2
    records = run.metrics()
    assert [r["epoch"] for r in records] == [1, 2]  # one record per epoch: only rank 0 writes
    assert [r["step"] for r in records] == [4, 8]  # batch_size 16 is the global batch: 64 images → 4 steps
    assert all("fid" in r for r in records) and final["fid"] == records[-1]["fid"]

    # Scored once on the 40 samples both ranks made: the same generator scored in one process gives the same FID.
    from harness.data import load_dataset
    from harness.eval import scoring
    from harness.train import checkpoint
    from harness.train.state import build

    job = run.spec()
    G = build(job, 3).G
    checkpoint.load_generator(run, G, use_ema=False)
    data = load_dataset(job.data, Path("."))
    ref = scoring.reference(job, job.eval, Path("."), data)
    alone = scoring.score_generator(G, job, job.eval, ref, 0, "cpu")
    assert alone["fid"] == pytest.approx(final["fid"], rel=1e-4)


def _state(run: RunDir) -> dict:
    """What a job ended with, independent of timing: every epoch's losses and the final nets."""
    ckpt = checkpoint.read(run.checkpoint_path)
    losses = [{k: r[k] for k in ("epoch", "step", "d_loss", "g_loss", "d_real", "d_fake")} for r in run.metrics()]
    return {
        "losses": losses,
        "G": ckpt["G"],
        "D": ckpt["D"],
        "final": {k: v for k, v in run.final().items() if k in ("fid", "kid")},
    }


def test_packed_jobs_end_exactly_as_jobs_run_one_by_one(tmp_path):
    """--jobs-per-gpu 2 runs two jobs at once in their own processes; with the same threads per job (CPU kernels
    split reductions by thread) every loss and weight is bit-identical to running them one after another."""
    suite = tiny_suite(tmp_path / "pack.yaml", name="pack", epochs=2, seeds=(0, 1), n_images=128)
    one_by_one, packed = tmp_path / "one", tmp_path / "packed"
    common = ("--device", "cpu", "--threads", "1")
    assert harness("run", str(suite), "--results", str(one_by_one), *common).returncode == 0
    done = harness("run", str(suite), "--results", str(packed), "--jobs-per-gpu", "2", *common)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "packing 2 jobs, 2 at a time" in done.stderr
    a, b = _runs(one_by_one), _runs(packed)
    assert [r.path.name for r in a] == [r.path.name for r in b] and len(a) == 2
    for x, y in zip(a, b, strict=True):
        sx, sy = _state(x), _state(y)
        assert sx["losses"] == sy["losses"] and sx["final"] == sy["final"]
        for net in ("G", "D"):
            assert all(torch.equal(sx[net][k], sy[net][k]) for k in sx[net]), f"{x.path.name} {net} differs"
        assert y.log_path.exists()  # a packed job's output goes to its run.log
    again = harness("run", str(suite), "--results", str(packed), "--jobs-per-gpu", "2", *common)
    assert again.returncode == 0 and "0 done, 2 skipped" in again.stdout


def test_run_job_runs_one_job_by_index_or_id_and_is_idempotent(tmp_path):
    suite = tiny_suite(tmp_path / "two.yaml", name="two", epochs=1, seeds=(0, 1))
    results = str(tmp_path / "results")
    first = harness("run-job", str(suite), "--index", "1", "--results", results, "--device", "cpu")
    assert first.returncode == 0, first.stderr
    [run] = _runs(tmp_path / "results")
    assert run.state == "done" and run.spec().train.seed == 1
    again = harness("run-job", str(suite), "--job-id", run.path.name, "--results", results, "--device", "cpu")
    assert again.returncode == 0 and run.final() is not None
    for args, fragment in [
        (("--index", "2"), "--index 2: two has jobs 0 to 1"),
        (("--job-id", "nope"), "--job-id nope: not a job of two"),
        ((), "give exactly one of --index and --job-id"),
    ]:
        bad = harness("run-job", str(suite), *args, "--results", results)
        assert bad.returncode == 2 and fragment in bad.stderr and "Traceback" not in bad.stderr


# TERM takes USR1's path (one handler for both): the default run checks SLURM's USR1, the complete run both
@pytest.mark.parametrize(
    "sig", [signal.SIGUSR1, pytest.param(signal.SIGTERM, marks=pytest.mark.integration)], ids=["USR1", "TERM"]
)
def test_a_stop_signal_checkpoints_exits_75_and_the_rerun_resumes(tmp_path, sig):
    """What a SLURM array task does before its time limit (USR1) or on preemption (TERM)."""
    suite = tiny_suite(tmp_path / "long.yaml", name="long", epochs=3, n_images=2048)  # 128 steps an epoch
    results = tmp_path / "results"
    command = [sys.executable, "-m", "harness", "run-job", str(suite), "--index", "0", "--results", str(results)]
    proc = subprocess.Popen([*command, "--device", "cpu"], cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(results.rglob("checkpoint.pt")) and time.monotonic() < deadline:  # epoch 1 is done
        time.sleep(0.05)
    time.sleep(0.3)  # inside epoch 2
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 75, stderr[-2000:]
    [run] = _runs(results)
    status = run.status()
    assert status["state"] == "interrupted" and "run again to resume" in status["error"]
    ckpt = checkpoint.read(run.checkpoint_path)
    stopped_at = (ckpt["epoch"], ckpt["batch"])
    assert stopped_at > (1, 0) and ckpt["epoch"] < 3  # past the first epoch's checkpoint, before the end
    assert "1 interrupted" in harness("status", str(suite), "--results", str(results)).stdout

    done = harness("run-job", str(suite), "--index", "0", "--results", str(results), "--device", "cpu")
    assert done.returncode == 0, done.stderr[-2000:]
    assert [r["epoch"] for r in run.metrics()] == [1, 2, 3]
    assert [r["step"] for r in run.metrics()] == [128 * e for e in range(1, 4)]  # no batch lost or repeated
    assert run.final()["resumed_from_epoch"] == ckpt["epoch"]
    assert json.loads(run.status_path.read_text())["state"] == "done"


@pytest.mark.integration
@pytest.mark.parametrize(
    ("packed", "gap"), [(False, 0.02), (False, 0.3), (True, 0.02)], ids=["while-stopping", "after-the-stop", "packed"]
)
def test_two_ctrl_c_in_quick_succession_still_say_interrupted_and_exit_130(tmp_path, packed, gap):
    """As a terminal sends them: SIGINT to the whole process group (packed jobs' processes too), the second while
    the first is being handled (Typer turned that into a silent exit 130) or after it (a traceback from the
    interpreter's shutdown, or none of the line)."""
    suite = tiny_suite(tmp_path / "long.yaml", name="long", epochs=3, n_images=512, seeds=(0, 1) if packed else (0,))
    results = tmp_path / "results"
    command = [sys.executable, "-m", "harness", "run", str(suite), "--results", str(results), "--device", "cpu"]
    command += ["--jobs-per-gpu", "2"] if packed else []
    proc = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not list(results.rglob("checkpoint.pt")) and time.monotonic() < deadline:  # in epoch 2
        time.sleep(0.02)
    for _ in range(2):
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(gap)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr[-2000:]
    assert [line for line in stderr.splitlines() if line.startswith("interrupted")], stderr[-2000:]
    logs = [run.log_path.read_text() for run in _runs(results) if run.log_path.exists()]
    assert all("Traceback" not in log for log in logs), logs
    assert len(logs) == (2 if packed else 0)


def test_a_diverging_job_stops_early_as_diverged_and_the_suite_goes_on(tmp_path):
    """lr 1e6 blows DCGAN's losses past 1e6 at its first step; the next job trains; the report says which and why."""
    suite = tiny_suite(tmp_path / "blowup.yaml", name="blowup", epochs=2)
    text = yaml.safe_load(suite.read_text())
    text["matrix"]["arch"] = ["dcgan", "sngan"]
    text["overrides"] = {"arch": {"dcgan": {"lr_d": 1.0e6, "lr_g": 1.0e6}}}
    suite.write_text(yaml.safe_dump(text))
    results = tmp_path / "results"
    ran = harness("run", str(suite), "--results", str(results), "--device", "cpu")
    assert ran.returncode == 0, ran.stderr
    assert "1 done, 0 skipped (already finished), 0 failed, 1 diverged" in ran.stdout
    runs = {run.spec().model.arch: run for run in _runs(results)}
    status = runs["dcgan"].status()
    assert status["state"] == "diverged" and status["epoch"] == 1 and status["step"] == 1
    assert "beyond ±1e+06" in status["reason"] and runs["dcgan"].final()["diverged"]["reason"] == status["reason"]
    assert runs["sngan"].state == "done"
    assert "diverged" in harness("status", str(suite), "--results", str(results)).stdout
    again = harness("run", str(suite), "--results", str(results), "--device", "cpu")
    assert "0 done, 2 skipped (already finished)" in again.stdout  # a diverged job is a result: not retrained

    assert harness("report", str(results / "blowup")).returncode == 0
    summary = (results / "blowup" / "summary.md").read_text()
    assert "## Diverged" in summary and f"`{runs['dcgan'].path.name}`: diverged in epoch 1 at step 1" in summary
    assert "diverged in epoch 1 at step 1: g_loss" in (results / "blowup" / "report.html").read_text()


@pytest.mark.integration
def test_a_job_diverging_on_two_ranks_stops_on_both_without_a_hang(tmp_path):
    """Ranks agree on the step to stop at (an all-reduce of the flag), so neither waits forever for the other."""
    defaults = {"processes": 2, "lr_d": 1.0e6, "lr_g": 1.0e6}
    suite = tiny_suite(tmp_path / "ddp.yaml", name="ddpblowup", epochs=2, defaults=defaults)
    results = tmp_path / "results"
    ran = harness("run", str(suite), "--results", str(results), "--device", "cpu", timeout=240)
    assert ran.returncode == 0 and "1 diverged" in ran.stdout, ran.stderr[-3000:]
    [run] = _runs(results)
    status = run.status()
    assert status["state"] == "diverged" and status["epoch"] == 1 and "beyond ±1e+06" in status["reason"]
