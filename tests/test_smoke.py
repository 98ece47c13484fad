"""The shipped smoke suite end to end, as a user runs it: real training, real Inception scoring, report, rerun."""

import math
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

    def harness(*args):
        return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=REPO, capture_output=True, text=True)

    started = time.monotonic()
    first = harness("run", "suites/smoke.yaml", "--results", str(results), "--device", "cpu")
    assert first.returncode == 0, first.stderr
    report = harness("report", str(results / "smoke"))
    assert report.returncode == 0, report.stderr
    summary = pd.read_csv(results / "smoke" / "summary.csv")
    assert len(summary) == 2 and (summary.state == "done").all()
    assert all(math.isfinite(f) and f > 0 for f in summary.fid)
    assert all(math.isfinite(k) for k in summary.kid)
    print(f"smoke run + report: {time.monotonic() - started:.1f} s; FID {summary.fid.tolist()}")

    second = harness("run", "suites/smoke.yaml", "--results", str(results), "--device", "cpu")
    assert second.returncode == 0 and "0 done, 2 skipped" in second.stdout
