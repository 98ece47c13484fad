"""Committed results regenerate: `harness report` over a copy of a committed folder's records writes tables
byte-identical to the committed ones. A committed folder is one under results/ with a README.md (command, machine,
date) and a summary.md; the copy holds the records only, so the tables are shown to depend on nothing else."""

import difflib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.store.runs import DIVERGED, FAILED, job_dir
from tests.helpers import REPO, fake_run, harness, protocol

RESULTS = REPO / "results"
RECORDS = ("spec.json", "status.json", "metrics.jsonl", "final.json", "scores.jsonl")  # what aggregate.py reads
TABLES = ("*.md", "*.tex", "*.csv")  # the report's text outputs (summary.md, headline.tex, summary.csv, scores.csv)


def committed() -> list:
    folders = sorted(p.parent for p in RESULTS.glob("*/summary.md") if (p.parent / "README.md").is_file())
    if not folders:
        reason = "no committed results yet (results/<suite>/ with README.md and summary.md); runs once there are"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason))]
    return [pytest.param(folder, id=folder.name) for folder in folders]


def copy_records(folder: Path, dest: Path) -> Path:
    """The run folders' records, under a folder of the same name (the `suite` column is that name)."""
    copy = dest / folder.name
    for spec in folder.rglob("spec.json"):
        run = spec.parent
        target = copy / run.relative_to(folder)
        target.mkdir(parents=True)
        for name in RECORDS:
            if (run / name).is_file():
                shutil.copy2(run / name, target / name)
    return copy


def tables(folder: Path) -> dict[str, bytes]:
    paths = [p for pattern in TABLES for p in folder.glob(pattern) if p.name != "README.md"]
    return {p.name: p.read_bytes() for p in sorted(paths)}


def report(folder: Path, env: dict | None = None) -> dict[str, bytes]:
    done = harness("report", str(folder), env=env)
    assert done.returncode == 0, done.stderr
    return tables(folder)


def assert_same(expected: dict[str, bytes], actual: dict[str, bytes]) -> None:
    assert sorted(actual) == sorted(expected), "the report writes other tables than those committed (or fewer)"
    for name, want in expected.items():
        if actual[name] != want:
            lines = want.decode().splitlines(), actual[name].decode().splitlines()
            diff = difflib.unified_diff(*lines, f"committed {name}", f"regenerated {name}", lineterm="")
            pytest.fail(f"{name} differs from the committed one:\n" + "\n".join(list(diff)[:40]))


@pytest.mark.parametrize("folder", committed())
def test_committed_tables_regenerate_from_the_records(folder, tmp_path):
    assert list(folder.rglob("spec.json")), f"{folder} has a report but no run records"
    assert_same(tables(folder), report(copy_records(folder, tmp_path)))


def fabricate(root: Path) -> Path:
    """Records of two protocols, a failed and a diverged seed, and a re-score."""
    job = fake_run(root, 0, 100.0)
    fake_run(root, 1, 110.0)
    fake_run(root, 2, 50.0, n_samples=128)
    fake_run(root, 3, 0.0, state=FAILED)
    diverged = job_dir(root, "s", fake_run(root, 4, 0.0, state=FAILED).job_id)
    diverged.set_status(DIVERGED, error="diverged in epoch 2: D loss is nan")
    rescore = {**protocol(64), "name": "fid64-test", "reference": {"split": "test", "n": 64}}
    job_dir(root, "s", job.job_id).append_scores({"epoch": 2, "fid": 80.0, "kid": 0.05, "protocol": rescore})
    return root / "s"


def test_the_tables_are_the_same_wherever_and_whenever_the_report_runs(tmp_path):
    first = fabricate(tmp_path / "a")
    expected = report(first)
    assert {"summary.md", "headline.tex", "summary.csv", "scores.csv"} <= set(expected)
    second = copy_records(first, tmp_path / "elsewhere")
    assert_same(expected, report(second, env={**os.environ, "TZ": "Pacific/Kiritimati", "LC_ALL": "C"}))
    for text in expected.values():
        assert str(tmp_path).encode() not in text  # no absolute paths in a table


RUN = "results/cifar_all/dcgan_cifar10_32px_e10_s0_c53b26e0"
KEPT = ["spec.json", "status.json", "metrics.jsonl", "final.json", "scores.jsonl", "samples/epoch_0010.png",
        "samples/interpolation.png", "../summary.md", "../headline.tex", "../summary.csv", "../samples.png",
        "../report.html", "../../bench/gpu_throughput.json"]  # fmt: skip
LEFT_OUT = ["checkpoint.pt", "checkpoint.prev.pt", "checkpoint.pt.corrupt", "snapshots/epoch_0005.pt", ".lock",
            ".final.json.k2j4.tmp", "samples/.epoch_0010.png.k2j4.tmp", "STOP", "run.log", "metrics.dropped.jsonl",
            "trackers/x/events.out.tfevents.1", "../slurm/array.sbatch", "../../smoke/x/spec.json",
            "../../bench/checkpoint.pt"]  # fmt: skip


def test_gitignore_lets_records_and_reports_in_and_keeps_checkpoints_out():
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    paths = [os.path.normpath(f"{RUN}/{p}") for p in KEPT + LEFT_OUT]
    done = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=REPO, capture_output=True, text=True)
    assert done.returncode in (0, 1), done.stderr
    assert sorted(done.stdout.split()) == sorted(paths[len(KEPT) :])
