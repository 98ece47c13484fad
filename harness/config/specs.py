"""Frozen, typed job specs, each field's valid range declared beside it (`checked`) and each spec's rules between
its fields in its own `check`; their canonical JSON and the stable job id derived from it."""

import dataclasses
import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from harness.core.errors import ConfigError
from harness.core.precision import PRECISIONS

# Everything that changes a job's outcome lives in these specs: the hash of their canonical JSON is the job's identity.
# prc: precision and recall (Kynkäänniemi et al. 2019). The health metrics, from the same Inception features as FID
# (harness/eval/health.py): density and coverage (Naeem et al. 2020), within-class diversity over z, and for conditional
# archs intra-class FID.
HEALTH_METRICS = ("coverage", "diversity", "intra_fid")  # coverage: density and coverage together
METRICS = ("fid", "kid", "isc", "prc", *HEALTH_METRICS)
DEFAULT_METRICS = ("fid", "kid", "isc", *HEALTH_METRICS)
DC_NEIGHBORHOOD = 5

# Fields added to the specs after jobs had run under ids that did not hash them, each with the value every earlier
# job had implicitly. A field that holds that value is left out of the id, so those jobs keep their ids (and their
# folders, and "done" in `harness plan`); any other value is hashed, so a changed recipe is always a new job.
# This table is history: it never changes. An arch added later has no entry, so its objective is always hashed.
OBJECTIVE_BEFORE_IDS_HASHED_IT = {
    "dcgan": "bce", "cgan": "bce", "wgan": "wasserstein", "wgan-gp": "wasserstein-gp", "sngan": "hinge",
    "sagan": "hinge", "siamese": "siamese-bce", "siamese-concat": "siamese-bce",
}  # fmt: skip
FIRST_ARCH_VERSION = 1  # every arch's recipe before arch_version was hashed
SEED_LIMIT = 2**32  # data order seeds generators with seed * 1_000_003 + epoch, which must fit in 64 bits


@dataclass(frozen=True)
class Range:
    """A field's valid values: ≥ ge (> gt), below lt, or one of `choices`. None (an optional field unset) is valid."""

    ge: float | None = None
    gt: float | None = None
    lt: float | None = None
    choices: tuple[str, ...] = ()

    def problem(self, value: Any) -> str:
        """What is wrong with `value` ('' when nothing). Written so NaN fails every bound."""
        if self.choices:
            return "" if value in self.choices else f"{value!r}; valid: {', '.join(self.choices)}"
        if self.lt is not None:
            return "" if self.ge <= value < self.lt else f"must be in [{self.ge}, {self.lt}), got {value}"
        if self.gt is not None:
            return "" if value > self.gt else f"must be > {self.gt}, got {value}"
        return "" if value >= self.ge else f"must be ≥ {self.ge}, got {value}"


def checked(default: Any = dataclasses.MISSING, **bounds: Any) -> Any:
    """A spec field with its valid range: `batch_size: int = checked(128, ge=1)`."""
    return field(default=default, metadata={"range": Range(**bounds)})


@functools.cache
def _names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _values(spec: Any) -> dict[str, Any]:
    return {name: getattr(spec, name) for name in _names(type(spec))}


def _dumps(values: dict[str, Any]) -> str:
    return json.dumps(values, sort_keys=True, separators=(",", ":"))


class _Part:
    """A part of a job spec, frozen, with its canonical JSON computed once: a suite's jobs share their model, data
    and eval parts. LATER: its fields that are left out of the id while they hold their implicit value. KEY: how a
    suite spells its fields ("eval." before an eval field)."""

    LATER: tuple[str, ...] = ()
    KEY = ""

    def check(self, where: str) -> None:
        """Every field in its declared range (ConfigError naming the first that is not, as the suite spells it)."""
        for f in _ranged(type(self)):
            value = getattr(self, f.name)
            if value is not None and (problem := f.metadata["range"].problem(value)):
                raise ConfigError(f"{where}.{self.KEY}{f.name}: {problem}")

    def _id_values(self, bare: bool) -> dict[str, Any]:
        """The values the id hashes; `bare`: without the LATER fields."""
        return {k: v for k, v in _values(self).items() if not (bare and k in self.LATER)}

    @functools.cached_property
    def _json(self) -> str:
        return _dumps(self._id_values(bare=False))

    @functools.cached_property
    def _json_bare(self) -> str:
        return _dumps(self._id_values(bare=True))


@functools.cache
def _ranged(cls: type) -> tuple[dataclasses.Field, ...]:
    return tuple(f for f in dataclasses.fields(cls) if "range" in f.metadata)


@dataclass(frozen=True)
class DataSpec(_Part):
    source: str  # dataset registry name: cifar10, stl10, imagefolder, synthetic
    label: str  # the name the suite gave this dataset (equals source unless the suite defines a variant)
    resolution: int  # each arch says which it builds (models.Arch.check_resolution)
    classes: tuple[str, ...] = ()  # empty: every class
    path: str = ""  # imagefolder only: the folder (relative paths are under the data root)
    n_images: int | None = checked(None, ge=1)  # None: the whole set (synthetic: its default size)
    oversample: int | None = checked(None, ge=1)  # images drawn per epoch (the set repeated); None: each image once
    sharpen: float = checked(0.0, ge=0)  # unsharp-mask amount applied to the real images (0: off)


@dataclass(frozen=True)
class ModelSpec(_Part):
    arch: str
    z_dim: int = checked(100, ge=1)
    ngf: int = checked(64, ge=1)
    ndf: int = checked(64, ge=1)
    spectral_norm: bool = False  # spectral normalisation on every D layer (archs built with it ignore this)
    # The arch's recipe revision (models.Arch.version): its layers, normalisation and initialisation. Set from the
    # registry when the suite loads, never by a suite; tests/models/test_fingerprints.py keeps it honest.
    arch_version: int = FIRST_ARCH_VERSION
    LATER = ("arch_version",)


@dataclass(frozen=True)
class TrainSpec(_Part):
    epochs: int = checked(ge=1)
    seed: int = checked(ge=0)  # below SEED_LIMIT (check)
    batch_size: int = checked(128, ge=1)  # the global batch: a multiple of processes (check)
    optimizer: str = "adam"  # adam | rmsprop (names in train.recipes, checked by the suite)
    lr_g: float = checked(2e-4, gt=0)
    lr_d: float = checked(2e-4, gt=0)
    beta1: float = checked(0.5, ge=0, lt=1)
    beta2: float = checked(0.999, ge=0, lt=1)
    lr_schedule: str = "none"  # none | cosine | exponential, over the job's epochs
    n_critic: int = checked(1, ge=1)  # D steps per G step
    label_smoothing: float = checked(0.0, ge=0, lt=1)  # one-sided: D's target for real images is 1 - label_smoothing
    ema: float = checked(0.0, ge=0, lt=1)  # decay of an EMA of G's weights (0: off); scored when on
    augment: str = "none"  # none | diffaugment | cutmix | saturation
    gp_weight: float = checked(10.0, ge=0)  # gradient-penalty weight (wasserstein-gp)
    clip_value: float = checked(0.01, ge=0)  # critic weight clipping (wasserstein)
    processes: int = checked(1, ge=1)  # DDP ranks training this one job; batch_size is the global batch, split
    precision: str = checked("tf32", choices=PRECISIONS)  # harness/core/precision.py
    cuda_graph: bool = True  # on a GPU, replay the step as a CUDA graph (harness/train/graphs.py); no effect on a CPU
    # The loss (a name in harness.train.objectives.OBJECTIVES): the arch's own unless the suite sets one; always
    # resolved when the suite loads ("" only in a spec that was never resolved).
    objective: str = ""
    LATER = ("objective",)

    def check(self, where: str) -> None:
        super().check(where)
        check_seed(self.seed, where)
        if self.batch_size % self.processes:
            raise ConfigError(
                f"{where}.batch_size: {self.batch_size} does not split over {self.processes} processes (it is the "
                f"global batch); use a multiple of {self.processes}"
            )


def check_seed(seed: int, where: str) -> None:
    if not seed >= 0:
        raise ConfigError(f"{where}.seed: must be ≥ 0, got {seed}")
    if seed >= SEED_LIMIT:
        raise ConfigError(f"{where}.seed: {seed} is too large; use a seed below 2**32")


@dataclass(frozen=True)
class EvalSpec(_Part):
    # The defaults are the fid10k-train protocol (harness/config/protocols.py).
    every: int = checked(0, ge=0)  # also score every k epochs (0: only at the end)
    n_samples: int = checked(10000, ge=2)  # generated images per score
    # Fewer samples for epochs before the last (FID-vs-epoch); None: n_samples.
    curve_samples: int | None = checked(None, ge=2)
    metrics: tuple[str, ...] = DEFAULT_METRICS  # names in METRICS (check)
    kid_subset_size: int = checked(1000, ge=2)  # at most n_samples and the reference set (check, check_sizes)
    kid_subsets: int = checked(100, ge=1)
    # The real images scored against: the job's dataset and classes, this split.
    ref_split: str = checked("train", choices=("train", "test"))
    ref_size: int | None = checked(None, ge=2)  # real images in the reference set (None: the whole split)
    isc_splits: int = checked(10, ge=1)
    prc_neighborhood: int = checked(3, ge=1)
    batch_size: int = checked(64, ge=1)  # torch-fidelity's loop (evaluate.score(plain=True)); features.py has its own
    dc_neighborhood: int = checked(DC_NEIGHBORHOOD, ge=1)  # density/coverage's k (Naeem et al. 2020 recommend 5)
    # The final score computed this many times, each from fresh noise against the same cached reference: the score's
    # own sampling error, measured apart from seed-to-seed variance (the final numbers are the repeats' mean).
    repeats: int = checked(1, ge=1)
    # Inception's arithmetic: strict float32 (the default: the numbers torch-fidelity gives), or TF32 / bfloat16 for
    # speed on a GPU. Part of the protocol's name and of the reference cache key, so fast and exact scores never mix.
    extractor_precision: str = checked("fp32", choices=PRECISIONS)
    KEY = "eval."

    def check(self, where: str) -> None:
        """The ranges, then what the metrics asked for need of the sample counts."""
        bad = [m for m in self.metrics if m not in METRICS]
        if bad:
            raise ConfigError(f"{where}.eval.metrics: unknown metric {bad[0]!r}; valid: {', '.join(METRICS)}")
        super().check(where)
        n, where = self.n_samples, f"{where}.eval"
        if "isc" in self.metrics and n < self.isc_splits:
            raise ConfigError(f"{where}.n_samples: {n} < eval.isc_splits {self.isc_splits}; IS needs more")
        if self.curve_samples is not None:
            self._check_curve(f"{where}.curve_samples")
        if "kid" in self.metrics and self.kid_subset_size > n:
            raise ConfigError(
                f"{where}.kid_subset_size: {self.kid_subset_size} > eval.n_samples {n}; KID draws subsets of that "
                f"size from the samples: set kid_subset_size ≤ {n}"
            )
        for metric, k, name, what in self.neighbourhoods():
            if metric in self.metrics and n <= k:
                raise ConfigError(
                    f"{where}.n_samples: {n} ≤ eval.{name} {k}; {what} needs more samples than neighbours"
                )

    def neighbourhoods(self) -> list[tuple[str, int, str, str]]:
        return [
            ("prc", self.prc_neighborhood, "prc_neighborhood", "precision/recall"),
            ("coverage", self.dc_neighborhood, "dc_neighborhood", "density/coverage"),
        ]

    def _check_curve(self, where: str) -> None:
        """curve_samples must suit every metric the curve computes, like n_samples."""
        c = self.curve_samples
        needs = {"kid": (self.kid_subset_size, "eval.kid_subset_size"), "isc": (self.isc_splits, "eval.isc_splits")}
        needs["prc"] = (self.prc_neighborhood + 1, "eval.prc_neighborhood + 1")
        needs["coverage"] = (self.dc_neighborhood + 1, "eval.dc_neighborhood + 1")
        for metric, (least, what) in needs.items():
            if metric in self.metrics and c < least:
                raise ConfigError(f"{where}: {c} < {what} {least}; raise curve_samples or drop {metric}")
        if c > self.n_samples:
            raise ConfigError(f"{where}: {c} > eval.n_samples {self.n_samples}; the curve is the cheaper score")

    def _id_values(self, bare: bool) -> dict[str, Any]:
        # Health metrics measure the samples every other score measures and change no other number: asking for
        # them never makes a new job (so jobs scored before they existed keep their ids; `harness score` adds them).
        values = super()._id_values(bare)
        values["metrics"] = tuple(m for m in self.metrics if m not in HEALTH_METRICS)
        return {k: v for k, v in values.items() if IMPLICIT_EVAL.get(k, _UNSET) != v}


# Eval fields added after jobs had run, with the value every earlier job implicitly had: left out of the id there.
IMPLICIT_EVAL = {"dc_neighborhood": DC_NEIGHBORHOOD, "repeats": 1, "extractor_precision": "fp32"}
_UNSET = object()


@dataclass(frozen=True)
class JobSpec:
    model: ModelSpec
    data: DataSpec
    train: TrainSpec
    eval: EvalSpec = field(default_factory=EvalSpec)

    def to_dict(self) -> dict[str, Any]:
        """What dataclasses.asdict returns, without its deep copies (every value is a number, a name or a tuple of
        names): a plan of 10^5 jobs hashes each one."""
        return {name: _values(getattr(self, name)) for name in _names(JobSpec)}

    def canonical_json(self) -> str:
        """_dumps(identity(self.to_dict())), joined from its parts' own JSON."""
        json_of = {name: getattr(self, name)._json for name in _names(JobSpec)}
        if self.model.arch_version == FIRST_ARCH_VERSION:
            json_of["model"] = self.model._json_bare
        if self.train.objective == OBJECTIVE_BEFORE_IDS_HASHED_IT.get(self.model.arch):
            json_of["train"] = self.train._json_bare
        return "{" + ",".join(f'"{name}":{json_of[name]}' for name in sorted(json_of)) + "}"

    @functools.cached_property  # the spec is frozen; its id names a folder and is asked for again and again
    def job_id(self) -> str:
        digest = hashlib.sha256(self.canonical_json().encode()).hexdigest()[:8]
        d, t = self.data, self.train
        return f"{self.model.arch}_{d.label}_{d.resolution}px_e{t.epochs}_s{t.seed}_{digest}"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "JobSpec":
        def build(kind, values):
            return kind(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

        # A spec written before `objective` was a field trained with its arch's objective of that time.
        train = {"objective": OBJECTIVE_BEFORE_IDS_HASHED_IT.get(d["model"]["arch"], ""), **d["train"]}
        return cls(
            model=build(ModelSpec, d["model"]),
            data=build(DataSpec, d["data"]),
            train=build(TrainSpec, train),
            eval=build(EvalSpec, d["eval"]),
        )


def identity(spec: dict[str, Any]) -> dict[str, Any]:
    """The part of a spec dict its id hashes: the dict as written, less the fields that still hold the value every
    job had before they were fields (see OBJECTIVE_BEFORE_IDS_HASHED_IT). Jobs of one configuration share all of
    it but the seed."""
    model, train, ev = dict(spec["model"]), dict(spec["train"]), dict(spec["eval"])
    if model.get("arch_version") == FIRST_ARCH_VERSION:
        del model["arch_version"]
    if "objective" in train and train["objective"] == OBJECTIVE_BEFORE_IDS_HASHED_IT.get(model["arch"]):
        del train["objective"]
    if "metrics" in ev:
        ev["metrics"] = [m for m in ev["metrics"] if m not in HEALTH_METRICS]
    ev = {k: v for k, v in ev.items() if IMPLICIT_EVAL.get(k, _UNSET) != v}
    return {**spec, "model": model, "train": train, "eval": ev}


def hash_id(spec: dict[str, Any]) -> str:
    """The job id of a spec dict (JobSpec.job_id of the same spec, computed from the dict as it was written: a spec
    written before a field was added to the specs still hashes to the id it ran under)."""
    digest = hashlib.sha256(_dumps(identity(spec)).encode()).hexdigest()[:8]
    d, t = spec["data"], spec["train"]
    return f"{spec['model']['arch']}_{d['label']}_{d['resolution']}px_e{t['epochs']}_s{t['seed']}_{digest}"


SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def is_safe_name(name: str) -> bool:
    """Names that end up in paths: no separators, no '..', no leading dot or dash, no more than a file name holds.
    fullmatch, not match: the pattern's `$` also matches before a trailing newline."""
    return bool(SAFE_NAME.fullmatch(name)) and ".." not in name and len(name) <= 255


SLURM_WORD = re.compile(r"[A-Za-z0-9_.:@%+=,/~-]+")  # sbatch parses #SBATCH lines itself: no quoting there


def is_slurm_word(value: str) -> bool:
    """A value that can stand unquoted on an #SBATCH line (a partition, a time, a memory size, an account)."""
    return bool(SLURM_WORD.fullmatch(value))
