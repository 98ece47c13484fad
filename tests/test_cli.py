"""The `harness` command as a user runs it: real processes for exit codes and output, tiny CPU suites."""

import json
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from tests.helpers import REPO, harness, tiny_suite


def test_help_lists_the_commands():
    done = harness("--help")
    assert done.returncode == 0
    for command in ("plan", "run", "report"):
        assert command in done.stdout
    run_help = harness("run", "--help").stdout
    for option in ("--only", "--results", "--device", "--dry-run", "--data-root"):
        assert option in run_help


def test_plan_lists_the_full_cifar_matrix():
    done = harness("plan", "suites/cifar_all.yaml")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("│ dcgan_")]
    assert len(lines) == 96 // 8  # dcgan's share: {cifar10, cats+dogs} x {32, 64} x 3 seeds
    assert "cifar_all: 96 jobs" in done.stdout and "cat+dog" in done.stdout
    for arch in ("cgan", "wgan-gp", "sngan", "sagan", "siamese-concat"):
        assert f"│ {arch}_cifar10" in done.stdout


def test_plan_gives_an_overridden_objective_or_learning_rate_its_own_ids(tmp_path):
    """The recipe is in the spec: a suite that changes an arch's objective or learning rate plans new jobs."""
    suite = yaml.safe_load(tiny_suite(tmp_path / "tiny.yaml").read_text())
    job = {"arch": "dcgan", "dataset": "synthetic", "epochs": 2, "seed": 0}
    suite["include"] = [{**job, "objective": "hinge"}, {**job, "lr_g": 1.0e-4}]
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(suite))
    done = harness("plan", str(tmp_path / "tiny.yaml"))
    assert done.returncode == 0, done.stderr
    ids = {line.split()[1] for line in done.stdout.splitlines() if line.startswith("│ dcgan_")}
    assert len(ids) == 3 and "tiny: 3 jobs" in done.stdout


def test_only_that_matches_nothing_is_a_usage_error():
    done = harness("plan", "suites/cifar_all.yaml", "--only", "nothing*")
    assert done.returncode == 2 and "matches no job" in done.stderr


def test_report_of_an_empty_folder_is_one_line(tmp_path):
    done = harness("report", str(tmp_path))
    assert done.returncode == 1 and "no runs under" in done.stderr and "Traceback" not in done.stderr


def _wait_for(predicate, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError


def test_killed_mid_epoch_run_resumes_from_the_last_checkpoint(tmp_path):
    # ~8 training steps per epoch, so a kill soon after epoch 1's checkpoint lands inside epoch 2.
    suite = tiny_suite(tmp_path / "kill.yaml", name="kill", epochs=4, n_images=1024)
    results = tmp_path / "results"
    cmd = [sys.executable, "-m", "harness.cli", "run", str(suite), "--results", str(results), "--device", "cpu"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: any(results.rglob("checkpoint.pt")))
        time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    run_dir = next(results.rglob("checkpoint.pt")).parent
    assert json.loads((run_dir / "status.json").read_text())["state"] == "running"  # killed, never finished
    epochs_before = [json.loads(line)["epoch"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert epochs_before and epochs_before[-1] < 4
    status = harness("status", str(suite), "--results", str(results))
    assert status.returncode == 0 and "kill: 0 done, 0 running, 1 stale" in status.stdout

    done = harness("run", str(suite), "--results", str(results), "--device", "cpu")
    assert done.returncode == 0, done.stderr
    assert f"resuming from the checkpoint of epoch {epochs_before[-1]}" in done.stderr
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3, 4]  # the counter continued, no epoch twice
    final = json.loads((run_dir / "final.json").read_text())
    assert final["resumed_from_epoch"] == epochs_before[-1] and final["epochs"] == 4


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_report_prints_a_cut_by_group_metric_and_filter(tmp_path):
    from tests.report.test_writer import fake_run

    for seed, fid in ((0, 100.0), (1, 110.0)):
        fake_run(tmp_path, seed, fid)
    done = harness("report", str(tmp_path / "s"), "--group-by", "arch", "--metric", "fid", "--where", "seed=0,1")
    assert done.returncode == 0, done.stderr
    assert "| arch | seeds | FID | rank (FID) |" in done.stdout
    assert "| dcgan | 2 | **105.00 [41.47, 168.53]** | 1 |" in done.stdout
    bad = harness("report", str(tmp_path / "s"), "--where", "seed")
    assert bad.returncode == 2 and "--where 'seed': use COLUMN=VALUE" in bad.stderr and "Traceback" not in bad.stderr
