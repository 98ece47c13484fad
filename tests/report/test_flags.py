"""Health flags (harness/report/flags.py) from a job's records, and how the tables and the report show them."""

import pytest

from harness.report import flags, html, tables
from harness.report import writer as report
from harness.report.aggregate import flags_frame, jobs_frame
from harness.store.runs import read_runs
from tests.helpers import fake_run

HEALTHY = {"density": 0.9, "coverage": 0.6, "diversity": 0.9}


def epochs(fids=(), d=None, n=4):
    """n epoch records: FID at the last len(fids) epochs, D(x)/D(G(z)) = d at every epoch when given."""
    out = []
    for epoch in range(1, n + 1):
        record = {"epoch": epoch, "d_loss": 1.0, "g_loss": 1.0, "seconds": 1.0, "images_per_s": 1.0}
        record |= {"d_real": d[0], "d_fake": d[1]} if d else {}
        back = n - epoch
        record |= {"fid": fids[len(fids) - 1 - back]} if back < len(fids) else {}
        out.append(record)
    return out


CASES = {
    "healthy": ({}, epochs((90.0, 80.0, 70.0), d=(0.8, 0.2)), []),
    "collapsed: diversity": ({"diversity": 0.05}, epochs(), ["collapsed"]),
    "collapsed: coverage": ({"coverage": 0.004}, epochs(), ["collapsed"]),
    "degrading": ({}, epochs((60.0, 65.0, 70.0, 80.0)), ["degrading"]),
    "rising but within 10% of its best": ({}, epochs((70.0, 71.0, 72.0, 73.0)), []),
    "saturated": ({}, epochs(d=(0.995, 0.004)), ["saturated"]),
    "saturated for 2 epochs only": ({}, epochs(d=(0.995, 0.004))[:2] + epochs(d=(0.9, 0.1))[2:], []),
}


@pytest.mark.parametrize("case", CASES)
def test_each_flag_fires_on_its_evidence_and_not_otherwise(case, tmp_path):
    change, records, want = CASES[case]
    fake_run(tmp_path, 0, 70.0, health={**HEALTHY, **change}, epochs=records)
    (record,), _ = read_runs(tmp_path)
    raised = flags.flags(record)
    assert [f.kind for f in raised] == want
    assert all(f.evidence for f in raised)


def test_a_job_without_a_fid_is_unscored_and_one_without_health_metrics_is_unchecked(tmp_path):
    fake_run(tmp_path, 0, 70.0)  # scored before the health metrics existed
    job = fake_run(tmp_path, 1, 70.0, health=HEALTHY)
    run = tmp_path / "s" / job.job_id
    final = (run / "final.json").read_text().replace('"fid": 70.0', '"fid": null')
    (run / "final.json").write_text(final)
    runs, _ = read_runs(tmp_path)
    frame = flags_frame(runs)
    assert frame.flag.tolist() == ["unscored"] and len(frame.attrs["unchecked"]) == 1


def test_flagged_seeds_are_left_out_and_counted_and_a_flagged_config_is_never_bold(tmp_path):
    for seed in range(3):  # the best FID, but every seed collapsed
        fake_run(tmp_path, seed, 20.0, health={**HEALTHY, "diversity": 0.01}, suite="a")
    runs, _ = read_runs(tmp_path / "a")
    for seed in range(3):
        fake_run(tmp_path, seed, 50.0, health=HEALTHY, suite="b")
    runs += read_runs(tmp_path / "b")[0]
    jobs = jobs_frame(runs).assign(variant=["collapsing"] * 3 + ["healthy"] * 3)
    (table,) = tables.headline(jobs).values()
    md = tables.markdown(table, "fid64-train")
    # The collapsed seeds are left out of the statistics (no FID to show) and counted; the healthy config is best.
    assert "| 0 (⚠ +3 collapsed) | – |" in md and "**50.00 [50.00, 50.00]**" in md
    assert "flagged seed is never bold" in md and "$\\dagger$ +3 collapsed" in tables.latex(table, "fid64-train")


def test_the_report_has_a_health_section_with_the_evidence(tmp_path):
    fake_run(tmp_path, 0, 70.0, health={**HEALTHY, "diversity": 0.05})
    fake_run(tmp_path, 1, 75.0, health=HEALTHY)
    runs, _ = read_runs(tmp_path)
    jobs, health = jobs_frame(runs), flags_frame(runs)
    md = report.markdown(jobs, health=health)
    section = md.split("## Health")[1].split("##")[0]
    assert flags.CHECKS in section and "**collapsed**: within-class diversity 0.050 < 0.2" in section
    page = html.page(tmp_path, tmp_path, jobs, {}, [], health=health)
    assert "within-class diversity 0.050 &lt; 0.2" in page and "<th>coverage</th>" in page
