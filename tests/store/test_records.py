"""Run records are read through one door (RunDir, checked by harness/store/records.py): a file that is not what the
harness wrote, or is another job's, raises Damaged naming it and the fix. Through the real CLI, one damaged job
never stops a suite: `status`, `report`, `run` and `score` name it, leave it out of every table, and go on; doing
what the message says mends it."""

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

from harness.config.specs import hash_id as job_id_of
from harness.core.errors import Damaged
from harness.store.runs import DONE, RunDir, job_dir, read_runs
from tests.helpers import fake_run, harness, tiny_job, tiny_suite


def _rewrite_json(path, **changes):
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def _edit_spec(path, group, **changes):
    d = json.loads(path.read_text())
    d[group].update(changes)
    path.write_text(json.dumps(d))


# (what is done to the run folder, the file named, words of the problem)
DAMAGE = {
    "status random bytes": (lambda r: r.status_path.write_bytes(os.urandom(64) + b"\xff"), "status.json", "not text"),
    "status not an object": (lambda r: r.status_path.write_text("[1, 2]"), "status.json", "JSON list"),
    "status unknown state": (lambda r: _rewrite_json(r.status_path, state="finito"), "status.json", "'finito'"),
    "status a folder": (lambda r: (r.status_path.unlink(), r.status_path.mkdir()), "status.json", "unreadable"),
    "final empty": (lambda r: r.final_path.write_text(""), "final.json", "empty"),
    "final score a string": (lambda r: _rewrite_json(r.final_path, fid="12.5"), "final.json", "fid is '12.5'"),
    "final of another job": (lambda r: _rewrite_json(r.final_path, job_id="x_1"), "final.json", "of job x_1"),
    "final NaN": (lambda r: _rewrite_json(r.final_path, fid=float("nan")), "final.json", "fid is nan"),
    "spec not JSON": (lambda r: r.spec_path.write_text("{ nope"), "spec.json", "not JSON"),
    "spec edited": (lambda r: _edit_spec(r.spec_path, "train", lr_g=0.1), "spec.json", "edited after"),
    "spec of another job": (lambda r: _rewrite_json(r.spec_path, job_id="y_2"), "spec.json", "of job y_2"),
    "spec missing": (lambda r: r.spec_path.write_text("{}"), "spec.json", "lacks the model"),
    "metrics line a list": (lambda r: r.metrics_path.write_text('{"epoch": 1}\n[1]\n'), "metrics.jsonl", "line 2"),
    "metrics epoch text": (lambda r: r.metrics_path.write_text('{"epoch": "1"}\n'), "metrics.jsonl", "epoch is '1'"),
    "scores line a number": (lambda r: r.scores_path.write_text("7\n"), "scores.jsonl", "JSON number"),
}


@pytest.mark.parametrize("how", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_record_is_named_with_its_fix_and_the_other_runs_are_read(tmp_path, how):
    damage, name, words = DAMAGE[how]
    job = fake_run(tmp_path, 0, 100.0)
    fake_run(tmp_path, 1, 110.0)
    run = job_dir(tmp_path, "s", job.job_id)
    damage(run)
    with pytest.raises(Damaged) as e:
        run.read()
    assert e.value.path.name == name and words in e.value.problem and e.value.fix
    intact, damaged = read_runs(tmp_path)
    assert [r.spec.train.seed for r in intact] == [1] and [r.path.name for r, _ in damaged] == [job.job_id]


def test_a_line_torn_by_a_crash_is_still_skipped_not_damage(tmp_path):
    run = RunDir(tmp_path / "job")
    run.append_metrics({"epoch": 1})
    with open(run.metrics_path, "a") as f:
        f.write('{"epoch": 2, "d_lo')
    run.append_metrics({"epoch": 2})
    assert run.metrics() == [{"epoch": 1}, {"epoch": 2}]


def test_the_id_is_hashed_from_the_spec_as_written(tmp_path):
    job = tiny_job(seed=3)
    assert job_id_of(job.to_dict()) == job.job_id
    older = job.to_dict()
    del older["train"]["cuda_graph"]  # a spec written before this field existed: it ran under another id
    old_id = job_id_of(older)
    run = job_dir(tmp_path, "s", old_id)
    run.spec_path.parent.mkdir(parents=True)
    run.spec_path.write_text(json.dumps({"job_id": old_id, **older}))
    assert old_id != job.job_id and run.spec() == job  # still its own record; read with today's default


def test_a_checkpoint_of_another_job_is_refused_for_scoring(tmp_path):
    from harness.train import checkpoint
    from harness.train.state import build

    job, other = tiny_job(seed=0), tiny_job(seed=1)
    run = job_dir(tmp_path, "s", job.job_id)
    G = build(job, 1).G
    checkpoint.write(run.checkpoint_path, {"job_id": other.job_id, "epoch": 2, "G": G.state_dict(), "ema": None})
    with pytest.raises(Damaged, match=f"holds job {other.job_id}'s weights"):
        checkpoint.load_generator(run, G, use_ema=False)
    snapshot = checkpoint.snapshot_path(run, 2)
    checkpoint.write(snapshot, {"epoch": 2, "G": G.state_dict(), "ema": None})  # from before snapshots named a job
    assert checkpoint.load_generator(run, G, use_ema=False, epoch=2) == 2
    checkpoint.write(snapshot, {"job_id": other.job_id, "epoch": 2, "G": G.state_dict(), "ema": None})
    with pytest.raises(Damaged, match="not this job's"):
        checkpoint.load_generator(run, G, use_ema=False, epoch=2)


# --- through the CLI: one trained suite, a different damage in each of its jobs ------------------------------------

SEEDS = range(7)
# seed -> (damage, the file the message names); seed 0 stays intact
BROKEN = {
    1: (lambda r: r.status_path.write_bytes(os.urandom(48)), "status.json"),
    2: (lambda r: r.final_path.write_text(""), "final.json"),
    3: (lambda r: r.spec_path.write_text("not json {"), "spec.json"),
    4: (lambda r: r.metrics_path.write_text(r.metrics_path.read_text() + "[1, 2]\n"), "metrics.jsonl"),
    5: (lambda r: _edit_spec(r.spec_path, "train", seed=0), "spec.json"),  # says it is another seed
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny suite of 7 seeds, trained once (checkpoints kept: the fixes resume from them)."""
    tmp = tmp_path_factory.mktemp("records")
    suite = tiny_suite(tmp / "s.yaml", name="s", epochs=1, seeds=list(SEEDS), n_images=32)
    done = harness("run", str(suite), "--results", str(tmp / "results"), "--device", "cpu")
    assert done.returncode == 0, done.stderr
    return suite, tmp / "results"


@pytest.fixture
def damaged(trained, tmp_path):
    suite, results = trained
    shutil.copytree(results, tmp_path / "results")
    runs = {r.spec().train.seed: r for r in (RunDir(p, p.name) for p in sorted((tmp_path / "results/s").iterdir()))}
    for seed, (damage, _) in BROKEN.items():
        damage(runs[seed])
    return suite, tmp_path / "results", runs


def _names_each_damaged_job(text: str, runs) -> None:
    for seed, (_, name) in BROKEN.items():
        line = next(line for line in text.splitlines() if runs[seed].path.name in line)
        assert name in line and ("delete" in line or "restore" in line), line


def test_status_report_and_run_name_each_damaged_job_and_go_on_with_the_rest(damaged):
    suite, results, runs = damaged
    with ThreadPoolExecutor(4) as pool:  # reads only (report writes its own files): independent
        status, report, run, submit = pool.map(
            lambda args: harness(*args),
            [("status", str(suite), "--results", str(results)), ("report", str(results / "s")),
             ("run", str(suite), "--results", str(results), "--device", "cpu"),
             ("submit", str(suite), "--results", str(results), "--dry-run")],
        )  # fmt: skip
    unreadable = runs[1].path.name  # its status cannot say whether it is done: not submitted, and said so
    assert submit.returncode == 0 and unreadable in submit.stderr and unreadable not in submit.stdout, submit.stderr
    assert "nothing to submit" in submit.stdout  # every other job is finished
    assert status.returncode == 0 and "2 done" in status.stdout and "5 damaged" in status.stdout, status.stdout
    _names_each_damaged_job(status.stdout, runs)
    assert report.returncode == 0 and "internal error" not in report.stderr, report.stderr
    _names_each_damaged_job(report.stderr, runs)
    summary = pd.read_csv(results / "s" / "summary.csv")
    assert sorted(summary.seed) == [0, 6]  # the edited spec (seed 5 claiming seed 0) is not in any table
    md = (results / "s" / "summary.md").read_text()
    _names_each_damaged_job(md[md.index("## Damaged") :], runs)
    assert len(pd.read_csv(results / "s" / "damaged.csv")) == 5
    assert "Damaged runs" in (results / "s" / "report.html").read_text()
    assert run.returncode == 1 and "2 skipped" in run.stdout and "5 damaged (not run)" in run.stdout, run.stdout
    _names_each_damaged_job(run.stderr, runs)
    assert "internal error" not in run.stderr + status.stderr


def test_doing_what_the_message_says_mends_the_job(damaged):
    suite, results, runs = damaged
    assert harness("report", str(results / "s")).returncode == 0  # lists the damage in damaged.csv
    for seed in (1, 2, 3, 5):  # delete the damaged file
        runs[seed].path.joinpath(BROKEN[seed][1]).unlink()
    lines = runs[4].metrics_path.read_text().splitlines()
    runs[4].metrics_path.write_text("\n".join(lines[:-1]) + "\n")  # delete that line
    run = harness("run", str(suite), "--results", str(results), "--device", "cpu")
    assert run.returncode == 0, run.stderr
    assert all(r.read().status["state"] == DONE and r.read().final for r in runs.values())
    assert runs[5].spec().train.seed == 5  # written again from the suite
    report = harness("report", str(results / "s"))
    assert report.returncode == 0 and "damaged" not in report.stderr
    assert "## Damaged" not in (results / "s" / "summary.md").read_text()
    assert pd.read_csv(results / "s" / "damaged.csv").empty  # the earlier list is not left standing


def test_score_refuses_a_swapped_checkpoint_and_an_edited_spec(damaged):
    _, results, runs = damaged
    shutil.copy(runs[0].checkpoint_path, runs[6].checkpoint_path)  # job 0's weights in job 6's folder
    swapped = harness("score", str(runs[6].path), "--protocol", "fid64-train")
    assert swapped.returncode == 1 and f"holds job {runs[0].path.name}'s weights" in swapped.stderr, swapped.stderr
    edited = harness("score", str(runs[5].path), "--protocol", "fid64-train")
    assert edited.returncode == 1 and "edited after the job ran" in edited.stderr, edited.stderr
    assert not runs[6].scores_path.exists() and not runs[5].scores_path.exists()
