"""Trackers through Accelerate: a suite's `trackers: [tensorboard]` logs each job's epochs, spec and samples."""

import pytest
import yaml

from harness.core.errors import ConfigError
from harness.plan.suite import load_suite
from harness.store.runs import iter_runs
from harness.train import tracking
from tests.helpers import harness, tiny_suite


def _with_trackers(path, trackers):
    raw = yaml.safe_load(path.read_text())
    raw["trackers"] = trackers
    path.write_text(yaml.safe_dump(raw))
    return path


def test_tensorboard_gets_every_epoch_record_the_spec_and_the_sample_grids(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    suite = _with_trackers(tiny_suite(tmp_path / "tb.yaml", name="tb", epochs=2), ["tensorboard"])
    results = tmp_path / "results"
    ran = harness("run", str(suite), "--results", str(results), "--device", "cpu")
    assert ran.returncode == 0, ran.stderr
    [run] = iter_runs(results)
    [logdir] = (run.path / "trackers").iterdir()
    events = EventAccumulator(str(logdir), size_guidance={"images": 0, "scalars": 0}).Reload()
    records = run.metrics()
    for name in ("d_loss", "g_loss", "images_per_s", "lr_g"):
        logged = [(e.step, e.value) for e in events.Scalars(name)]
        assert logged == [(r["epoch"], pytest.approx(r[name], rel=1e-6)) for r in records], name
    assert [e.step for e in events.Images("samples")] == [1, 2]
    assert [r.path for r in iter_runs(results)] == [run.path]  # the tracker's folder holds no second run


def test_a_suite_names_only_trackers_accelerate_knows(tmp_path):
    suite = _with_trackers(tiny_suite(tmp_path / "tb.yaml"), ["tensorbored"])
    with pytest.raises(ConfigError, match="unknown tracker 'tensorbored'; valid: .*tensorboard"):
        load_suite(suite)
    assert load_suite(_with_trackers(suite, "tensorboard")).trackers == ("tensorboard",)
    assert load_suite(_with_trackers(suite, None)).trackers == ()


def test_a_tracker_not_installed_is_one_line_before_any_job_starts(tmp_path):
    missing = next((n for n in tracking.names() if n != "tensorboard" and not _installed(n)), None)
    if missing is None:
        pytest.skip("every tracker Accelerate knows is installed here")
    suite = _with_trackers(tiny_suite(tmp_path / "tb.yaml", name="tb"), [missing])
    ran = harness("run", str(suite), "--results", str(tmp_path / "results"), "--device", "cpu")
    assert ran.returncode == 2 and f"error: trackers: {missing} is not installed here; pip install" in ran.stderr
    assert not (tmp_path / "results").exists()


def _installed(name: str) -> bool:
    try:
        tracking.check_installed((name,))
    except ConfigError:
        return False
    return True


def test_the_spec_is_flattened_to_plain_hyperparameters():
    spec = {"train": {"lr_g": 2e-4, "ema": 0.0}, "data": {"classes": ["cat", "dog"], "n_images": None}}
    assert tracking.hyperparameters(spec) == {
        "train.lr_g": 2e-4, "train.ema": 0.0, "data.classes": "['cat', 'dog']", "data.n_images": "None",
    }  # fmt: skip
