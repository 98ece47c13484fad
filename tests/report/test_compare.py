"""Comparisons on hand-built run folders whose truth is known: a clear winner, two configurations within noise, one
seed (shown, not tested), a flagged seed (left out and counted), `eval.repeats` spread, and `--compare` answers
checked against a hand computation through the real CLI."""

import math

import pandas as pd
import pytest
from scipy import stats as sps

from harness.report import compare, tables
from harness.report import writer as report
from harness.report.aggregate import jobs_frame
from harness.store.runs import read_runs
from tests.helpers import fake_run, harness

HEALTHY = {"density": 0.9, "coverage": 0.6, "diversity": 0.9}


def build(root, fids: dict[str, list[float]], health=None, final=None):
    """One configuration per arch, a seed per FID; returns the headline table of fid64-train."""
    for arch, values in fids.items():
        for seed, fid in enumerate(values):
            fake_run(root, seed, fid, arch=arch, health=(health or {}).get((arch, seed), HEALTHY),
                     final=(final or {}).get((arch, seed)))  # fmt: skip
    runs, _ = read_runs(root)
    return jobs_frame(runs), tables.headline(jobs_frame(runs))["fid64-train"]


def row(md: str, arch: str) -> str:
    return next(line for line in md.splitlines() if line.startswith(f"| {arch} |"))


def test_a_clear_winner_is_bold_alone(tmp_path):
    _, table = build(tmp_path, {"dcgan": [30.0, 31.0, 32.0], "sngan": [50.0, 51.0, 53.0]})
    md = tables.markdown(table, "fid64-train")
    assert "**31.00 [28.52, 33.48]**" in row(md, "dcgan") and row(md, "dcgan").endswith("| 1 |")
    assert "**" not in row(md, "sngan").split("|")[5] and row(md, "sngan").endswith("| 2 |")
    assert "Welch's t-test" in md and "α = 0.05" in md


def test_two_configurations_within_noise_are_both_bold_and_tied(tmp_path):
    _, table = build(tmp_path, {"dcgan": [30.0, 36.0, 33.0], "sngan": [31.0, 37.0, 35.0]})
    md = tables.markdown(table, "fid64-train")
    for arch in ("dcgan", "sngan"):
        assert row(md, arch).split("|")[5].strip().startswith("**") and row(md, arch).endswith("| 1 |")
    frame = dict(next(tables.comparison_groups({"fid64-train": table}))[1][["arch", "verdict"]].values)
    assert frame == {"dcgan": "best", "sngan": "tied for best"}


def test_one_seed_is_shown_but_not_tested(tmp_path):
    _, table = build(tmp_path, {"dcgan": [30.0, 31.0, 32.0], "sagan": [10.0]})
    md = tables.markdown(table, "fid64-train")
    assert "| 10.00 |" in row(md, "sagan") and row(md, "sagan").endswith("| n = 1: not tested |")
    assert "**" not in row(md, "sagan") and "**31.00" in row(md, "dcgan")


def test_a_flagged_seed_is_left_out_of_the_statistics_and_counted(tmp_path):
    collapsed = {("dcgan", 3): {**HEALTHY, "diversity": 0.05}}
    _, table = build(tmp_path, {"dcgan": [30.0, 31.0, 32.0, 5.0], "sngan": [50.0, 51.0, 53.0]}, health=collapsed)
    t = table.set_index("arch")
    assert t.loc["dcgan", "seeds"] == 3 and t.loc["dcgan", "fid_mean"] == pytest.approx(31.0)  # not 24.5
    md = tables.markdown(table, "fid64-train")
    assert "| 3 (⚠ +1 collapsed) | 31.00 [28.52, 33.48] |" in row(md, "dcgan")  # compared, never bold
    assert "**51.33" in row(md, "sngan") and "flagged seed is never bold" in md


def test_the_report_says_how_many_seeds_a_difference_needs_and_which_spread_dominates(tmp_path):
    repeats = {("dcgan", s): {"repeats": [{"fid": f - 0.1, "kid": 0.1}, {"fid": f + 0.1, "kid": 0.1}]}
               for s, f in enumerate([30.0, 33.0, 36.0])}  # fmt: skip
    jobs, table = build(tmp_path, {"dcgan": [30.0, 33.0, 36.0], "sngan": [32.0, 35.0, 39.0]}, final=repeats)
    md = report.markdown(jobs, headlines={"fid64-train": table})
    section = md.split("## Comparisons")[1].split("\n## ")[0]
    seeds = next(line for line in section.splitlines() if line.startswith("- Seeds: FID"))
    std = compare.stats.pooled_std([[30.0, 33.0, 36.0], [32.0, 35.0, 39.0]])
    gap = (32.0 + 35.0 + 39.0) / 3 - 33.0
    assert f"std of {std:.2f}" in seeds and f"runner-up, {gap:.2f}, needs" in seeds and "run more seeds" in seeds
    spread = next(line for line in section.splitlines() if line.startswith("- Spread: FID"))
    assert "sampling std 0.14" in spread and "training (seed to seed) dominates" in spread
    assert "KID: the scores do not vary" in section  # every KID is 0.1


def welch(a, b):
    """Δ = mean(a) − mean(b), its 95% interval and p, by the textbook formulas."""
    ma, mb, va, vb = sum(a) / len(a), sum(b) / len(b), sps.tvar(a) / len(a), sps.tvar(b) / len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    se, delta = math.sqrt(va + vb), ma - mb
    half = sps.t.ppf(0.975, df) * se
    return delta, delta - half, delta + half, 2 * sps.t.sf(abs(delta) / se, df)


def test_compare_answers_with_the_hand_computed_difference(tmp_path):
    a, b = [30.0, 31.0, 35.0], [40.0, 48.0, 44.0]
    build(tmp_path, {"dcgan": a, "sngan": b})
    done = harness("report", str(tmp_path / "s"), "--compare", "arch=dcgan", "arch=sngan", "--metric", "fid")
    assert done.returncode == 0, done.stderr
    delta, lo, hi, p = welch(a, b)
    # dcgan's FID is lower: better by -delta, its interval [-hi, -lo]
    assert f"arch=dcgan is better than arch=sngan by {-delta:.2f} FID [{-hi:.2f}, {-lo:.2f}]" in done.stdout
    assert f"p = {p:.3g}, n = 3/3; significant at α = 0.05" in done.stdout
    assert f"| {delta:+.2f} [{lo:+.2f}, {hi:+.2f}] |" in done.stdout


def test_compare_within_noise_says_so_and_a_vague_selector_is_one_line(tmp_path):
    build(tmp_path, {"dcgan": [30.0, 36.0, 33.0], "sngan": [31.0, 37.0, 35.0]})
    done = harness("report", str(tmp_path / "s"), "--compare", "arch=sngan", "arch=dcgan", "--metric", "fid")
    assert done.returncode == 0 and "arch=sngan is not significantly worse than arch=dcgan: by" in done.stdout
    assert "within noise at α = 0.05" in done.stdout
    vague = harness("report", str(tmp_path / "s"), "--compare", "dataset=synthetic", "arch=dcgan")
    assert vague.returncode == 2 and "matches 2 configurations" in vague.stderr
    assert "Traceback" not in vague.stderr and len(vague.stderr.strip().splitlines()) == 1
    bad = harness("report", str(tmp_path / "s"), "--compare", "arch", "arch=dcgan")
    assert bad.returncode == 2 and "--compare 'arch': use COLUMN=VALUE" in bad.stderr


def test_configs_csv_carries_every_interval_bound(tmp_path):
    build(tmp_path, {"dcgan": [30.0, 31.0, 32.0], "sngan": [50.0, 51.0, 53.0]})
    assert harness("report", str(tmp_path / "s")).returncode == 0
    frame = pd.read_csv(tmp_path / "s" / "configs.csv").set_index("arch")
    assert frame.loc["dcgan", "fid_lo"] == pytest.approx(28.516, abs=1e-3) and frame.loc["dcgan", "fid_rank"] == 1
    assert frame.loc["sngan", "fid_values"] == "50;51;53" and frame.loc["sngan", "fid_p"] < 0.05
    assert "[" in (tmp_path / "s" / "headline.tex").read_text()


@pytest.mark.parametrize("repeats", ["three", [{"fid": "x"}], [1.0]])
def test_a_final_record_whose_repeats_are_not_scores_is_damaged(tmp_path, repeats):
    fake_run(tmp_path, 0, 30.0, final={"repeats": repeats})
    runs, damaged = read_runs(tmp_path / "s")
    assert not runs and len(damaged) == 1 and "repeat" in damaged[0][1].problem
