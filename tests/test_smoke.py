"""The shipped smoke suite end to end, as a user runs it: real training, real Inception scoring, report, rerun."""

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_smoke_suite_runs_scores_reports_and_skips_on_rerun(tmp_path, inception_weights):
    results = tmp_path / "results"
    env = {**os.environ, "HARNESS_CACHE": str(tmp_path / "cache")}  # its own references: other tests add theirs

    def harness(*args):
        command = [sys.executable, "-m", "harness.cli", *args]
        return subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env)

    started = time.monotonic()
    # Its two seeds as lanes of one model (--seed-batch): scored, reported and re-scored as two separate jobs are.
    first = harness("run", "suites/smoke.yaml", "--results", str(results), "--device", "cpu", "--seed-batch")
    assert first.returncode == 0, first.stderr
    assert "and 1 more seed(s) as lanes" in first.stderr
    report = harness("report", str(results / "smoke"))
    assert report.returncode == 0, report.stderr
    summary = pd.read_csv(results / "smoke" / "summary.csv")
    assert len(summary) == 2 and (summary.state == "done").all()
    assert all(math.isfinite(f) and f > 0 for f in summary.fid)
    assert all(math.isfinite(k) for k in summary.kid)
    # The health metrics, from the same features: in every table, and a Health section that says what it checked.
    assert summary[["density", "coverage", "diversity"]].notna().all().all() and summary.intra_fid.isna().all()
    md, page = (results / "smoke" / name for name in ("summary.md", "report.html"))
    md, page = md.read_text(), page.read_text()
    jobs_header = md.split("## Jobs")[1].splitlines()[2]
    assert "## Health" in md and all(f" {name} " in jobs_header for name in ("density", "coverage", "diversity"))
    assert 'id="health"' in page and all(f"<th>{name}</th>" in page for name in ("density", "coverage", "diversity"))
    print(f"smoke run + report: {time.monotonic() - started:.1f} s; FID {summary.fid.tolist()}")

    # Scored 4 times against one reference: computed once, then read from the cache.
    assert first.stderr.count("reference features: computing 64 images") == 1
    assert first.stderr.count("reference features: cached") == 3

    for name in ("summary.md", "fid_vs_epoch.png", "losses.png", "report.html"):
        assert (results / "smoke" / name).exists()
    dry = harness("run", "suites/smoke.yaml", "--results", str(results), "--dry-run")
    assert dry.returncode == 0 and dry.stdout.count("skip") == 2
    second = harness("run", "suites/smoke.yaml", "--results", str(results), "--device", "cpu")
    assert second.returncode == 0 and "0 done, 2 skipped" in second.stdout

    # Re-score under a second protocol without retraining: both numbers kept, each labelled.
    rescored = harness("score", str(results / "smoke"), "--protocol", "fid64-test")
    assert rescored.returncode == 0, rescored.stderr
    assert rescored.stdout.count("[fid64-test]") == 2
    assert harness("report", str(results / "smoke")).returncode == 0
    scores = pd.read_csv(results / "smoke" / "scores.csv")
    assert sorted(scores.protocol) == ["fid64-test", "fid64-test", "fid64-train", "fid64-train"]
    assert scores.fid.notna().all()
    md = (results / "smoke" / "summary.md").read_text()
    assert "### fid64-test: 64 samples vs test n=64" in md and "### fid64-train: 64 samples vs train n=64" in md
    listed = harness("refs", "list")
    assert listed.returncode == 0 and listed.stdout.count("ref-synthetic-") == 2
