"""Bad input never produces a traceback. Through the real CLI, each case gives one `error:` line naming the problem
and its fix, exits 2 (usage) or 1 (runtime), and leaves nothing half-written; problems a suite alone shows are refused
before anything is written. Hypothesis generates suites: valid ones expand to the matrix, invalid ones (wrong types,
unknown keys and names, impossible values) raise ConfigError, and arbitrary YAML raises nothing else."""

import copy
import itertools
import json
import math
import os
import string
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.config.protocols import PRESETS
from harness.core.errors import ConfigError
from harness.core.precision import PRECISIONS
from harness.data import DATASETS
from harness.models import ARCHS
from harness.plan.suite import EVAL_FIELDS, MATRIX_KEYS, SETTINGS, TOP_KEYS, Suite, load_suite
from harness.train.augment import AUGMENTS
from harness.train.recipes import OPTIMIZERS, SCHEDULES
from tests.helpers import harness, tiny_suite, tmpfs

# --- the CLI, case by case --------------------------------------------------------------------------------------------


def _suite(tmp: Path, defaults=None, matrix=None, datasets=None, **eval_kw) -> Path:
    """tiny_suite with its matrix and dataset variants changed."""
    path = tiny_suite(tmp / "bad.yaml", name="bad", epochs=1, defaults=defaults, **eval_kw)
    raw = yaml.safe_load(path.read_text())
    raw["matrix"].update(matrix or {})
    raw.update({"datasets": datasets} if datasets else {})
    path.write_text(yaml.safe_dump(raw))
    return path


def _top(tmp: Path, **keys) -> Path:
    """_suite with top-level keys set (None writes YAML's null)."""
    path = _suite(tmp)
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), **keys}))
    return path


def _text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _images(folder: Path, content: bytes | None) -> Path:
    """An image folder with one class, holding one file x.png with this content (None: no file)."""
    (folder / "a").mkdir(parents=True)
    if content is not None:
        (folder / "a" / "x.png").write_bytes(content)
    return folder


def _folder_suite(tmp: Path, content: bytes | None) -> Path:
    return _suite(tmp, {"path": str(_images(tmp / "img", content))}, matrix={"dataset": ["imagefolder"]})


def _weights(tmp: Path, kind: str) -> Path:
    path = tmp / "weights.pth"
    if kind == "folder":
        path.mkdir()
    elif kind == "garbage":
        path.write_bytes(os.urandom(4096))
    elif kind == "list":
        torch.save([1, 2, 3], path)
    else:  # a state dict of another network, whole or cut short
        torch.save({"conv.weight": torch.zeros(8, 3, 3, 3), "fc.weight": torch.zeros(10, 8)}, path)
        if kind == "truncated":
            path.write_bytes(path.read_bytes()[:700])
    return path


def _scored(tmp: Path) -> Path:
    return _suite(tmp, metrics=["fid"], n_samples=16, ref_size=16)


def _run(tmp: Path, suite: Path, *extra: str) -> list[str]:
    return ["run", str(suite), "--results", str(tmp / "results"), "--device", "cpu", *extra]


def _run_job(tmp: Path, suite: Path, *extra: str) -> list[str]:
    return ["run-job", str(suite), "--index", "0", "--results", str(tmp / "results"), "--device", "cpu", *extra]


DUPLICATE_KEY = "matrix: {arch: [dcgan], dataset: [synthetic]}\ndefaults:\n  batch_size: 8\n  ngf: 8\n  batch_size: 4\n"

# name: (build(tmp) -> CLI args, fragments the error line contains)
USAGE = {
    "malformed-yaml": (
        lambda t: _run(t, _text(t / "bad.yaml", "matrix: {arch: [dcgan], dataset: [synthetic]\n")),
        ["malformed YAML", "line 2"],
    ),
    "duplicate-key": (
        lambda t: _run(t, _text(t / "bad.yaml", DUPLICATE_KEY)),
        ["line 5", "duplicate key 'batch_size'", "keep one of them"],
    ),
    "deeply-nested": (
        lambda t: _run(t, _text(t / "bad.yaml", "name: deep\nmatrix: " + "[" * 5000 + "]" * 5000 + "\n")),
        ["nested too deeply"],
    ),
    "name-null": (lambda t: _run(t, _top(t, name=None)), ["name: expected str, got None"]),
    "infinity-as-a-string": (
        lambda t: _run(t, _suite(t, {"lr_g": "inf"})),
        ["defaults.lr_g", "expected a finite number", "inf"],
    ),
    "exclude-drops-every-job": (
        lambda t: _run(t, _top(t, exclude=[{"arch": ["dcgan"]}])),
        ["exclude: drops every job of the matrix", "nothing would run"],
    ),
    "variant-named-like-a-registered-dataset": (
        lambda t: _run(t, _suite(t, matrix={"dataset": ["cifar10"]}, datasets={"cifar10": {"source": "synthetic"}})),
        ["datasets.cifar10", "'cifar10' is a registered dataset", "give the variant its own name"],
    ),
    "override-no-job-takes": (
        lambda t: _run(t, _top(t, overrides={"arch": {"wgan": {"ngf": 8}}})),
        ["overrides.arch.wgan", "no job of this suite has arch 'wgan'", "its jobs use arch dcgan"],
    ),
    "wrong-type": (
        lambda t: _run(t, _suite(t, {"batch_size": "big"})),
        ["defaults.batch_size", "expected int", "'big'"],
    ),
    "unknown-key": (
        lambda t: _run(t, _suite(t, {"batch_sise": 8})),
        ["defaults.batch_sise", "unknown key", "batch_size"],
    ),
    "unknown-arch": (lambda t: _run(t, _suite(t, matrix={"arch": ["dcgna"]})), ["unknown arch 'dcgna'", "dcgan"]),
    "unknown-dataset": (
        lambda t: _run(t, _suite(t, matrix={"dataset": ["cifar11"]})),
        ["unknown dataset 'cifar11'", "cifar10"],
    ),
    "resolution-the-arch-cannot-do": (
        lambda t: _run(t, _suite(t, matrix={"arch": ["sagan"], "resolution": [128]})),
        ["matrix.resolution", "sagan cannot generate 128px", "valid: 32, 64"],
    ),
    "batch-larger-than-the-data": (
        lambda t: _run(t, _suite(t, {"batch_size": 128, "n_images": 64})),
        ["batch_size: 128 > 64 training images", "lower batch_size"],
    ),
    "batch-larger-than-oversample": (
        lambda t: _run(t, _suite(t, {"batch_size": 32, "oversample": 16})),
        ["batch_size: 32 > 16 training images per epoch (oversample)", "raise oversample"],
    ),
    "class-not-in-the-dataset": (
        lambda t: _run(t, _suite(t, datasets={"pets": {"source": "cifar10", "classes": ["cat", "kitten"]}})),
        ["datasets.pets.classes", "'kitten' is not in cifar10", "valid: airplane"],
    ),
    "kid-subsets-larger-than-n-samples": (
        lambda t: _run(t, _suite(t, metrics=["kid"], n_samples=10, kid_subset_size=20)),
        ["kid_subset_size: 20 > eval.n_samples 10", "set kid_subset_size ≤ 10"],
    ),
    "kid-subsets-larger-than-the-reference": (
        lambda t: _run(t, _suite(t, metrics=["kid"], n_samples=100, kid_subset_size=80)),
        ["kid_subset_size: 80 > 64 reference images (n_images)", "set kid_subset_size ≤ 64"],
    ),
    "imagefolder-without-a-path": (
        lambda t: _run(t, _suite(t, matrix={"dataset": ["imagefolder"]})),
        ["imagefolder dataset needs a 'path'", "set path:"],
    ),
    "missing-suite-file": (lambda t: ["plan", str(t / "nope.yaml")], ["cannot read suite", "nope.yaml"]),
    "score-without-runs": (lambda t: ["score", str(t / "results")], ["no runs here", "pass a run folder"]),
    "unknown-device": (
        lambda t: ["run", str(_suite(t)), "--results", str(t / "results"), "--device", "gpu"],
        ["--device 'gpu'", "valid: auto, cpu, cuda"],
    ),
    "score-on-an-unknown-device": (
        lambda t: ["score", str(t / "results"), "--device", "tpu"],
        ["--device 'tpu'", "valid: cpu, cuda"],
    ),
}
RUNTIME = {
    "missing-cifar10": (
        lambda t: _run_job(t, _suite(t, matrix={"dataset": ["cifar10"]}), "--data-root", str(t / "nodata")),
        ["CIFAR-10 not found under", "--data-root"],
    ),
    "missing-image-folder": (
        lambda t: _run_job(t, _suite(t, {"path": str(t / "nope")}, matrix={"dataset": ["imagefolder"]})),
        ["image folder", "does not exist", "fix its path"],
    ),
    "not-an-image": (
        lambda t: _run_job(t, _folder_suite(t, b"\x89PNG but not really")),
        ["unreadable image", "x.png", "remove or replace the file"],
    ),
    "empty-image-file": (lambda t: _run_job(t, _folder_suite(t, b"")), ["unreadable image", "x.png"]),
    "no-images": (
        lambda t: _run_job(t, _folder_suite(t, None)),
        ["no images", "one sub-folder per class"],
    ),
}
WEIGHTS = {
    "missing": ["HARNESS_INCEPTION_WEIGHTS=", "does not exist", "build or download"],
    "folder": ["is not a file", "point it at the weights file"],
    "garbage": ["are unreadable", "rebuild or re-download"],
    "truncated": ["are unreadable", "rebuild or re-download"],
    "list": ["hold a list, not a state dict"],
    "another-network": ["do not fit torch-fidelity's InceptionV3", "Missing key(s)", "rebuild or re-download"],
}
# name: (build(tmp) -> CLI args, exit code, fragments of the error line, bad Inception weights or None)
CASES = {
    **{name: (build, 2, fragments, None) for name, (build, fragments) in USAGE.items()},
    **{name: (build, 1, fragments, None) for name, (build, fragments) in RUNTIME.items()},
    **{f"weights-{kind}": (lambda t: _run_job(t, _scored(t)), 1, frags, kind) for kind, frags in WEIGHTS.items()},
}


def _launch(name: str, tmp: Path) -> subprocess.CompletedProcess:
    build, _, _, weights = CASES[name]
    env = dict(os.environ)
    if weights is not None:
        env["HARNESS_INCEPTION_WEIGHTS"] = str(tmp / "nope.pth" if weights == "missing" else _weights(tmp, weights))
    return harness(*build(tmp), env=env)


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    """Every selected case, run a few at a time: each is a CLI process that spends most of its time starting up."""
    test = test_bad_input_is_one_line_and_an_exit_code.__name__
    names = [item.callspec.id for item in request.session.items if item.originalname == test]
    folders = {name: tmp_path_factory.mktemp(name) for name in names}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        done = pool.map(lambda name: _launch(name, folders[name]), names)
        return {name: (folders[name], d) for name, d in zip(names, done, strict=True)}


def assert_nothing_half_written(results: Path) -> None:
    """No temp files left, and every record there reads back whole."""
    if not results.exists():
        return
    assert not [p for p in results.rglob("*") if p.name.endswith(".tmp")]
    for path in results.rglob("*.json"):
        json.loads(path.read_text())
    for path in results.rglob("*.jsonl"):
        text = path.read_text()
        assert not text or text.endswith("\n"), path
        for line in text.splitlines():
            json.loads(line)


def one_error_line(done: subprocess.CompletedProcess, fragments: list[str]) -> str:
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert "internal error" not in done.stderr
    for fragment in fragments:
        assert fragment in errors[0], f"{fragment!r} not in {errors[0]!r}"
    return errors[0].removeprefix("error: ")


@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_one_line_and_an_exit_code(outcomes, name):
    _, code, fragments, _ = CASES[name]
    tmp, done = outcomes[name]
    assert done.returncode == code, done.stderr
    message = one_error_line(done, fragments)
    results = tmp / "results"
    if code == 2:
        assert not results.exists()  # refused before anything was written
    else:  # the job's record says what the line said
        [status] = results.rglob("status.json")
        record = json.loads(status.read_text())
        assert record["state"] == "failed" and record["error"] == message
    assert_nothing_half_written(results)


def test_a_job_failing_in_a_suite_run_is_one_failed_line_and_exit_1(tmp_path):
    done = harness(*_run(tmp_path, _folder_suite(tmp_path, b"not an image")))
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    failed = [line for line in done.stderr.splitlines() if line.startswith("failed ")]
    assert len(failed) == 1 and "unreadable image" in failed[0] and "x.png" in failed[0], done.stderr
    assert_nothing_half_written(tmp_path / "results")


@pytest.fixture
def small_disk(tmp_path):
    """A 300 kB file system: room for a job's records and first sample grid, not for its checkpoint."""
    with tmpfs(tmp_path / "disk", "size=300k") as mount:
        yield mount


def test_a_full_disk_is_one_line_exit_1_and_nothing_half_written(tmp_path, small_disk):
    suite = tiny_suite(tmp_path / "full.yaml", name="full", epochs=1)
    done = harness("run-job", str(suite), "--index", "0", "--results", str(small_disk), "--device", "cpu")
    assert done.returncode == 1, done.stderr
    one_error_line(done, ["no space left on device writing", str(small_disk), "free space and run again"])
    assert_nothing_half_written(small_disk)
    suite_run = harness("run", str(suite), "--results", str(small_disk), "--device", "cpu")
    assert suite_run.returncode == 1 and "Traceback" not in suite_run.stderr, suite_run.stderr
    [failed] = [line for line in suite_run.stderr.splitlines() if line.startswith("failed ")]
    assert "no space left on device writing" in failed and "OSError" not in failed
    assert_nothing_half_written(small_disk)


@pytest.fixture(params=["a plain file", "a read-only file system"])
def unwritable(request, tmp_path):
    if request.param == "a plain file":
        (tmp_path / "results").write_text("not a folder")
        yield tmp_path / "results"
        return
    with tmpfs(tmp_path / "ro", "ro,size=64k") as mount:
        yield mount


def test_results_that_cannot_be_written_are_one_line_before_any_job(tmp_path, unwritable):
    done = harness("run", str(_suite(tmp_path)), "--results", str(unwritable), "--device", "cpu")
    assert done.returncode == 1, done.stderr
    message = one_error_line(done, ["cannot write results to", str(unwritable), "pass a writable --results"])
    assert "status.json" not in message and "failed " not in done.stderr  # no job claims a record it never wrote


# --- generated suites -------------------------------------------------------------------------------------------------

VARIANTS = {
    "pets": {"source": "cifar10", "classes": ["cat", "dog"]},
    "circles": {"source": "synthetic", "classes": ["circle"]},
    "faces": {"source": "imagefolder", "path": "faces"},
}
NAMES = st.text(string.ascii_lowercase + string.digits + "_-", min_size=1, max_size=10)
PROPERTIES = settings(
    max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def _small_lists(elements, max_size=3):
    return st.lists(elements, min_size=1, max_size=max_size, unique=True)


def _maybe_scalar(draw, values: list):
    """YAML lets an axis be one value instead of a list."""
    return values[0] if len(values) == 1 and draw(st.booleans()) else values


@st.composite
def valid_defaults(draw) -> dict:
    """Settings that are each valid and valid together (batch_size ≤ the images; KID's subsets ≤ the reference)."""
    optional = {
        "z_dim": st.integers(1, 256),
        "ngf": st.integers(1, 128),
        "ndf": st.integers(1, 128),
        "spectral_norm": st.booleans(),
        "optimizer": st.sampled_from(OPTIMIZERS.names()),
        "lr_g": st.floats(1e-6, 1e-2),
        "lr_d": st.floats(1e-6, 1e-2).map(lambda v: f"{v:g}"),  # YAML 1.1 reads '2e-4' as a string
        "beta1": st.floats(0, 0.99),
        "beta2": st.floats(0, 0.999),
        "lr_schedule": st.sampled_from(SCHEDULES.names()),
        "n_critic": st.integers(1, 5),
        "label_smoothing": st.floats(0, 0.5),
        "ema": st.floats(0, 0.999),
        "augment": st.sampled_from(AUGMENTS.names()),
        "gp_weight": st.floats(0, 100),
        "precision": st.sampled_from(PRECISIONS),
        "n_images": st.none() | st.integers(1000, 4096),
        "sharpen": st.floats(0, 2),
    }
    keys = draw(st.lists(st.sampled_from(sorted(optional)), unique=True, max_size=6))
    out = {k: draw(optional[k]) for k in keys}
    out["batch_size"] = draw(st.integers(1, 128))
    if draw(st.booleans()):
        out["oversample"] = draw(st.integers(out["batch_size"], 10_000))
    if draw(st.booleans()):
        out["eval"] = {"protocol": draw(st.sampled_from(PRESETS.names())), "every": draw(st.integers(0, 5))}
    return out


@st.composite
def valid_suites(draw) -> tuple[dict, set]:
    """A suite and the (arch, dataset, resolution, epochs, seed) of every job it must expand to."""
    archs = draw(_small_lists(st.sampled_from(ARCHS.names())))
    common = sorted(set.intersection(*(set(ARCHS.get(a).resolutions) for a in archs)))
    axes = {
        "arch": archs,
        "dataset": draw(_small_lists(st.sampled_from(["synthetic", "cifar10", "stl10", *VARIANTS]))),
        "resolution": draw(_small_lists(st.sampled_from(common), max_size=2)),
        "epochs": draw(_small_lists(st.integers(1, 500))),
        "seed": draw(_small_lists(st.integers(0, 2**32 - 1))),
    }
    raw = {
        "name": draw(NAMES.filter(lambda n: n[0].isalnum())),
        "matrix": {k: _maybe_scalar(draw, v) for k, v in axes.items()},
    }
    used = {k: copy.deepcopy(VARIANTS[k]) for k in axes["dataset"] if k in VARIANTS}
    if used:
        raw["datasets"] = used
    raw["defaults"] = draw(valid_defaults())
    raw["overrides"] = {"arch": {a: {"spectral_norm": True} for a in archs if draw(st.booleans())}}
    expected = set(itertools.product(*axes.values()))
    if len(axes["seed"]) > 1 and draw(st.booleans()):
        raw["exclude"] = [{"seed": axes["seed"][0]}]
        expected = {c for c in expected if c[4] != axes["seed"][0]}
    if draw(st.booleans()):  # one more job outside the matrix (or one already in it: the same job, once)
        extra = (archs[0], axes["dataset"][0], common[0], draw(st.integers(1, 600)), 0)
        raw["include"] = [dict(zip(MATRIX_KEYS, extra, strict=True))]
        expected.add(extra)
    return raw, expected


def _load(folder: Path, raw) -> Suite:
    path = folder / "generated.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    return load_suite(path)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("generated")


@PROPERTIES
@given(valid_suites())
def test_valid_suites_expand_to_the_matrix_with_unique_ids(folder, case):
    raw, expected = case
    suite = _load(folder, raw)
    got = [(j.model.arch, j.data.label, j.data.resolution, j.train.epochs, j.train.seed) for j in suite.jobs]
    assert sorted(got) == sorted(expected)
    assert len({j.job_id for j in suite.jobs}) == len(suite.jobs)


def _wrong_value(kind) -> st.SearchStrategy:
    """Values of the wrong type for a setting annotated `kind` (None is right only for `X | None`)."""
    containers = st.lists(st.integers(), min_size=1, max_size=2) | st.dictionaries(NAMES, st.integers(), min_size=1)
    not_numbers = st.text(string.ascii_letters, min_size=1, max_size=6).filter(lambda s: not _is_number(s))
    optional = kind in (int | None,)
    base = int if optional else kind
    wrong = {
        int: st.floats(allow_nan=False) | st.booleans() | st.text(max_size=4) | containers,
        float: st.booleans() | not_numbers | containers,
        str: st.integers() | st.floats(allow_nan=False) | st.booleans() | containers,
        bool: st.integers() | st.text(max_size=4) | st.floats(allow_nan=False) | containers,
    }.get(base, st.integers() | st.booleans() | st.lists(st.integers(), min_size=1, max_size=2))  # tuple[str, ...]
    return wrong if optional else wrong | st.none()


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


@st.composite
def invalid_suites(draw) -> tuple[dict, str]:
    """A valid suite with one thing made wrong; returns it and what was changed."""
    raw, _ = draw(valid_suites())
    defaults = raw["defaults"]
    kind = draw(
        st.sampled_from(["setting-type", "eval-type", "unknown-key", "unknown-arch", "unknown-dataset", "bad-matrix"])
    )
    if kind == "setting-type":
        key = draw(st.sampled_from(sorted(SETTINGS)))
        defaults[key] = draw(_wrong_value(SETTINGS[key]))
    elif kind == "eval-type":
        key = draw(st.sampled_from(sorted(EVAL_FIELDS)))
        defaults.setdefault("eval", {})[key] = draw(_wrong_value(EVAL_FIELDS[key]))
    elif kind == "unknown-key":
        where = draw(st.sampled_from(["top", "matrix", "defaults", "eval", "variant", "exclude"]))
        block = {
            "top": raw,
            "matrix": raw["matrix"],
            "defaults": defaults,
            "eval": defaults.setdefault("eval", {}),
            "variant": raw.setdefault("datasets", {}).setdefault("extra", {"source": "synthetic"}),
            "exclude": raw.setdefault("exclude", [{}])[0],
        }[where]
        valid = {*TOP_KEYS, *MATRIX_KEYS, *SETTINGS, *EVAL_FIELDS, "eval", "protocol", "source"}
        block[draw(NAMES.filter(lambda k: k not in valid))] = draw(st.integers())
    elif kind == "unknown-arch":
        raw["matrix"]["arch"] = [draw(NAMES.filter(lambda n: n not in ARCHS))]
    elif kind == "unknown-dataset":
        known = {*DATASETS.names(), *raw.get("datasets", {})}
        raw["matrix"]["dataset"] = [draw(NAMES.filter(lambda n: n not in known))]
    else:
        key = draw(st.sampled_from(sorted(BAD_MATRIX)))
        raw["matrix"][key] = [draw(BAD_MATRIX[key])]
    return raw, kind


BAD_MATRIX = {
    "epochs": st.integers(max_value=0),
    "seed": st.integers(max_value=-1) | st.integers(min_value=2**32, max_value=2**64),
    "resolution": st.integers(-10, 1024).filter(lambda r: r not in (32, 64, 128)),
}
# Impossible values and combinations, each added to the defaults of generated valid suites.
BAD_VALUES = {
    "zero-lr": {"lr_g": 0.0},
    "negative-lr": {"lr_d": -1e-4},
    "beta1-one": {"beta1": 1.0},
    "negative-beta2": {"beta2": -0.1},
    "zero-n-critic": {"n_critic": 0},
    "zero-ngf": {"ngf": 0},
    "ema-one": {"ema": 1.0},
    "nan-smoothing": {"label_smoothing": float("nan")},
    "infinite-gp-weight": {"gp_weight": float("inf")},
    "negative-sharpen": {"sharpen": -1.0},
    "zero-n-images": {"n_images": 0},
    "zero-batch": {"batch_size": 0},
    "batch-over-n-images": {"batch_size": 65, "n_images": 64, "oversample": None},
    "batch-over-oversample": {"batch_size": 64, "oversample": 63},
    "unknown-optimizer": {"optimizer": "sgd"},
    "unknown-augment": {"augment": "mixup"},
    "unknown-precision": {"precision": "fp16"},
    "batch-not-split-over-processes": {"processes": 3, "batch_size": 64},
    "unknown-metric": {"eval": {"metrics": ["fid", "fidd"]}},
    "kid-over-n-samples": {"eval": {"metrics": ["kid"], "n_samples": 10, "kid_subset_size": 11}},
    "kid-over-ref-size": {"eval": {"metrics": ["kid"], "n_samples": 500, "kid_subset_size": 400, "ref_size": 100}},
    "prc-over-n-samples": {"eval": {"metrics": ["prc"], "n_samples": 3, "prc_neighborhood": 3}},
    "zero-kid-subsets": {"eval": {"kid_subsets": 0}},
    "unknown-ref-split": {"eval": {"ref_split": "val"}},
    "unknown-protocol": {"eval": {"protocol": "fid1m"}},
    "curve-over-n-samples": {"eval": {"curve_samples": 20_000, "metrics": ["fid"]}},
}


@settings(PROPERTIES, max_examples=150)
@given(invalid_suites())
def test_invalid_suites_raise_a_one_line_config_error(folder, case):
    raw, _ = case
    with pytest.raises(ConfigError) as err:
        _load(folder, raw)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("bad", BAD_VALUES)
@settings(PROPERTIES, max_examples=4)
@given(valid_suites())
def test_impossible_values_raise_a_one_line_config_error(folder, bad, case):
    raw, _ = case
    raw["defaults"].update(copy.deepcopy(BAD_VALUES[bad]))
    with pytest.raises(ConfigError) as err:
        _load(folder, raw)
    assert "\n" not in str(err.value)


YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _paths(node, prefix=()):
    """Every place in a nested structure of dicts and lists."""
    yield prefix
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        yield from _paths(child, (*prefix, key))


@st.composite
def mangled_suites(draw):
    """A valid suite with any one place replaced by an arbitrary YAML value."""
    raw, _ = draw(valid_suites())
    place = draw(st.sampled_from(list(_paths(raw))))
    value = draw(YAML_VALUES)
    if not place:
        return value
    parent = raw
    for key in place[:-1]:
        parent = parent[key]
    parent[place[-1]] = value
    return raw


@settings(PROPERTIES, max_examples=150)
@given(mangled_suites())
def test_any_yaml_loads_or_raises_config_error_never_anything_else(folder, raw):
    try:
        suite = _load(folder, raw)
    except ConfigError as e:
        assert "\n" not in str(e)
    else:
        assert len({j.job_id for j in suite.jobs}) == len(suite.jobs)
