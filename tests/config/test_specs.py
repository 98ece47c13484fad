"""JobSpec identity: the canonical JSON and the job id derived from it; names safe to use in paths; each field's
range, declared beside it."""

import dataclasses
import hashlib
import json

import pytest

from harness.config.specs import (
    FIRST_ARCH_VERSION,
    HEALTH_METRICS,
    DataSpec,
    EvalSpec,
    JobSpec,
    ModelSpec,
    TrainSpec,
    hash_id,
    identity,
    is_safe_name,
)
from harness.core.errors import ConfigError


def make_spec() -> JobSpec:
    return JobSpec(
        model=ModelSpec(arch="dcgan", z_dim=100, ngf=32, ndf=32),
        data=DataSpec(source="cifar10", label="cifar10-cats-dogs", resolution=32, classes=("cat", "dog"), n_images=500),
        train=TrainSpec(epochs=5, seed=1, batch_size=64, lr_g=2e-4, lr_d=1e-4, objective="bce"),
        eval=EvalSpec(every=2, n_samples=2000, metrics=("fid", "kid"), kid_subset_size=500, ref_size=1000),
    )


# (sub-spec, field, a different value): every field of every sub-spec, so nothing that shapes a job escapes its id.
CHANGES = [
    ("model", "arch", "other"),
    ("model", "z_dim", 128),
    ("model", "ngf", 64),
    ("model", "ndf", 16),
    ("model", "spectral_norm", True),
    ("model", "arch_version", 2),
    ("train", "objective", "hinge"),
    ("data", "oversample", 5000),
    ("data", "sharpen", 0.5),
    ("train", "optimizer", "rmsprop"),
    ("train", "lr_schedule", "cosine"),
    ("train", "n_critic", 5),
    ("train", "label_smoothing", 0.1),
    ("train", "ema", 0.999),
    ("train", "augment", "diffaugment"),
    ("train", "gp_weight", 5.0),
    ("train", "clip_value", 0.02),
    ("train", "processes", 2),
    ("train", "precision", "bf16"),
    ("train", "cuda_graph", False),
    ("data", "source", "imagefolder"),
    ("data", "label", "cifar10"),
    ("data", "resolution", 64),
    ("data", "classes", ("dog", "cat")),
    ("data", "path", "somewhere"),
    ("data", "n_images", None),
    ("train", "epochs", 6),
    ("train", "seed", 2),
    ("train", "batch_size", 128),
    ("train", "lr_g", 3e-4),
    ("train", "lr_d", 2e-4),
    ("train", "beta1", 0.0),
    ("train", "beta2", 0.99),
    ("eval", "every", 0),
    ("eval", "n_samples", 10000),
    ("eval", "curve_samples", 2000),
    ("eval", "metrics", ("fid", "kid", "isc")),
    ("eval", "kid_subset_size", 1000),
    ("eval", "kid_subsets", 10),
    ("eval", "ref_size", None),
    ("eval", "ref_split", "test"),
    ("eval", "isc_splits", 5),
    ("eval", "prc_neighborhood", 5),
    ("eval", "dc_neighborhood", 3),
    ("eval", "repeats", 3),
    ("eval", "extractor_precision", "bf16"),
    ("eval", "batch_size", 32),
]


def test_job_id_is_stable_across_independent_builds():
    a, b = make_spec(), make_spec()
    assert a is not b
    assert a.job_id == b.job_id
    assert a.canonical_json() == b.canonical_json()


def test_job_id_names_the_job_and_is_a_safe_name():
    job_id = make_spec().job_id
    prefix, digest = job_id.rsplit("_", 1)
    assert prefix == "dcgan_cifar10-cats-dogs_32px_e5_s1"
    assert len(digest) == 8 and int(digest, 16) >= 0
    assert is_safe_name(job_id)


def test_changes_cover_every_field():
    covered = {(sub, name) for sub, name, _ in CHANGES}
    spec = make_spec()
    every = {(f.name, g.name) for f in dataclasses.fields(spec) for g in dataclasses.fields(getattr(spec, f.name))}
    assert covered == every


@pytest.mark.parametrize(("sub", "name", "value"), CHANGES, ids=[f"{s}.{n}" for s, n, _ in CHANGES])
def test_any_field_change_gives_a_new_id(sub, name, value):
    spec = make_spec()
    assert getattr(getattr(spec, sub), name) != value
    changed = dataclasses.replace(spec, **{sub: dataclasses.replace(getattr(spec, sub), **{name: value})})
    assert changed.job_id != spec.job_id
    assert changed.canonical_json() != spec.canonical_json()


def test_canonical_json_is_sorted_and_compact():
    text = make_spec().canonical_json()
    assert " " not in text.replace("cifar10-cats-dogs", "")
    parsed = json.loads(text)
    assert list(parsed) == sorted(parsed)
    assert list(parsed["train"]) == sorted(parsed["train"])


@pytest.mark.parametrize(
    "spec",
    [
        make_spec(),
        JobSpec(ModelSpec("dcgan"), DataSpec("synthetic", "synthetic", 64), TrainSpec(1, 0, objective="bce")),
    ],
)
def test_canonical_json_round_trips(spec):
    back = JobSpec.from_dict(json.loads(json.dumps(spec.to_dict())))  # as spec.json holds it
    assert back == spec
    assert back.job_id == spec.job_id
    assert isinstance(back.data.classes, tuple) and isinstance(back.eval.metrics, tuple)


UNICODE = JobSpec(
    ModelSpec("cgan"),
    DataSpec("imagefolder", "chats-é", 32, classes=("chat", "chien ü"), path="/x/ü"),
    TrainSpec(3, 7, lr_g=1e-3, ema=0.999, precision="bf16", objective="bce"),
    EvalSpec(curve_samples=2000, metrics=("fid", "prc")),
)
DEFAULTS = JobSpec(ModelSpec("dcgan"), DataSpec("synthetic", "synthetic", 64), TrainSpec(1, 0, objective="bce"))
# Ids computed before the canonical JSON was joined from cached parts, and before objectives, arch versions and the
# health metrics were in the specs: ids name results folders, so they never change.
PINNED = [(DEFAULTS, "538a44d4"), (make_spec(), "b6c30457"), (UNICODE, "10b7afdb")]


@pytest.mark.parametrize(("spec", "digest"), PINNED, ids=["defaults", "variant", "unicode"])
def test_job_ids_are_the_ones_they_always_were(spec, digest):
    assert spec.job_id.endswith(f"_{digest}")
    canonical = json.dumps(identity(dataclasses.asdict(spec)), sort_keys=True, separators=(",", ":"))
    assert spec.canonical_json() == canonical and spec.to_dict() == dataclasses.asdict(spec)
    assert hash_id(spec.to_dict()) == spec.job_id and hashlib.sha256(canonical.encode()).hexdigest()[:8] == digest


def older(spec: JobSpec) -> dict:
    """The spec as the harness wrote it before objectives, arch versions and the health metrics were fields."""
    d = spec.to_dict()
    del d["train"]["objective"], d["model"]["arch_version"], d["eval"]["dc_neighborhood"]
    d["eval"]["metrics"] = [m for m in d["eval"]["metrics"] if m not in HEALTH_METRICS]
    return d


@pytest.mark.parametrize(("spec", "digest"), PINNED, ids=["defaults", "variant", "unicode"])
def test_a_spec_written_before_the_new_fields_reads_back_as_the_job_it_was(spec, digest):
    back = JobSpec.from_dict(older(spec))
    assert back.train.objective == "bce" and back.model.arch_version == FIRST_ARCH_VERSION
    assert hash_id(older(spec)) == back.job_id == spec.job_id


@pytest.mark.parametrize(
    "change",
    [{"train": {"objective": "hinge"}}, {"model": {"arch_version": 2}}, {"eval": {"dc_neighborhood": 7}}],
    ids=["objective", "arch_version", "dc_neighborhood"],
)
def test_a_new_field_off_its_implicit_value_is_hashed(change):
    ((part, values),) = change.items()
    changed = dataclasses.replace(DEFAULTS, **{part: dataclasses.replace(getattr(DEFAULTS, part), **values)})
    assert changed.job_id != DEFAULTS.job_id
    assert json.loads(changed.canonical_json())[part] == identity(json.loads(json.dumps(changed.to_dict())))[part]


def test_asking_for_health_metrics_keeps_the_id():
    with_health = dataclasses.replace(DEFAULTS, eval=EvalSpec(metrics=("fid", "kid", "isc", *HEALTH_METRICS)))
    without = dataclasses.replace(DEFAULTS, eval=EvalSpec(metrics=("fid", "kid", "isc")))
    assert with_health.job_id == without.job_id == DEFAULTS.job_id


def test_jobs_sharing_parts_each_hash_their_own_spec():
    a = make_spec()
    assert a.job_id  # computed, and kept on a and on the parts it shares below
    b = JobSpec(a.model, a.data, dataclasses.replace(a.train, seed=2), a.eval)
    assert b.job_id != a.job_id and b.job_id == dataclasses.replace(make_spec(), train=b.train).job_id
    assert b.canonical_json() == json.dumps(identity(dataclasses.asdict(b)), sort_keys=True, separators=(",", ":"))


@pytest.mark.parametrize("name", ["../x", "/abs", ".hidden", "a/b", "", "..", "a..b", "-flag", "a b", "a\\b"])
def test_is_safe_name_rejects(name):
    assert not is_safe_name(name)


@pytest.mark.parametrize("name", ["cifar10-cats-dogs", "smoke", "dcgan_cifar10_32px_e5_s0_0123abcd", "v1.2+x"])
def test_is_safe_name_accepts(name):
    assert is_safe_name(name)


# --- each field's range, declared beside it ------------------------------------------------------------------------

SPECS = {
    "train": TrainSpec(epochs=1, seed=0),
    "model": ModelSpec(arch="dcgan"),
    "data": DataSpec(source="synthetic", label="synthetic", resolution=32),
    "eval": EvalSpec(),
}


def _just_outside(r) -> list:
    if r.choices:
        return ["nope"]
    if r.lt is not None:
        return [r.ge - 1, r.lt, float("nan")]
    if r.gt is not None:
        return [r.gt, float("nan")]
    return [r.ge - 1, float("nan")]


RANGED = [
    (part, f.name, bad)
    for part, spec in SPECS.items()
    for f in dataclasses.fields(spec)
    if "range" in f.metadata
    for bad in _just_outside(f.metadata["range"])
]


@pytest.mark.parametrize("part, name, bad", RANGED, ids=[f"{p}.{n}={b}" for p, n, b in RANGED])
def test_every_ranged_field_refuses_a_value_just_outside_in_one_line_naming_its_key(part, name, bad):
    spec = dataclasses.replace(SPECS[part], **{name: bad})
    with pytest.raises(ConfigError) as caught:
        spec.check("suite")
    key = f"suite.{'eval.' if part == 'eval' else ''}{name}: "
    assert str(caught.value).startswith(key) and "\n" not in str(caught.value), str(caught.value)


@pytest.mark.parametrize("part", list(SPECS))
def test_every_default_is_in_its_own_range(part):
    SPECS[part].check("suite")
