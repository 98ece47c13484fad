import json

import pytest

from harness.core import atomic
from harness.core.errors import ConfigError
from harness.store.runs import DONE, PENDING, RunDir, iter_runs, job_dir, read_jsonl
from tests.helpers import tiny_job


def test_status_defaults_to_pending_then_records_state(tmp_path):
    run = RunDir(tmp_path / "job")
    assert run.state == PENDING
    run.set_status(DONE, finished=1.0)
    status = run.status()
    assert status["state"] == DONE and status["finished"] == 1.0 and "host" in status and "pid" in status


def test_spec_round_trip(tmp_path):
    run, job = RunDir(tmp_path / "job"), tiny_job()
    run.write_spec(job)
    assert run.spec() == job
    assert json.loads(run.spec_path.read_text())["job_id"] == job.job_id


def test_metrics_skip_a_torn_last_line(tmp_path):
    run = RunDir(tmp_path / "job")
    run.append_metrics({"epoch": 1, "d_loss": 0.5})
    with open(run.metrics_path, "a") as f:
        f.write('{"epoch": 2, "d_lo')  # a crash mid-write
    assert run.metrics() == [{"epoch": 1, "d_loss": 0.5}]


def test_keep_metrics_through_drops_epochs_past_the_checkpoint(tmp_path):
    run = RunDir(tmp_path / "job")
    for epoch in (1, 2, 3):
        run.append_metrics({"epoch": epoch})
    run.keep_metrics_through(2)
    assert [r["epoch"] for r in run.metrics()] == [1, 2]
    run.keep_metrics_through(0)  # no usable checkpoint: training restarts, and nothing recorded is lost for good
    assert run.metrics() == []
    dropped = read_jsonl(run.path / "metrics.dropped.jsonl")
    assert [r["epoch"] for r in dropped] == [3, 1, 2] and all("dropped_at" in r for r in dropped)


def test_non_finite_numbers_are_refused_not_written(tmp_path):
    run = RunDir(tmp_path / "job")
    with pytest.raises(ValueError):
        run.append_metrics({"epoch": 1, "fid": float("nan")})
    with pytest.raises(ValueError):
        atomic.write_json(tmp_path / "x.json", {"fid": float("inf")})
    assert not (tmp_path / "x.json").exists()


def test_atomic_write_leaves_old_file_when_writer_fails(tmp_path):
    path = tmp_path / "f.json"
    atomic.write_json(path, {"a": 1})

    def boom(f):
        f.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic.write_atomic(path, boom)
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]  # no temp file left behind


@pytest.mark.parametrize(
    "suite,job_id", [("../evil", "x"), ("s", "../../etc"), ("/abs", "x"), ("s", ".hidden"), ("s", "a/b")]
)
def test_job_dir_refuses_names_that_escape_the_results_folder(tmp_path, suite, job_id):
    with pytest.raises(ConfigError):
        job_dir(tmp_path, suite, job_id)


def test_iter_runs_finds_every_suite(tmp_path):
    for suite in ("a", "b"):
        job_dir(tmp_path, suite, tiny_job().job_id).write_spec(tiny_job())
    assert [r.path.parent.name for r in iter_runs(tmp_path)] == ["a", "b"]


def test_a_record_appended_after_a_torn_line_survives(tmp_path):
    run = RunDir(tmp_path / "job")
    run.append_scores({"epoch": 1})
    with open(run.scores_path, "a") as f:
        f.write('{"epoch": 2, "fi')  # a crash mid-write
    run.append_scores({"epoch": 3})
    assert [r["epoch"] for r in run.scores()] == [1, 3]
