"""Sweeps as users write them (issue 19): any setting as a matrix axis, `--set` overrides on the command line, the
suite as run kept beside its results, and variants named by what differs. Through the real CLI where a user would
meet it."""

import itertools
import json
from pathlib import Path

import pytest
import yaml

from harness.core.errors import ConfigError
from harness.plan.suite import apply_sets, expand, load_suite
from harness.report.aggregate import variants
from tests.helpers import REPO, harness

IDS_BEFORE = json.loads((Path(__file__).parent / "suite_ids.json").read_text())  # every shipped suite, pre-sweeps
HAND_WRITTEN_MULTIVARIANT = """
name: seed-multivariant
matrix: {arch: [dcgan, cgan, wgan, sagan], dataset: [cifar10], resolution: [32], epochs: [100], seed: [0]}
defaults: {batch_size: 128, augment: cutmix, eval: {every: 10, n_samples: 10000}}
include:
  - {arch: dcgan, dataset: cifar10, resolution: 32, epochs: 100, seed: 0, augment: cutmix, lr_schedule: cosine}
  - {arch: dcgan, dataset: cifar10, resolution: 32, epochs: 100, seed: 0, augment: cutmix, lr_schedule: exponential}
  - {arch: cgan, dataset: cifar10, resolution: 32, epochs: 100, seed: 0, augment: cutmix, lr_schedule: cosine}
  - {arch: cgan, dataset: cifar10, resolution: 32, epochs: 100, seed: 0, augment: cutmix, lr_schedule: exponential}
"""


def sweep(tmp_path, **axes) -> Path:
    matrix = {"arch": ["dcgan"], "dataset": ["synthetic"], "epochs": [1], "seed": [0, 1], **axes}
    path = tmp_path / "sweep.yaml"
    defaults = {"n_images": 64, "batch_size": 16, "eval": {"metrics": ["fid"]}}
    path.write_text(yaml.safe_dump({"name": "sweep", "matrix": matrix, "defaults": defaults}))
    return path


@pytest.mark.parametrize("name", sorted(IDS_BEFORE))
def test_every_shipped_suite_plans_to_the_ids_it_had_before_sweeps(name):
    ids = [j.job_id for j in load_suite(REPO / name).jobs]
    if name.endswith("multivariant.yaml"):  # rewritten as a matrix: the same jobs, in the matrix's order
        assert sorted(ids) == sorted(IDS_BEFORE[name])
    else:
        assert ids == IDS_BEFORE[name]


def test_the_rewritten_seed_suite_plans_the_same_jobs_as_the_hand_written_one():
    matrix = load_suite(REPO / "suites" / "seeds" / "multivariant.yaml").jobs
    hand = expand(yaml.safe_load(HAND_WRITTEN_MULTIVARIANT), "x").jobs
    assert sorted(j.to_dict().__repr__() for j in matrix) == sorted(j.to_dict().__repr__() for j in hand)


def test_a_setting_axis_plans_seeds_times_values_with_variants_named_by_it(tmp_path):
    done = harness("plan", str(sweep(tmp_path, lr_schedule=["none", "cosine"])))
    assert done.returncode == 0, done.stderr
    assert "sweep: 4 jobs" in done.stdout and "lr_schedule" in done.stdout.splitlines()[2]
    jobs = load_suite(sweep(tmp_path, lr_schedule=["none", "cosine"])).jobs
    cells = [(j.train.lr_schedule, j.train.seed) for j in jobs]
    assert cells == [("none", 0), ("none", 1), ("cosine", 0), ("cosine", 1)]
    assert variants(list(jobs)) == ["lr_schedule=none"] * 2 + ["lr_schedule=cosine"] * 2


@pytest.mark.parametrize(
    ("axes", "check"),
    [({"eval.protocol": ["fid64-train", "fid64-test"]}, lambda j: (j.eval.n_samples, j.eval.ref_split)),
     ({"ema": [0.0, 0.999]}, lambda j: j.train.ema),
     ({"n_images": [64, 96], "ema": [0.0, 0.999]}, lambda j: (j.data.n_images, j.train.ema))],
)  # fmt: skip
def test_eval_and_model_settings_are_axes_too(tmp_path, axes, check):
    jobs = load_suite(sweep(tmp_path, **axes)).jobs
    cells = 2 * len(list(itertools.product(*axes.values())))
    assert len(jobs) == len({j.job_id for j in jobs}) == cells
    assert len({check(j) for j in jobs}) == cells // 2


def test_exclude_matches_a_setting_axis(tmp_path):
    raw = yaml.safe_load(sweep(tmp_path, lr_schedule=["none", "cosine"]).read_text())
    raw["exclude"] = [{"lr_schedule": "cosine", "seed": 1}]
    jobs = expand(raw, "x").jobs
    assert [(j.train.lr_schedule, j.train.seed) for j in jobs] == [("none", 0), ("none", 1), ("cosine", 0)]


@pytest.mark.parametrize(
    ("axes", "message"),
    [({"lr_schedule": ["none", "cosin"]}, "matrix.lr_schedule: unknown lr_schedule 'cosin'; valid: cosine"),
     ({"eval.protocol": ["fid64-trian"]}, "matrix.eval.protocol: unknown protocol 'fid64-trian'; valid:"),
     ({"ema": ["lots"]}, "matrix.ema: expected float, got 'lots'"),
     ({"colour": ["red"]}, "matrix.colour: unknown key; valid: arch, dataset, resolution, epochs, seed, z_dim")],
)  # fmt: skip
def test_a_bad_axis_or_value_is_one_line_and_exit_2(tmp_path, axes, message):
    done = harness("plan", str(sweep(tmp_path, **axes)))
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_set_changes_the_suite_before_it_is_checked():
    raw = {"matrix": {"seed": [0]}, "defaults": {"lr_g": 1.0}}
    out = apply_sets(raw, ["defaults.lr_g=1e-4", "matrix.seed=[0,1,2]", "eval.protocol=fid64-test",
                           "matrix.eval.protocol=[fid64-train]"])  # fmt: skip
    assert out == {"matrix": {"seed": [0, 1, 2], "eval.protocol": ["fid64-train"]},
                   "defaults": {"lr_g": "1e-4", "eval": {"protocol": "fid64-test"}}}  # fmt: skip
    # '1e-4' is a string to YAML 1.1, in a file as on the command line: the suite's checks read it as a float.
    assert raw == {"matrix": {"seed": [0]}, "defaults": {"lr_g": 1.0}}  # the file's own suite is untouched
    for bad, said in (("lr_g", "use KEY=VALUE"), ("defaults.lr_g.x=1", "lr_g is not a mapping"),
                      ("a..b=1", "use KEY=VALUE")):  # fmt: skip
        with pytest.raises(ConfigError, match=said):
            apply_sets(raw, [bad])


def test_plan_with_set_shows_new_ids_and_bad_values_are_one_line(tmp_path):
    plain = harness("plan", "suites/smoke.yaml", "--results", str(tmp_path))
    changed = harness("plan", "suites/smoke.yaml", "--results", str(tmp_path), "--set", "defaults.lr_g=1e-4")
    ids = [{line.split()[1] for line in d.stdout.splitlines() if "dcgan_" in line} for d in (plain, changed)]
    assert len(ids[0]) == len(ids[1]) == 2 and ids[0].isdisjoint(ids[1])
    for value, said in (("defaults.lr_g=fast", "defaults.lr_g: expected float, got 'fast'"),
                        ("defaults.lr_q=1", "defaults.lr_q: unknown key"),
                        ("'defaults.lr_g=[1'", "the value is not YAML")):  # fmt: skip
        done = harness("plan", "suites/smoke.yaml", "--set", value.strip("'"))
        assert done.returncode == 2 and said in done.stderr and "Traceback" not in done.stderr, done.stderr


@pytest.mark.slow
def test_run_with_set_trains_new_ids_and_keeps_the_suite_as_run(tmp_path):
    """The smoke suite, one epoch, scoring off: with --set its jobs get new ids and the suite as run is written
    (and read by the jobs' processes); without, the old ids; the report names the resolved suite."""
    results = tmp_path / "results"
    base = ["run", "suites/smoke.yaml", "--results", str(results), "--device", "cpu", "--jobs-per-gpu", "2",
            "--set", "matrix.epochs=[1]", "--set", "defaults.n_images=128", "--set", "eval.metrics=[]"]  # fmt: skip
    first = harness(*base)
    assert first.returncode == 0, first.stderr
    second = harness(*base, "--set", "defaults.lr_g=1e-4")
    assert second.returncode == 0 and "2 done, 0 skipped" in second.stdout, second.stdout + second.stderr
    resolved = sorted((results / "smoke").glob("suite.resolved.*.yaml"))
    assert len(resolved) == 2  # one per set of overrides, each kept
    texts = [p.read_text() for p in resolved]
    assert any("lr_g: 1e-4" in t for t in texts) and all(t.startswith("# smoke.yaml with --set") for t in texts)
    runs = {p.name for p in (results / "smoke").iterdir() if p.is_dir()}
    assert len(runs) == 4 and runs.isdisjoint({j.job_id for j in load_suite(REPO / "suites" / "smoke.yaml").jobs})
    again = harness(*base)
    assert again.returncode == 0 and "0 done, 2 skipped" in again.stdout
    assert harness("report", str(results / "smoke")).returncode == 0
    md = (results / "smoke" / "summary.md").read_text()
    assert "## Suites as run with --set" in md and md.count("suite.resolved.") == 2 and "2 of the jobs here" in md


def test_version_and_completion():
    done = harness("--version")
    assert done.returncode == 0 and done.stdout.startswith("harness ")
    assert "--install-completion" in harness("--help").stdout
