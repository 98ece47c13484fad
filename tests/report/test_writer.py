import dataclasses

import pandas as pd
import pytest

from harness.core.errors import DataError
from harness.report.aggregate import epochs_frame, jobs_frame
from harness.report.writer import by_config, write_report
from harness.store.runs import DONE, FAILED, job_dir, read_runs
from tests.helpers import fake_run, protocol, tiny_job


def test_jobs_frame_has_one_row_per_run_with_spec_and_scores(tmp_path):
    fake_run(tmp_path, 0, 100.0)
    fake_run(tmp_path, 1, 110.0, suite="other")
    frame = jobs_frame(read_runs(tmp_path)[0])
    assert len(frame) == 2 and set(frame.suite) == {"s", "other"}
    assert frame.fid.tolist() == [110.0, 100.0] or frame.fid.tolist() == [100.0, 110.0]
    assert (frame.reference == "train n=64").all() and (frame.n_samples == 64).all()
    assert len(epochs_frame(read_runs(tmp_path)[0])) == 4


def test_seeds_are_averaged_but_different_protocols_never_are(tmp_path):
    fake_run(tmp_path, 0, 100.0)
    fake_run(tmp_path, 1, 110.0)
    fake_run(tmp_path, 2, 50.0, n_samples=128)
    fake_run(tmp_path, 3, 0.0, state=FAILED)
    grouped = by_config(jobs_frame(read_runs(tmp_path)[0])).set_index("n_samples")
    assert grouped.loc[64, "seeds"] == 2 and grouped.loc[64, "fid_mean"] == pytest.approx(105.0)
    assert grouped.loc[64, "fid_std"] == pytest.approx(pd.Series([100.0, 110.0]).std())
    assert grouped.loc[128, "seeds"] == 1 and grouped.loc[128, "fid_mean"] == pytest.approx(50.0)
    assert pd.isna(grouped.loc[128, "fid_lo"])  # one seed: no interval


def test_write_report_writes_tables_and_plots(tmp_path):
    fake_run(tmp_path, 0, 100.0)
    fake_run(tmp_path, 1, 110.0)
    fake_run(tmp_path, 2, 0.0, state=FAILED)
    written = {p.name for p in write_report(tmp_path / "s")[0]}
    figures = {f"{name}.{fmt}" for name in ("fid_vs_epoch", "time_to_fid", "losses", "final_fid_fid64-train")
               for fmt in ("png", "svg")}  # fmt: skip
    tables = {"summary.csv", "configs.csv", "scores.csv", "summary.md", "headline.tex", "report.html"}
    assert written == tables | figures  # one configuration: no pairs, so no significance matrix
    csv = pd.read_csv(tmp_path / "s" / "summary.csv")
    assert len(csv) == 3 and sorted(csv.state) == ["done", "done", "failed"]
    md = (tmp_path / "s" / "summary.md").read_text()
    assert "105.00 [41.47, 168.53]" in md and "boom: out of memory" in md  # t(1): two seeds say little
    assert "## Headline: fid64-train" in md and "| dcgan | synthetic | 32px | 2 | **105.00 [41.47, 168.53]** |" in md
    tex = (tmp_path / "s" / "headline.tex").read_text()
    assert r"\toprule" in tex and r"\textbf{105.00 [41.47, 168.53]}" in tex
    for name in ("fid_vs_epoch", "time_to_fid", "losses", "final_fid_fid64-train"):
        assert (tmp_path / "s" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (tmp_path / "s" / f"{name}.svg").read_bytes()[:2000]


def test_report_of_a_missing_or_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="not a folder"):
        write_report(tmp_path / "nope")
    with pytest.raises(DataError, match="no runs"):
        write_report(tmp_path)


def test_report_handles_runs_without_scores(tmp_path):
    job = dataclasses.replace(tiny_job(), eval=dataclasses.replace(tiny_job().eval, metrics=()))
    run = job_dir(tmp_path, "s", job.job_id)
    run.write_spec(job)
    run.append_metrics({"epoch": 1, "d_loss": 1.0, "g_loss": 2.0, "seconds": 1.0, "images_per_s": 64.0})
    run.set_status(DONE)
    written = {p.name for p in write_report(tmp_path / "s")[0]}
    assert {"summary.csv", "scores.csv", "summary.md", "losses.png"} <= written


def test_rescores_are_kept_apart_from_training_scores_and_labelled_by_protocol(tmp_path):
    from harness.report.aggregate import scores_frame

    job = fake_run(tmp_path, 0, 100.0)
    run = job_dir(tmp_path, "s", job.job_id)
    run.append_scores({"epoch": 2, "fid": 80.0, "kid": 0.05, "protocol": {**protocol(64), "name": "fid64-test",
                       "reference": {"split": "test", "n": 64}}})  # fmt: skip
    scores = scores_frame(read_runs(tmp_path)[0]).set_index("protocol")
    assert scores.loc["fid64-train", "fid"] == 100.0 and scores.loc["fid64-train", "source"] == "train"
    assert scores.loc["fid64-test", "fid"] == 80.0 and scores.loc["fid64-test", "source"] == "harness score"
    write_report(tmp_path / "s")
    md = (tmp_path / "s" / "summary.md").read_text()
    assert "### fid64-test: 64 samples vs test n=64" in md and "### fid64-train: 64 samples vs train n=64" in md
    jobs = pd.read_csv(tmp_path / "s" / "summary.csv")
    assert jobs.protocol.tolist() == ["fid64-train"] and jobs.fid.tolist() == [100.0]  # the training-time score


def test_final_record_keeps_is_and_precision_recall_without_fid():
    from harness.launch.runner import summarise

    class Run:
        def metrics(self):
            return [{"epoch": 1, "seconds": 1.0, "images_per_s": 10.0, "is": 3.0, "precision": 0.5, "recall": 0.4}]

    final = summarise(tiny_job(), Run(), None, "cpu")
    assert (final["is"], final["precision"], final["recall"], final["scored_epoch"]) == (3.0, 0.5, 0.4, 1)


def test_runs_that_differ_in_more_than_seed_are_not_averaged():
    from harness.report.aggregate import config_id

    a, b = tiny_job(seed=0), tiny_job(seed=1)
    assert config_id(a) == config_id(b)
    assert config_id(a) != config_id(dataclasses.replace(a, eval=dataclasses.replace(a.eval, every=3)))


def test_a_protocol_name_that_would_pick_a_path_outside_the_report_is_refused(tmp_path):
    job = fake_run(tmp_path, 0, 50.0)
    run = job_dir(tmp_path, "s", job.job_id)
    run.write_final({**run.final(), "protocol": {**protocol(64), "name": "../../escaped"}})  # edited by hand
    fake_run(tmp_path, 1, 60.0)
    _, damaged = write_report(tmp_path / "s")
    assert [(r.path.name, e.path.name) for r, e in damaged] == [(job.job_id, "final.json")]
    assert "is not one the harness writes" in (tmp_path / "s" / "summary.md").read_text()
    assert not list(tmp_path.parent.glob("*escaped*"))


def test_a_killed_reports_temp_files_are_cleared_by_the_next_but_a_running_jobs_are_not(tmp_path):
    import os

    from tests.helpers import harness

    job = fake_run(tmp_path, 0, 100.0)
    running = tmp_path / "s" / job.job_id / ".metrics.jsonl.abc.tmp"  # a job's own, below: not the report's
    running.write_text("{")
    killed = harness("report", str(tmp_path / "s"), env={**os.environ, "HARNESS_FAULT": "write:summary.md:1"})
    assert killed.returncode == -9 and list((tmp_path / "s").glob(".summary.md.*.tmp"))  # SIGKILLed mid-file
    assert harness("report", str(tmp_path / "s")).returncode == 0
    assert not list((tmp_path / "s").glob(".*.tmp")) and running.exists()
    assert "## Jobs" in (tmp_path / "s" / "summary.md").read_text()
