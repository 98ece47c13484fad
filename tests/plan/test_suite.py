"""Suite YAML -> the job matrix: expansion, precedence, dataset variants, and one-line errors that name their key."""

import copy
import itertools
from pathlib import Path

import pytest
import yaml

from harness.config.specs import DataSpec
from harness.core.errors import ConfigError
from harness.plan.suite import expand, load_suite

SUITES = Path(__file__).resolve().parents[2] / "suites"


def suite(**top) -> dict:
    """A valid one-job suite, with top-level keys replaced; `matrix` entries are merged into the base matrix."""
    raw = {"matrix": {"arch": ["dcgan"], "dataset": ["synthetic"], "epochs": [1]}}
    raw["matrix"].update(top.pop("matrix", {}))
    raw.update(top)
    return raw


def combos(jobs) -> set[tuple]:
    return {(j.model.arch, j.data.label, j.data.resolution, j.train.epochs, j.train.seed) for j in jobs}


def by_label(jobs) -> dict:
    return {j.data.label: j for j in jobs}


MATRIX = {"dataset": ["synthetic", "cifar10"], "resolution": [32, 64], "epochs": [1, 3], "seed": [0, 1, 2]}


def test_matrix_is_the_full_product():
    s = expand(suite(matrix=MATRIX), "grid")
    assert s.name == "grid"
    assert len(s.jobs) == 2 * 2 * 2 * 3
    assert combos(s.jobs) == set(itertools.product(["dcgan"], *MATRIX.values()))
    assert len({j.job_id for j in s.jobs}) == len(s.jobs)


def test_matrix_scalars_and_defaults():
    s = expand({"name": "n", "description": "d", "matrix": {"arch": "dcgan", "dataset": "synthetic", "epochs": 2}}, "x")
    assert (s.name, s.description) == ("n", "d")
    assert combos(s.jobs) == {("dcgan", "synthetic", 32, 2, 0)}  # resolution 32 and seed 0 by default


@pytest.mark.parametrize(
    ("exclude", "dropped"),
    [
        ([{"dataset": "cifar10", "resolution": 64}], lambda c: c[1] == "cifar10" and c[2] == 64),
        ([{"seed": [1, 2]}], lambda c: c[4] in (1, 2)),
        (
            [{"dataset": "synthetic", "epochs": 3, "seed": [0, 2]}],
            lambda c: c[1] == "synthetic" and c[3] == 3 and c[4] != 1,
        ),
        (
            [{"resolution": 64}, {"dataset": "cifar10", "epochs": [1]}],
            lambda c: c[2] == 64 or (c[1] == "cifar10" and c[3] == 1),
        ),
        ([{"dataset": "imagefolder"}], lambda c: False),  # matches nothing
    ],
)
def test_exclude_drops_matching_combos(exclude, dropped):
    full = set(itertools.product(["dcgan"], *MATRIX.values()))
    s = expand(suite(matrix=MATRIX, exclude=exclude), "x")
    assert combos(s.jobs) == {c for c in full if not dropped(c)}


def test_include_adds_a_job_with_its_own_settings():
    entry = {"arch": "dcgan", "dataset": "cifar10", "resolution": 64, "epochs": 7, "seed": 3, "lr_g": "1e-3", "ngf": 16}
    entry["eval"] = {"n_samples": 500, "kid_subset_size": 100}
    s = expand(suite(defaults={"ngf": 32}, include=[entry]), "x")
    assert len(s.jobs) == 2
    plain, extra = s.jobs
    assert combos([extra]) == {("dcgan", "cifar10", 64, 7, 3)}
    assert (extra.train.lr_g, extra.model.ngf, extra.eval.n_samples, extra.eval.kid_subset_size) == (1e-3, 16, 500, 100)
    assert (plain.train.lr_g, plain.model.ngf, plain.eval.n_samples) == (2e-4, 32, 10000)


def test_include_defaults_to_resolution_32_and_seed_0():
    s = expand(suite(include=[{"arch": "dcgan", "dataset": "cifar10", "epochs": 2}]), "x")
    assert combos(s.jobs) == {("dcgan", "synthetic", 32, 1, 0), ("dcgan", "cifar10", 32, 2, 0)}


def test_duplicate_includes_collapse_into_one_job():
    entry = {"arch": "dcgan", "dataset": "cifar10", "epochs": 2, "batch_size": 32}
    same_as_matrix = {"arch": "dcgan", "dataset": "synthetic", "epochs": 1}
    s = expand(suite(include=[entry, copy.deepcopy(entry), same_as_matrix]), "x")
    assert len(s.jobs) == 2
    assert {j.train.batch_size for j in s.jobs} == {128, 32}


def test_precedence_defaults_then_arch_then_dataset_then_include():
    raw = suite(
        matrix={"dataset": ["synthetic", "cifar10"]},
        defaults={"batch_size": 16, "ngf": 24, "lr_g": 1e-3, "eval": {"n_samples": 100, "kid_subset_size": 50}},
        overrides={
            "arch": {"dcgan": {"batch_size": 32, "ngf": 40, "eval": {"n_samples": 150}}},
            "dataset": {"synthetic": {"batch_size": 64, "eval": {"n_samples": 200}}},
        },
        include=[
            {"arch": "dcgan", "dataset": "synthetic", "epochs": 9, "batch_size": 8, "eval": {"kid_subset_size": 20}}
        ],
    )
    jobs = expand(raw, "x").jobs
    assert len(jobs) == 3
    syn, cifar, inc = jobs
    assert (cifar.train.batch_size, cifar.model.ngf, cifar.train.lr_g, cifar.eval.n_samples) == (32, 40, 1e-3, 150)
    assert (syn.train.batch_size, syn.model.ngf, syn.train.lr_g, syn.eval.n_samples) == (64, 40, 1e-3, 200)
    # eval settings merge key by key: kid_subset_size survives from defaults where nothing overrides it
    assert cifar.eval.kid_subset_size == syn.eval.kid_subset_size == 50
    assert (inc.train.epochs, inc.train.batch_size, inc.eval.n_samples, inc.eval.kid_subset_size) == (9, 8, 200, 20)
    assert inc.model.ngf == 40


def test_named_dataset_variant():
    raw = suite(
        matrix={"dataset": ["cifar10-cats-dogs", "cifar10"]},
        datasets={"cifar10-cats-dogs": {"source": "cifar10", "classes": ["cat", "dog"]}},
        overrides={"dataset": {"cifar10-cats-dogs": {"batch_size": 50}}},
    )
    jobs = by_label(expand(raw, "x").jobs)
    assert jobs["cifar10-cats-dogs"].data == DataSpec(
        source="cifar10", label="cifar10-cats-dogs", resolution=32, classes=("cat", "dog")
    )
    assert jobs["cifar10-cats-dogs"].train.batch_size == 50
    assert jobs["cifar10"].data == DataSpec(source="cifar10", label="cifar10", resolution=32)
    assert jobs["cifar10"].train.batch_size == 128
    assert "cifar10-cats-dogs" in jobs["cifar10-cats-dogs"].job_id


def test_variant_single_class_and_imagefolder_path():
    raw = suite(
        matrix={"dataset": ["cats", "faces"]},
        datasets={
            "cats": {"source": "cifar10", "classes": "cat"},
            "faces": {"source": "imagefolder", "path": "faces", "n_images": 64},
        },
        defaults={"batch_size": 64, "eval": {"metrics": ["fid"]}},  # what 64 images allow
    )
    jobs = by_label(expand(raw, "x").jobs)
    assert jobs["cats"].data.classes == ("cat",)
    assert (jobs["faces"].data.source, jobs["faces"].data.path, jobs["faces"].data.n_images) == (
        "imagefolder",
        "faces",
        64,
    )


def test_floats_written_as_strings_are_accepted(tmp_path):
    path = tmp_path / "floats.yaml"
    path.write_text(
        "matrix: {arch: dcgan, dataset: synthetic, epochs: 1}\n"
        "defaults:\n  lr_g: 2e-4\n  lr_d: 1e-3\n  beta1: 0\n  beta2: 0.9\n"
    )
    assert yaml.safe_load(path.read_text())["defaults"]["lr_g"] == "2e-4"  # YAML 1.1 reads it as a string
    (job,) = load_suite(path).jobs
    assert (job.train.lr_g, job.train.lr_d, job.train.beta1, job.train.beta2) == (2e-4, 1e-3, 0.0, 0.9)
    assert all(isinstance(v, float) for v in (job.train.lr_g, job.train.lr_d, job.train.beta1))
    assert (
        job.job_id
        == expand(suite(defaults={"lr_g": 0.0002, "lr_d": 0.001, "beta1": 0.0, "beta2": 0.9}), "x").jobs[0].job_id
    )


def test_load_suite_names_the_suite_after_the_file(tmp_path):
    path = tmp_path / "my-suite.yaml"
    path.write_text(yaml.safe_dump(suite()))
    assert load_suite(path).name == "my-suite"


@pytest.mark.parametrize("path", sorted(SUITES.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_suites_load(path):
    s = load_suite(path)
    assert s.jobs
    assert len({j.job_id for j in s.jobs}) == len(s.jobs)


def test_aliases_nested_a_billion_deep_are_read_once(tmp_path):
    levels = ["l0: &l0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    levels += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 10)]
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(levels) + "\n")
    with pytest.raises(ConfigError, match="l0: unknown key"):
        load_suite(path)


def test_the_committed_results_are_found_under_their_job_ids_and_the_retired_cgan_is_not():
    """Only cgan's recipe changed (v1 -> v2) since results/cifar_all ran: every other job of the suite is done under
    the current code (its id is the folder's), and cgan's jobs are new ones (`harness plan`: pending)."""
    suite = load_suite(SUITES / "cifar_gpu.yaml")
    folders = {p.parent.name for p in (SUITES.parent / "results" / suite.name).glob("*/spec.json")}
    ids = {j.job_id: j.model.arch for j in suite.jobs}
    unchanged = {i for i, arch in ids.items() if arch != "cgan"}
    assert len(folders) == 24 and len(unchanged) == 21 and unchanged <= folders
    assert folders - unchanged == {f for f in folders if f.startswith("cgan_")}  # the three cgan@v1 runs
    assert {i for i, arch in ids.items() if arch == "cgan"}.isdisjoint(folders)
    assert load_suite(SUITES / "smoke.yaml").jobs[0].job_id == "dcgan_synthetic_32px_e4_s0_f996a1f3"


def test_smoke_suite():
    s = load_suite(SUITES / "smoke.yaml")
    assert s.name == "smoke"
    assert combos(s.jobs) == {("dcgan", "synthetic", 32, 4, 0), ("dcgan", "synthetic", 32, 4, 1)}
    assert all(j.eval.kid_subset_size <= j.eval.n_samples for j in s.jobs)


MALFORMED = "matrix: [unclosed\n  arch: dcgan\n"
MISSING = None

# (suite: a dict dumped to YAML, raw YAML text or bytes, or MISSING for no file; fragments the message must contain)
BAD_SUITES = {
    "unknown-top-key": (suite(bogus=1), ["bogus", "unknown key", "matrix", "defaults", "include"]),
    "misspelt-default": (suite(defaults={"batch_sise": 4}), ["defaults.batch_sise", "batch_size"]),
    "misspelt-eval-key": (suite(defaults={"eval": {"n_sample": 5}}), ["defaults.eval.n_sample", "n_samples"]),
    "unknown-matrix-key": (suite(matrix={"seeds": [0]}), ["matrix.seeds", "seed"]),
    "no-matrix": ({"defaults": {"ngf": 8}}, ["matrix", "missing"]),
    "matrix-no-epochs": ({"matrix": {"arch": "dcgan", "dataset": "synthetic"}}, ["matrix.epochs", "missing"]),
    "empty-axis": (suite(matrix={"arch": []}), ["matrix.arch", "empty"]),
    "unknown-arch": (suite(matrix={"arch": ["dcgna"]}), ["matrix.arch", "'dcgna'", "dcgan"]),
    "unknown-dataset": (
        suite(matrix={"dataset": ["cifar11"]}),
        ["matrix.dataset", "'cifar11'", "cifar10", "synthetic"],
    ),
    "unknown-override-key": (suite(overrides={"arch": {"dcgan": {"lr": 1e-3}}}), ["overrides.arch.dcgan.lr", "lr_g"]),
    "unknown-override-kind": (suite(overrides={"model": {}}), ["overrides.model", "arch", "dataset"]),
    "include-bad-epochs": (
        suite(include=[{"arch": "dcgan", "dataset": "synthetic", "epochs": "many"}]),
        ["include[0].epochs"],
    ),
    "include-negative-epochs": (
        suite(include=[{"arch": "dcgan", "dataset": "synthetic", "epochs": -1}]),
        ["include[0].epochs", "-1"],
    ),
    "include-unknown-arch": (
        suite(include=[{"arch": "stylegan9", "dataset": "synthetic", "epochs": 1}]),
        ["include[0].arch", "dcgan"],
    ),
    "include-unknown-key": (
        suite(include=[{"arch": "dcgan", "dataset": "synthetic", "epochs": 1, "lr": 1}]),
        ["include[0].lr", "lr_g"],
    ),
    "exclude-unknown-key": (suite(exclude=[{"arches": "dcgan"}]), ["exclude[0].arches", "arch"]),
    "variant-no-source": (suite(datasets={"x": {"classes": ["cat"]}}), ["datasets.x.source", "missing", "cifar10"]),
    "variant-bad-source": (
        suite(datasets={"x": {"source": "cifar100"}}),
        ["datasets.x.source", "'cifar100'", "cifar10"],
    ),
    "variant-unknown-key": (suite(datasets={"x": {"source": "cifar10", "lr_g": 1}}), ["datasets.x.lr_g", "classes"]),
    "default-bad-class": (
        suite(matrix={"dataset": ["cifar10"]}, defaults={"classes": ["kitten"]}),
        ["'kitten'", "cat"],
    ),
    "unsafe-variant-label": (
        suite(matrix={"dataset": ["../x"]}, datasets={"../x": {"source": "synthetic"}}),
        ["matrix.dataset", "'../x'"],
    ),
    "batch-size-string": (suite(defaults={"batch_size": "abc"}), ["defaults.batch_size", "int", "'abc'"]),
    "batch-size-bool": (suite(defaults={"batch_size": True}), ["defaults.batch_size", "int"]),
    "lr-not-a-number": (suite(defaults={"lr_g": "fast"}), ["defaults.lr_g", "float"]),
    "classes-not-names": (suite(defaults={"classes": [1, 2]}), ["defaults.classes", "list of names"]),
    "defaults-not-mapping": (suite(defaults=[1, 2]), ["defaults", "mapping"]),
    "resolution-48": (suite(matrix={"resolution": [32, 48]}), ["matrix.resolution", "48", "32, 64, 128"]),
    "kid-subset-too-big": (
        suite(defaults={"eval": {"n_samples": 10, "kid_subset_size": 50}}),
        ["eval.kid_subset_size", "50", "10"],
    ),
    "negative-epochs": (suite(matrix={"epochs": [2, -1]}), ["matrix.epochs", "-1"]),
    "negative-seed": (suite(matrix={"seed": [-3]}), ["matrix.seed", "-3"]),
    "zero-lr": (suite(defaults={"lr_d": 0}), ["lr_d", "> 0"]),
    "beta-one": (suite(overrides={"arch": {"dcgan": {"beta1": 1.0}}}), ["beta1"]),
    "zero-ngf": (suite(defaults={"ngf": 0}), ["ngf"]),
    "unknown-metric": (
        suite(defaults={"eval": {"metrics": ["fid", "fidd"]}}),
        ["eval.metrics", "'fidd'", "fid, kid, isc"],
    ),
    "metrics-not-names": (suite(defaults={"eval": {"metrics": 3}}), ["defaults.eval.metrics"]),
    "one-sample": (suite(defaults={"eval": {"n_samples": 1, "metrics": ["fid"]}}), ["eval.n_samples"]),
    "unsafe-suite-name": (suite(name="../evil"), ["name", "'../evil'"]),
    "malformed-yaml": (MALFORMED, ["malformed YAML", "line 2"]),
    "missing-file": (MISSING, ["cannot read suite", "missing-file.yaml"]),
    "control-character": ("matrix:\n  arch: dcgan\x07\n", ["malformed YAML", "line 2"]),
    "not-utf8": (b"matrix: \xff\xfe\n", ["UTF-8"]),
    "override-unknown-arch": (suite(overrides={"arch": {"dcgna": {"ngf": 8}}}), ["overrides.arch.dcgna", "dcgan"]),
    "override-unknown-dataset": (
        suite(overrides={"dataset": {"cifar": {"ngf": 8}}}),
        ["overrides.dataset.cifar", "cifar10"],
    ),
    "include-without-arch": (suite(include=[{"dataset": "synthetic", "epochs": 1}]), ["include[0].arch", "missing"]),
    "variant-bad-class": (
        suite(datasets={"pets": {"source": "cifar10", "classes": ["dgo"]}}),
        ["datasets.pets.classes", "'dgo'", "dog"],
    ),
    "not-a-mapping": ("- 1\n- 2\n", ["the suite", "expected a mapping"]),
    "repeated-class": (
        suite(datasets={"pets": {"source": "cifar10", "classes": ["cat", "cat"]}}),
        ["datasets.pets.classes", "'cat' is listed twice"],
    ),
    "variant-source-not-a-name": (suite(datasets={"x": {"source": [1]}}), ["datasets.x.source", "expected str"]),
    "seed-too-large": (suite(matrix={"seed": [2**40]}), ["matrix.seed", "below 2**32"]),
    "nan-learning-rate": (suite(defaults={"lr_g": float("nan")}), ["defaults.lr_g", "finite"]),
    "zero-n-images": (suite(defaults={"n_images": 0}), ["matrix.n_images", "≥ 1"]),
    "batch-larger-than-n-images": (
        suite(defaults={"batch_size": 128, "n_images": 64, "eval": {"metrics": []}}),
        ["matrix.batch_size", "128 > 64 training images per epoch (n_images)", "lower batch_size"],
    ),
    "batch-larger-than-synthetic": (suite(defaults={"batch_size": 4096}), ["4096 > 2048", "synthetic's default size"]),
    "batch-larger-than-oversample": (
        suite(defaults={"batch_size": 64, "oversample": 32}),
        ["matrix.batch_size", "64 > 32 training images per epoch (oversample)"],
    ),
    "kid-larger-than-reference": (
        suite(defaults={"eval": {"ref_size": 100}}),
        ["eval.kid_subset_size: 1000 > 100 reference images (eval.ref_size)", "≤ 100"],
    ),
    "prc-neighbours-exceed-samples": (
        suite(defaults={"eval": {"metrics": ["prc"], "n_samples": 3}}),
        ["eval.n_samples: 3 ≤ eval.prc_neighborhood 3"],
    ),
    "kid-subsets-zero": (suite(defaults={"eval": {"kid_subsets": 0}}), ["eval.kid_subsets", "≥ 1"]),
    "imagefolder-without-path": (
        suite(matrix={"dataset": ["imagefolder"]}),
        ["matrix.dataset (imagefolder)", "needs a 'path'"],
    ),
    "include-not-a-mapping": (suite(include="dcgan"), ["include[0]", "expected a mapping"]),
    "variant-named-like-a-registered-dataset": (
        suite(matrix={"dataset": ["cifar10"]}, datasets={"cifar10": {"source": "synthetic"}}),
        ["datasets.cifar10: 'cifar10' is a registered dataset", "give the variant its own name, e.g. cifar10-"],
    ),
    "variant-named-like-its-own-source": (
        suite(datasets={"synthetic": {"source": "synthetic", "n_images": 100}}),
        ["datasets.synthetic: 'synthetic' is a registered dataset"],
    ),
    "override-for-an-arch-no-job-has": (
        suite(overrides={"arch": {"wgan": {"ngf": 8}}}),
        ["overrides.arch.wgan: no job of this suite has arch 'wgan'", "its jobs use arch dcgan"],
    ),
    "override-for-a-dataset-no-job-has": (
        suite(matrix={"arch": ["dcgan", "sngan"]}, overrides={"dataset": {"cifar10": {"batch_size": 0}}}),
        ["overrides.dataset.cifar10: no job of this suite has dataset 'cifar10'", "its jobs use dataset synthetic"],
    ),
    "override-for-a-variant-no-job-has": (
        suite(datasets={"pets": {"source": "cifar10", "classes": ["cat"]}}, overrides={"dataset": {"pets": {}}}),
        ["overrides.dataset.pets: no job of this suite has dataset 'pets'"],
    ),
    "override-for-an-excluded-dataset": (
        suite(
            matrix={"dataset": ["synthetic", "cifar10"]},
            exclude=[{"dataset": "cifar10"}],
            overrides={"dataset": {"cifar10": {"ngf": 8}}},
        ),
        ["overrides.dataset.cifar10: no job of this suite has dataset 'cifar10'"],
    ),
    "override-that-makes-its-jobs-invalid": (
        suite(matrix={"dataset": ["synthetic", "cifar10"]}, overrides={"dataset": {"synthetic": {"batch_size": 4096}}}),
        ["matrix.batch_size: 4096 > 2048 training images", "synthetic's default size"],
    ),
}


@pytest.mark.parametrize(
    ("raw", "fragments"),
    [pytest.param(raw, fragments, id=name) for name, (raw, fragments) in BAD_SUITES.items()],
)
def test_bad_suite_raises_one_line_config_error(tmp_path, request, raw, fragments):
    path = tmp_path / f"{request.node.callspec.id}.yaml"
    if isinstance(raw, bytes):
        path.write_bytes(raw)
    elif raw is not MISSING:
        path.write_text(raw if isinstance(raw, str) else yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as err:
        load_suite(path)
    msg = str(err.value)
    assert "\n" not in msg, msg
    assert str(path) in msg
    for fragment in fragments:
        assert fragment in msg, f"{fragment!r} not in {msg!r}"


def test_an_override_taken_by_an_include_entry_alone_is_used():
    include = [{"arch": "wgan", "dataset": "cifar10", "epochs": 1}]
    raw = suite(include=include, overrides={"arch": {"wgan": {"ngf": 8}}, "dataset": {"cifar10": {"ndf": 16}}})
    jobs = {j.model.arch: j for j in expand(raw, "t").jobs}
    assert (jobs["wgan"].model.ngf, jobs["wgan"].model.ndf, jobs["dcgan"].model.ngf) == (8, 16, 64)


def test_a_dataset_variant_overrides_defaults_and_is_overridden_by_overrides():
    raw = suite(
        datasets={"small": {"source": "synthetic", "n_images": 100}},
        defaults={"n_images": 2048, "batch_size": 8, "eval": {"metrics": ["fid"]}},
        matrix={"dataset": ["small", "synthetic"]},
        overrides={"dataset": {"small": {"batch_size": 4}}},
    )
    jobs = by_label(expand(raw, "t").jobs)
    assert jobs["small"].data.n_images == 100 and jobs["synthetic"].data.n_images == 2048
    assert jobs["small"].train.batch_size == 4 and jobs["synthetic"].train.batch_size == 8


def test_arch_defaults_apply_and_suite_settings_override_them():
    raw = suite(matrix={"arch": ["wgan", "sagan", "dcgan"]}, overrides={"arch": {"sagan": {"lr_d": 1e-3}}})
    jobs = {j.model.arch: j for j in expand(raw, "t").jobs}
    wgan, sagan, dcgan = jobs["wgan"].train, jobs["sagan"].train, jobs["dcgan"].train
    assert (wgan.optimizer, wgan.lr_g, wgan.n_critic) == ("rmsprop", 5e-5, 5)
    assert (sagan.lr_g, sagan.lr_d, sagan.beta1, sagan.beta2) == (1e-4, 1e-3, 0.0, 0.9)
    assert (dcgan.optimizer, dcgan.lr_g, dcgan.n_critic) == ("adam", 2e-4, 1)
    everyone = expand(suite(matrix={"arch": ["wgan", "dcgan"]}, defaults={"lr_g": 1e-3}), "t").jobs
    assert {j.train.lr_g for j in everyone} == {1e-3}


@pytest.mark.parametrize(
    "defaults,fragments",
    [
        ({"augment": "mixup"}, ["defaults.augment", "'mixup'", "diffaugment"]),
        ({"optimizer": "sgd"}, ["defaults.optimizer", "'sgd'", "adam, rmsprop"]),
        ({"lr_schedule": "step"}, ["defaults.lr_schedule", "'step'", "cosine"]),
        ({"n_critic": 0}, ["matrix.n_critic", "≥ 1"]),
        ({"ema": 1.0}, ["matrix.ema", "[0, 1)"]),
        ({"label_smoothing": -0.1}, ["matrix.label_smoothing"]),
        ({"oversample": 0}, ["matrix.oversample"]),
        ({"sharpen": -1.0}, ["matrix.sharpen"]),
        ({"spectral_norm": "yes"}, ["defaults.spectral_norm", "bool"]),
        ({"processes": 0}, ["matrix.processes", "≥ 1"]),
        ({"processes": 3, "batch_size": 64}, ["batch_size: 64 does not split over 3 processes"]),
        ({"precision": "fp16"}, ["matrix.precision", "'fp16'", "fp32, tf32, bf16"]),
        ({"eval": {"curve_samples": 100}}, ["eval.curve_samples: 100 < eval.kid_subset_size 1000"]),
        ({"eval": {"curve_samples": 5, "metrics": ["isc"]}}, ["eval.curve_samples: 5 < eval.isc_splits 10"]),
        ({"eval": {"curve_samples": 20000, "metrics": ["fid"]}}, ["20000 > eval.n_samples 10000"]),
    ],
)
def test_bad_recipe_settings_are_one_line_errors(defaults, fragments):
    with pytest.raises(ConfigError) as err:
        expand(suite(defaults=defaults), "t")
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_each_job_carries_its_archs_recipe_and_a_suite_may_change_the_objective():
    jobs = expand(suite(matrix={"arch": ["dcgan", "cgan", "wgan-gp"]}), "s").jobs
    recipe = {j.model.arch: (j.train.objective, j.model.arch_version, j.train.beta1) for j in jobs}
    assert recipe == {"dcgan": ("bce", 1, 0.5), "cgan": ("hinge", 2, 0.5), "wgan-gp": ("wasserstein-gp", 1, 0.0)}
    (hinged,) = expand(suite(defaults={"objective": "hinge"}), "s").jobs
    (plain,) = expand(suite(), "s").jobs
    assert hinged.train.objective == "hinge" and hinged.job_id != plain.job_id


@pytest.mark.parametrize(
    ("arch", "objective", "valid"),
    [("siamese", "hinge", "valid: siamese-bce"), ("dcgan", "siamese-bce", "valid: bce, hinge, wasserstein")],
)
def test_an_objective_that_cannot_train_the_archs_discriminator_is_refused(arch, objective, valid):
    raw = suite(matrix={"arch": [arch]}, overrides={"arch": {arch: {"objective": objective}}})
    with pytest.raises(ConfigError, match=f"objective: {objective} cannot train {arch}.*{valid}"):
        expand(raw, "s")
