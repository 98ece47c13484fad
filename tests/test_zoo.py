"""Every architecture of the zoo, through the real pipeline: the shipped zoo_smoke suite trains one epoch per
arch x {32, 64} px on CPU and scores each job with the real Inception extractor."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from harness.models import ARCHS

REPO = Path(__file__).resolve().parents[1]


def test_zoo_smoke_suite_covers_every_arch_at_32_and_64():
    matrix = yaml.safe_load((REPO / "suites" / "zoo_smoke.yaml").read_text())["matrix"]
    assert set(matrix["arch"]) == set(ARCHS.names()) and set(matrix["resolution"]) == {32, 64}


def test_cifar_all_names_every_arch():
    matrix = yaml.safe_load((REPO / "suites" / "cifar_all.yaml").read_text())["matrix"]
    assert set(matrix["arch"]) == set(ARCHS.names())


# Integration: 16 jobs through the real pipeline and Inception (~100 s on 2 cores). The default run already shows every
# arch learning (tests/models/test_learning.py) and the pipeline end to end (tests/test_smoke.py); this is the two
# together for every arch at both resolutions, which .ci/run's complete run keeps.
@pytest.mark.slow
@pytest.mark.integration
def test_every_arch_trains_samples_and_scores(tmp_path, inception_weights):
    cmd = [sys.executable, "-m", "harness.cli", "run", "suites/zoo_smoke.yaml", "--results", str(tmp_path)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = sorted((tmp_path / "zoo_smoke").iterdir())
    assert len(runs) == 2 * len(ARCHS.names())
    for run in runs:
        spec, final = json.loads((run / "spec.json").read_text()), json.loads((run / "final.json").read_text())
        assert math.isfinite(final["fid"]) and math.isfinite(final["kid"]), run.name
        assert (run / "samples" / "epoch_0001.png").exists() and (run / "samples" / "interpolation.png").exists()
        conditional = ARCHS.get(spec["model"]["arch"]).conditional
        assert (run / "samples" / "classes.png").exists() == conditional, run.name
        assert final["protocol"]["labels"] == ("class-balanced" if conditional else None)
        assert {"density", "coverage", "diversity"} <= set(final) and ("intra_fid" in final) == conditional
    # The report shows the health metrics: cgan's intra-class FID in every table that lists jobs.
    done = subprocess.run([*cmd[:3], "report", str(tmp_path / "zoo_smoke")], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = pd.read_csv(tmp_path / "zoo_smoke" / "summary.csv")
    assert summary.intra_fid.notna().tolist() == (summary.arch == "cgan").tolist()
    assert summary[["density", "coverage", "diversity"]].notna().all().all()
    md, page = ((tmp_path / "zoo_smoke" / name).read_text() for name in ("summary.md", "report.html"))
    assert "## Health" in md and " intra_fid " in md.split("## Jobs")[1].splitlines()[2]
    assert 'id="health"' in page and "<th>intra_fid</th>" in page
