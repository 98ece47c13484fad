"""Many processes, one results tree: array tasks side by side with a report being built, and one job never run twice
at once (an flock per job, which the kernel drops when its holder dies)."""

import csv
import os
import signal
import subprocess
import sys
import time

import pytest

from harness.store.runs import JobBusy, RunDir, iter_runs
from tests.helpers import REPO, harness, tiny_suite


def test_a_claimed_job_cannot_be_claimed_again_until_released(tmp_path):
    run = RunDir(tmp_path / "job")
    with run.claim():
        with pytest.raises(JobBusy, match=rf"already running \(on .+, pid {os.getpid()}, since "):
            with run.claim():
                pass
    with run.claim():
        pass


def test_the_claim_of_a_killed_holder_is_free_and_its_temp_files_cleared(tmp_path):
    run = RunDir(tmp_path / "job")
    holder = subprocess.Popen(
        [sys.executable, "-c", "from harness.store.runs import RunDir; import time\n"
         f"with RunDir({str(run.path)!r}).claim():"
         "\n    print('held', flush=True); time.sleep(60)"],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline() == "held\n"
    with pytest.raises(JobBusy, match=f"pid {holder.pid}"):
        with run.claim():
            pass
    (run.path / ".checkpoint.pt.x1.tmp").write_bytes(b"half a checkpoint")  # what a killed writer leaves
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with run.claim():
        assert not list(run.path.glob(".*.tmp"))


def _run_job(suite, results, index):
    command = [sys.executable, "-m", "harness", "run-job", str(suite), "--index", str(index), "--results", str(results)]
    command += ["--device", "cpu", "--threads", "1"]
    return subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)


def test_the_same_job_given_twice_runs_once(tmp_path):
    suite = tiny_suite(tmp_path / "twice.yaml", name="twice", epochs=3, n_images=1024)
    results = tmp_path / "results"
    first = _run_job(suite, results, 0)
    deadline = time.monotonic() + 120
    while not list(results.rglob("metrics.jsonl")) and time.monotonic() < deadline:  # training, lock held
        time.sleep(0.05)
    second = harness("run-job", str(suite), "--index", "0", "--results", str(results), "--device", "cpu")
    assert second.returncode == JobBusy.exit_code, second.stderr
    [line] = second.stderr.strip().splitlines()
    assert line.startswith("error: ") and f"already running (on {os.uname().nodename}, pid {first.pid}" in line
    assert first.wait(timeout=300) == 0, first.stderr.read()[-2000:]
    [run] = iter_runs(results)
    assert run.state == "done" and [r["epoch"] for r in run.metrics()] == [1, 2, 3]


def test_eight_array_tasks_and_a_report_share_one_results_tree(tmp_path):
    suite = tiny_suite(tmp_path / "eight.yaml", name="eight", epochs=2, seeds=range(8))
    results = tmp_path / "results"
    tasks = [_run_job(suite, results, i) for i in range(8)]
    reports = 0
    while any(t.poll() is None for t in tasks):
        if list(results.rglob("spec.json")):  # a report of whatever has started so far, while the rest write
            report = harness("report", str(results / "eight"))
            assert report.returncode == 0 and "Traceback" not in report.stderr, report.stderr[-2000:]
            reports += 1
        time.sleep(0.2)
    assert reports >= 1
    assert [t.returncode for t in tasks] == [0] * 8, [t.stderr.read()[-500:] for t in tasks if t.returncode]
    runs = list(iter_runs(results))
    assert len(runs) == 8
    for run in runs:
        assert run.state == "done" and [r["epoch"] for r in run.metrics()] == [1, 2] and run.final()["epochs"] == 2
    assert harness("report", str(results / "eight")).returncode == 0
    with open(results / "eight" / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted(int(r["seed"]) for r in rows) == list(range(8)) and {r["state"] for r in rows} == {"done"}
