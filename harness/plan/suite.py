"""Suite YAML -> validated Suite -> the job matrix as frozen JobSpecs. Every error names its key path."""

import copy
import dataclasses
import fnmatch
import itertools
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.config.protocols import PRESETS
from harness.config.sizes import check_sizes
from harness.config.specs import (
    DataSpec,
    EvalSpec,
    JobSpec,
    ModelSpec,
    TrainSpec,
    check_seed,
    is_safe_name,
    is_slurm_word,
)
from harness.core.errors import ConfigError
from harness.data import DATASETS, check_classes, check_data, size_bound
from harness.models import ARCHS
from harness.train import tracking
from harness.train.augment import AUGMENTS
from harness.train.objectives import OBJECTIVES, PAIR_OBJECTIVES
from harness.train.recipes import OPTIMIZERS, SCHEDULES

TOP_KEYS = (
    "name", "description", "matrix", "defaults", "datasets", "overrides", "include", "exclude", "trackers", "slurm",
)  # fmt: skip
MATRIX_KEYS = ("arch", "dataset", "resolution", "epochs", "seed")
MATRIX_DEFAULTS = {"resolution": [32], "seed": [0]}
DATASET_KEYS = ("source", "classes", "path", "n_images")


def _fields(cls: type, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.name not in skip}


# Settings a suite may set in defaults, overrides and include entries, by the spec they feed.
SETTING_GROUPS = {
    "model": _fields(ModelSpec, skip=("arch", "arch_version")),
    "train": _fields(TrainSpec, skip=("epochs", "seed")),
    "data": _fields(DataSpec, skip=("source", "label", "resolution")),
}
SETTINGS = {k: t for group in SETTING_GROUPS.values() for k, t in group.items()}
EVAL_FIELDS = _fields(EvalSpec)
# Any setting is also a matrix axis (eval settings dotted, e.g. eval.protocol): a sweep without include entries.
SWEEPABLE = (*SETTINGS, *(f"eval.{k}" for k in (*EVAL_FIELDS, "protocol")))


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    jobs: tuple[JobSpec, ...]
    path: Path | None = None  # the YAML file, which launchers hand to the processes they start
    trackers: tuple[str, ...] = ()  # Accelerate trackers each job also logs to: a view of the records, not in job ids
    slurm: dict[str, Any] = dataclasses.field(default_factory=dict)  # its array tasks' resources (`harness submit`)
    sets: tuple[str, ...] = ()  # the --set overrides it was loaded with
    resolved: str = ""  # with sets: the suite as run, overrides applied, as YAML (store.runs.write_resolved keeps it)


def _check_keys(mapping: Any, valid: typing.Iterable[str], where: str) -> dict:
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise ConfigError(f"{where or 'the suite'}: expected a mapping, got {type(mapping).__name__}")
    valid = list(valid)
    for key in mapping:
        if key not in valid:
            raise ConfigError(f"{where + '.' if where else ''}{key}: unknown key; valid: {', '.join(valid)}")
    return mapping


def _coerce(value: Any, kind: Any, where: str) -> Any:
    """Check one YAML value against a spec field's annotation (int, float, str, bool, tuple[str, ...], X | None)."""
    if isinstance(kind, types.UnionType):
        if value is None:
            return None
        kind = next(k for k in typing.get_args(kind) if k is not type(None))
    if typing.get_origin(kind) is tuple:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise ConfigError(f"{where}: expected a list of names, got {value!r}")
        return tuple(items)
    if kind is float and isinstance(value, str):
        try:
            value = float(value)  # YAML 1.1 reads '2e-4' as a string; "inf" is refused below like .inf
        except ValueError:
            pass
    ok = isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not ok:
        raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}")
    if kind is float and not math.isfinite(value):
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    return value


def _settings(mapping: Any, where: str) -> dict[str, Any]:
    """A block of settings (defaults, an override, an include entry's extras), checked and typed."""
    mapping = _check_keys(mapping, [*SETTINGS, "eval"], where)
    out = {k: _coerce(v, SETTINGS[k], f"{where}.{k}") for k, v in mapping.items() if k != "eval"}
    for key, registry in _CHOICES.items():
        if key in out:
            registry.get(out[key], f"{where}.{key}")
    if "eval" in mapping:
        ev = dict(_check_keys(mapping["eval"], [*EVAL_FIELDS, "protocol"], f"{where}.eval"))
        # A named protocol fills in its settings; the block's own eval keys refine it.
        preset = PRESETS.get(str(ev.pop("protocol")), f"{where}.eval.protocol") if "protocol" in ev else {}
        out["eval"] = {**preset, **{k: _coerce(v, EVAL_FIELDS[k], f"{where}.eval.{k}") for k, v in ev.items()}}
    return out


# Settings whose values are registry names, checked where they are written.
_CHOICES = {"optimizer": OPTIMIZERS, "lr_schedule": SCHEDULES, "augment": AUGMENTS, "objective": OBJECTIVES}


def _merge(*blocks: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"eval": {}}
    for b in blocks:
        out.update({k: v for k, v in b.items() if k != "eval"})
        out["eval"] = {**out["eval"], **b.get("eval", {})}
    return out


def _as_list(value: Any, where: str, empty_ok: bool = False) -> list:
    values = value if isinstance(value, list) else [value]
    if not values and not empty_ok:
        raise ConfigError(f"{where}: empty list")
    return values


def _mapping(value: Any, where: str) -> dict:
    """A mapping whose keys are names the user chooses (dataset variants, override targets)."""
    return _check_keys(value, value.keys() if isinstance(value, dict) else (), where)


def _datasets(mapping: Any) -> dict[str, dict[str, Any]]:
    """Named dataset variants, e.g. `cifar10-cats-dogs: {source: cifar10, classes: [cat, dog]}`."""
    out = {}
    for label, d in _mapping(mapping, "datasets").items():
        where = f"datasets.{label}"
        if str(label) in DATASETS:  # its jobs would be called after the registered dataset, but train on another
            raise ConfigError(
                f"{where}: {str(label)!r} is a registered dataset; give the variant its own name, e.g. {label}-small"
            )
        d = _check_keys(d, DATASET_KEYS, where)
        if "source" not in d:
            raise ConfigError(f"{where}.source: missing; valid: {', '.join(DATASETS.names())}")
        DATASETS.get(_coerce(d["source"], str, f"{where}.source"), f"{where}.source")
        out[str(label)] = {"source": d["source"], **_settings({k: v for k, v in d.items() if k != "source"}, where)}
        check_classes(d["source"], out[str(label)].get("classes", ()), f"{where}.classes")
    return out


def _matrix_value(key: str, value: Any, where: str) -> Any:
    kind = str if key in ("arch", "dataset") else int
    return _coerce(value, kind, where)


class Expander:
    def __init__(self, raw: dict[str, Any]):
        self.datasets = _datasets(raw.get("datasets"))
        self.defaults = _settings(raw.get("defaults"), "defaults")
        overrides = _check_keys(raw.get("overrides"), ("arch", "dataset"), "overrides")
        self.overrides = {
            kind: {
                str(name): _settings(block, f"overrides.{kind}.{name}")
                for name, block in _mapping(overrides.get(kind), f"overrides.{kind}").items()
            }
            for kind in ("arch", "dataset")
        }
        for name in self.overrides["arch"]:
            ARCHS.get(name, f"overrides.arch.{name}")
        for name in self.overrides["dataset"]:
            if name not in DATASETS and name not in self.datasets:
                valid = ", ".join([*DATASETS.names(), *self.datasets])
                raise ConfigError(f"overrides.dataset.{name}: unknown dataset {name!r}; valid: {valid}")
        self.checked: dict[tuple, tuple[JobSpec, dict[str, Any]]] = {}  # (arch, dataset, resolution) -> a job of it

    def job(
        self, combo: dict[str, Any], extra: dict[str, Any], where: str, swept: dict[str, Any] | None = None
    ) -> JobSpec:
        """Jobs of one arch, dataset, resolution and swept settings without settings of their own differ only in
        epochs and seed: their settings are merged and checked once, and they share their model, data and eval
        specs. `swept`: the settings of the matrix's setting axes for this job (one block, merged)."""
        swept = swept or {}
        key = (combo["arch"], combo["dataset"], combo["resolution"], repr(sorted(swept.items())))
        if extra or key not in self.checked:
            job = self._build(combo, extra, where, swept)
            if not extra:
                train = {k: getattr(job.train, k) for k in SETTING_GROUPS["train"]}
                self.checked[key] = (job, train)
            return job
        first, train = self.checked[key]
        job = JobSpec(
            first.model, first.data, TrainSpec(epochs=combo["epochs"], seed=combo["seed"], **train), first.eval
        )
        _check_run(job.train, where)
        return job

    def _build(self, combo: dict[str, Any], extra: dict[str, Any], where: str, swept: dict[str, Any]) -> JobSpec:
        arch_name, label, res = combo["arch"], combo["dataset"], combo["resolution"]
        arch = ARCHS.get(arch_name, f"{where}.arch")
        arch.check_resolution(arch_name, res, f"{where}.resolution")
        base = self.datasets.get(label) or self._plain_dataset(label, f"{where}.dataset")
        s = _merge(
            # the arch's recipe, resolved into the spec: a default changed in code is a new job id, never a new
            # meaning for an old one
            _settings(arch.recipe, f"{arch_name} (its built-in defaults)"),
            self.defaults,
            {k: v for k, v in base.items() if k != "source"},
            swept,  # the matrix's setting axes: above the suite's defaults, below its per-name overrides
            self.overrides["arch"].get(arch_name, {}),
            self.overrides["dataset"].get(label, {}),
            extra,
        )
        pick = lambda group: {k: s[k] for k in SETTING_GROUPS[group] if k in s}  # noqa: E731
        data = DataSpec(source=base["source"], label=label, resolution=res, **pick("data"))
        check_data(data, f"{where}.dataset ({label})")
        job = JobSpec(
            model=ModelSpec(arch=arch_name, arch_version=arch.version, **pick("model")),
            data=data,
            train=TrainSpec(epochs=combo["epochs"], seed=combo["seed"], **pick("train")),
            eval=EvalSpec(**s["eval"]),
        )
        validate(job, where)
        return job

    def _plain_dataset(self, label: str, where: str) -> dict[str, Any]:
        if label not in DATASETS:
            valid = ", ".join([*DATASETS.names(), *self.datasets])
            raise ConfigError(f"{where}: unknown dataset {label!r}; valid: {valid}")
        return {"source": label}


def validate(job: JobSpec, where: str) -> None:
    """Combinations that cannot run, caught before anything trains: each spec's own ranges and rules (config/specs),
    the names the registries hold, and the sizes a suite alone can tell (config/sizes)."""
    if not is_safe_name(job.data.label):
        raise ConfigError(
            f"{where}.dataset: {job.data.label!r} is not a usable name; use letters, digits, '.', '+', '-'"
        )
    for part in (job.train, job.model, job.data):
        part.check(where)
    for key, registry in _CHOICES.items():
        registry.get(getattr(job.train, key), f"{where}.{key}")
    _check_objective(job, where)
    job.eval.check(where)
    _check_sizes(job, where)


def _check_objective(job: JobSpec, where: str) -> None:
    """A pair discriminator (Siamese) scores pairs of images, every other D one image: each needs its own losses."""
    pair, arch = job.train.objective in PAIR_OBJECTIVES, ARCHS.get(job.model.arch)
    if pair != arch.pair:
        valid = ", ".join(n for n in OBJECTIVES.names() if (n in PAIR_OBJECTIVES) == arch.pair)
        kind = "a pair discriminator" if arch.pair else "a one-image discriminator"
        raise ConfigError(
            f"{where}.objective: {job.train.objective} cannot train {job.model.arch} ({kind}); valid: {valid}"
        )


def _check_run(t: TrainSpec, where: str) -> None:
    """What validate checks of the epochs and seed: all that differs between jobs of one configuration."""
    if not t.epochs >= 1:
        raise ConfigError(f"{where}.epochs: must be ≥ 1, got {t.epochs}")
    check_seed(t.seed, where)


def _check_sizes(job: JobSpec, where: str) -> None:
    """The size rules with the sizes the suite tells: images per epoch, and the reference set's bound."""
    d = job.data
    bound = size_bound(d)
    held = "n_images" if d.n_images is not None else f"{d.source}'s default size"
    per_epoch, per_epoch_from = (d.oversample, "oversample") if d.oversample is not None else (bound, held)
    ref, ref_from = (bound, held)
    if job.eval.ref_size is not None and (bound is None or job.eval.ref_size < bound):
        ref, ref_from = job.eval.ref_size, "eval.ref_size"
    check_sizes(where, job.train.batch_size, per_epoch, per_epoch_from, job.eval, ref, ref_from)


def expand(raw: Any, name: str) -> Suite:
    raw = _check_keys(raw, TOP_KEYS, "")
    if "matrix" not in raw:
        raise ConfigError(f"matrix: missing; a suite needs matrix: with {', '.join(MATRIX_KEYS)}")
    matrix = _check_keys(raw["matrix"], [*MATRIX_KEYS, *SWEEPABLE], "matrix")
    for key in ("arch", "dataset", "epochs"):
        if key not in matrix:
            raise ConfigError(f"matrix.{key}: missing")
    axes = {
        k: [_matrix_value(k, v, f"matrix.{k}") for v in _as_list(matrix.get(k, MATRIX_DEFAULTS.get(k)), f"matrix.{k}")]
        for k in MATRIX_KEYS
    }
    sweeps = {k: [_sweep_block(k, v, f"matrix.{k}") for v in _as_list(matrix[k], f"matrix.{k}")]
              for k in matrix if k not in MATRIX_KEYS}  # fmt: skip
    expander = Expander(raw)
    excludes = [_exclude(e, f"exclude[{i}]") for i, e in enumerate(_as_list(raw.get("exclude") or [{}], "exclude"))]
    dropped = lambda combo, blocks: any(  # noqa: E731
        ex and all(_matches(combo, blocks, k, v) for k, v in ex.items()) for ex in excludes
    )
    cells = [(combo, blocks) for combo, blocks in _combos(axes, sweeps) if not dropped(combo, blocks)]
    jobs = [expander.job(combo, {}, "matrix", _merge(*blocks.values())) for combo, blocks in cells]
    for i, entry in enumerate(_as_list(raw.get("include") or [], "include", empty_ok=True)):
        jobs.append(_include(expander, entry, f"include[{i}]"))
    unique = {j.job_id: j for j in jobs}  # an include that repeats a matrix job is one job
    if not unique:
        raise ConfigError("exclude: drops every job of the matrix and no include adds one; nothing would run")
    _refuse_unused_overrides(expander.overrides, jobs)
    name = _coerce(raw.get("name", name), str, "name")
    desc = _coerce(raw.get("description") or "", str, "description")
    trackers = [_coerce(t, str, "trackers") for t in _as_list(raw.get("trackers") or [], "trackers", empty_ok=True)]
    tracking.check(tuple(trackers))
    return Suite(name, desc, tuple(unique.values()), trackers=tuple(dict.fromkeys(trackers)), slurm=_slurm(raw))


# What a suite may ask SLURM for its array tasks (`harness submit` options override each), with the least value.
SLURM_KEYS = {"gpus_per_task": 0, "cpus_per_task": 1, "time": "", "mem": "", "partition": "", "account": ""}


def _slurm(raw: dict) -> dict[str, Any]:
    """The suite's `slurm:` block, e.g. {gpus_per_task: 0, cpus_per_task: 1, time: "00:30:00"}: SbatchOptions' names,
    each value a count or a plain SLURM word (it goes on an #SBATCH line, which sbatch reads unquoted)."""
    block = _check_keys(raw.get("slurm"), SLURM_KEYS, "slurm")
    for key, value in block.items():
        least, where = SLURM_KEYS[key], f"slurm.{key}"
        if isinstance(least, int):
            if _coerce(value, int, where) < least:
                raise ConfigError(f"{where}: must be ≥ {least}, got {value}")
        elif not isinstance(value, str):  # 1800 minutes to SLURM
            unquoted = "unquoted, YAML reads 30:00 as the number 1800"
            raise ConfigError(
                f'{where}: expected a quoted string, got {value!r} ({unquoted}); write e.g. time: "30:00"'
            )
        elif not is_slurm_word(value):
            raise ConfigError(f"{where}: {value!r} is not a SLURM value (letters, digits, ._:-)")
    return dict(block)


def _refuse_unused_overrides(overrides: dict[str, dict[str, Any]], jobs: list[JobSpec]) -> None:
    """An override no job takes is never applied, so never checked: a misspelt or forgotten name, refused."""
    used = {"arch": {j.model.arch for j in jobs}, "dataset": {j.data.label for j in jobs}}
    for kind, blocks in overrides.items():
        for name in blocks:
            if name not in used[kind]:
                raise ConfigError(
                    f"overrides.{kind}.{name}: no job of this suite has {kind} {name!r}, so these settings never "
                    f"apply; its jobs use {kind} {', '.join(sorted(used[kind]))}"
                )


def _sweep_block(key: str, value: Any, where: str) -> dict[str, Any]:
    """One value of a setting axis as a checked settings block: `lr_schedule: cosine` or `eval: {protocol: ...}`
    (a named protocol expands to its settings). Errors name the axis: matrix.lr_schedule, matrix.eval.protocol."""
    head = where.rsplit(".", 2 if key.startswith("eval.") else 1)[0]
    if key.startswith("eval."):
        return _settings({"eval": {key.split(".", 1)[1]: value}}, head)
    return _settings({key: value}, head)


def _combos(axes: dict[str, list], sweeps: dict[str, list[dict]]):
    """(core values, {axis: its block}) for every cell of the matrix: arch, dataset, resolution, epochs, then the
    setting axes in the order written, seeds innermost (a configuration's seeds side by side); without setting axes,
    exactly the order of a suite before they existed."""
    core = [k for k in MATRIX_KEYS if k != "seed"]
    for values in itertools.product(*(axes[k] for k in core), *sweeps.values(), axes["seed"]):
        combo = dict(zip(core, values[: len(core)], strict=True)) | {"seed": values[-1]}
        yield combo, dict(zip(sweeps, values[len(core) : -1], strict=True))


def _matches(combo: dict[str, Any], blocks: dict[str, dict], key: str, accepted: list) -> bool:
    return (combo[key] if key in MATRIX_KEYS else blocks.get(key)) in accepted


def _exclude(entry: Any, where: str) -> dict[str, list]:
    """An exclude entry: {axis: the values it drops}, over the core axes and any setting axis."""
    entry = _check_keys(entry, [*MATRIX_KEYS, *SWEEPABLE], where)
    out = {}
    for k, val in entry.items():
        each = _as_list(val, f"{where}.{k}")
        out[k] = [_matrix_value(k, v, f"{where}.{k}") if k in MATRIX_KEYS else _sweep_block(k, v, f"{where}.{k}")
                  for v in each]  # fmt: skip
    return out


def _include(expander: Expander, entry: Any, where: str) -> JobSpec:
    entry = _check_keys(entry, [*MATRIX_KEYS, *SETTINGS, "eval"], where)
    for k in ("arch", "dataset", "epochs"):
        if k not in entry:
            raise ConfigError(f"{where}.{k}: missing; an include entry names one job")
    combo = {k: _matrix_value(k, entry.get(k, MATRIX_DEFAULTS.get(k, [None])[0]), f"{where}.{k}") for k in MATRIX_KEYS}
    extra = _settings({k: v for k, v in entry.items() if k not in MATRIX_KEYS}, where)
    return expander.job(combo, extra, where)


def _yaml_position(e: yaml.YAMLError, text: str) -> str:
    mark = getattr(e, "problem_mark", None)
    if mark is not None:
        return f" at line {mark.line + 1}, column {mark.column + 1}"
    if isinstance(e, yaml.reader.ReaderError):  # bad characters: it knows only the offset
        return f" at line {text.count(chr(10), 0, e.position) + 1}"
    return ""


def _yaml_problem(e: yaml.YAMLError) -> str:
    problem = getattr(e, "problem", None) or getattr(e, "reason", None) or str(e)
    return " ".join(str(problem).split())


def _parse(text: str) -> Any:
    """The document, composed once: duplicate keys are refused on its node tree, then it is constructed. libyaml,
    when PyYAML has it, composes a long seed list ten times faster; whatever it refuses is parsed again by the
    pure-Python loader, whose messages (line, column, problem) the errors quote."""
    fast = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return _load(text, fast)
    except yaml.YAMLError:
        if fast is yaml.SafeLoader:
            raise
        return _load(text, yaml.SafeLoader)


def _load(text: str, loader_class: type) -> Any:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _refuse_duplicate_keys(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _refuse_duplicate_keys(root: yaml.Node) -> None:
    """A key given twice in one mapping is an error: YAML keeps the last one silently, so a copy-pasted `epochs:`
    would change the suite without a word. Keys merged in with `<<` may still be overridden. Each node is read
    once, however many aliases name it."""
    stack, visited = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if (key.tag, key.value) in seen:
                        problem = f"duplicate key {key.value!r}; keep one of them"
                        raise yaml.constructor.ConstructorError(None, None, problem, key.start_mark)
                    seen.add((key.tag, key.value))
                stack += [n for n in (key, value) if not isinstance(n, yaml.ScalarNode)]
        elif isinstance(node, yaml.SequenceNode):
            stack += [n for n in node.value if not isinstance(n, yaml.ScalarNode)]


def apply_sets(raw: Any, sets: typing.Iterable[str]) -> Any:
    """The suite with each KEY=VALUE applied: KEY a dotted path into it (`defaults.lr_g`, `matrix.seed`; `eval.X`
    is `defaults.eval.X`; under `matrix` the rest is one axis name, e.g. `matrix.eval.protocol`), VALUE read as
    YAML (safe_load). The result is checked as the file is, so a bad key or value is the same one-line error."""
    raw = copy.deepcopy(raw) if isinstance(raw, dict) else {}
    for item in sets:
        key, sep, text = item.partition("=")
        path = [part.strip() for part in key.split(".")]
        if not sep or not all(path):
            raise ConfigError(f"--set {item!r}: use KEY=VALUE with a dotted KEY, e.g. defaults.lr_g=1e-4")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"--set {item!r}: the value is not YAML: {_yaml_problem(e)}") from None
        path = ["defaults", *path] if path[0] == "eval" else path
        path = ["matrix", ".".join(path[1:])] if path[0] == "matrix" and len(path) > 2 else path
        node = raw
        for part in path[:-1]:
            if node.get(part) is None:
                node[part] = {}
            if not isinstance(node[part], dict):
                raise ConfigError(f"--set {item!r}: {part} is not a mapping in this suite")
            node = node[part]
        node[path[-1]] = value
    return raw


def load_suite(path: str | Path, sets: typing.Sequence[str] = ()) -> Suite:
    """The suite in the file at `path`, with the --set overrides `sets` applied before it is checked."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read suite {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; is this a suite YAML file?") from None
    try:
        raw = _parse(text)
        if sets:
            raw = apply_sets(raw, sets)
        suite = expand(raw, path.stem)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: malformed YAML{_yaml_position(e, text)}: {_yaml_problem(e)}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a suite; a suite is a few levels of mappings") from None
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    if not is_safe_name(suite.name):
        raise ConfigError(f"{path}: name: {suite.name!r} cannot be a folder name; use letters, digits, '.', '_', '-'")
    if sets:
        header = f"# {path.name} with --set {' --set '.join(sets)} (written by harness)\n"
        resolved = header + yaml.safe_dump({**raw, "name": suite.name}, sort_keys=False, allow_unicode=True)
        suite = dataclasses.replace(suite, sets=tuple(sets), resolved=resolved)
    return dataclasses.replace(suite, path=path.resolve())


def select(jobs: tuple[JobSpec, ...], only: str | None) -> list[JobSpec]:
    """The jobs whose id matches the glob `only` (all when None)."""
    chosen = [j for j in jobs if only is None or fnmatch.fnmatchcase(j.job_id, only)]
    if not chosen:
        raise ConfigError(f"--only {only!r} matches no job; `harness plan` lists the job ids")
    return chosen


def pick(suite: Suite, index: int | None, job_id: str | None) -> JobSpec:
    """One job of the suite, by its position in `harness plan` or by its id."""
    if (index is None) == (job_id is None):
        raise ConfigError("give exactly one of --index and --job-id")
    if index is not None:
        if not 0 <= index < len(suite.jobs):
            raise ConfigError(f"--index {index}: {suite.name} has jobs 0 to {len(suite.jobs) - 1}")
        return suite.jobs[index]
    for job in suite.jobs:
        if job.job_id == job_id:
            return job
    raise ConfigError(
        f"--job-id {job_id}: not a job of {suite.name} (was the suite edited?); `harness plan` lists them"
    )
