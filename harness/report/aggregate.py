"""Validated run records (store.runs.read_runs) -> tidy pandas frames: one row per job, one row per (job, epoch) for
curves, one per score, and the damaged runs left out of them."""

import dataclasses
import hashlib
import json
from pathlib import Path

import pandas as pd

from harness.config.protocols import name_of as protocol_name
from harness.config.specs import FIRST_ARCH_VERSION, OBJECTIVE_BEFORE_IDS_HASHED_IT, JobSpec, identity
from harness.core.errors import Damaged
from harness.models import ARCHS
from harness.report import flags
from harness.store.records import SCORE_KEYS
from harness.store.runs import Record, RunDir

# Spec fields shown elsewhere in a row (or that only say how the job is scored), left out of `variant`.
SHOWN = {"arch", "label", "source", "classes", "resolution", "epochs", "seed", "arch_version"}

HEALTH = ["density", "coverage", "diversity", "intra_fid"]
REPEAT_STD = ["fid_repeat_std", "kid_repeat_std", "is_repeat_std"]  # each score's std over eval.repeats
JOB_COLUMNS = [
    "suite", "job_id", "arch", "variant", "config", "dataset", "classes", "resolution", "epochs", "seed", "state",
    "flags", "fid", "kid", "kid_std", "is", "is_std", *HEALTH, "repeats", *REPEAT_STD, "train_seconds", "images_per_s",
    "protocol", "n_samples", "reference", "extractor", "generator", "error",
]  # fmt: skip


def arch_label(spec: JobSpec) -> str:
    """The arch's name, with its recipe revision when that is not the zoo's current one (cgan@v1): jobs of a
    retired recipe never share a row with the current one."""
    arch = ARCHS.get(spec.model.arch) if spec.model.arch in ARCHS else None
    current = arch.version if arch else FIRST_ARCH_VERSION
    return spec.model.arch if spec.model.arch_version == current else f"{spec.model.arch}@v{spec.model.arch_version}"


def recipe(spec: JobSpec) -> dict[str, object]:
    """The settings the job's arch implies at the spec's recipe revision: its defaults and objective now, or, for a
    retired revision, the objective every job had before objectives were in the specs."""
    arch = ARCHS.get(spec.model.arch) if spec.model.arch in ARCHS else None
    if arch is not None and spec.model.arch_version == arch.version:
        return arch.recipe
    return {"objective": OBJECTIVE_BEFORE_IDS_HASHED_IT.get(spec.model.arch)}


def departures(spec: JobSpec) -> dict[str, object]:
    """The settings where this job departs from its arch's recipe (and the spec's own defaults)."""
    arch_defaults = recipe(spec)
    out = {}
    for part in (spec.model, spec.train, spec.data):
        for f in dataclasses.fields(part):
            value = getattr(part, f.name)
            if f.name not in SHOWN and value != arch_defaults.get(f.name, f.default):
                out[f.name] = value
    return out


def variants(specs: list[JobSpec]) -> list[str]:
    """Per job, e.g. 'augment=cutmix, lr_schedule=cosine': the settings that differ between the jobs shown, each
    job naming its own value of each (the sweep's baseline too: 'lr_schedule=none'), so a suite-wide choice (a batch
    size every job uses) does not crowd the tables; 'default' when nothing differs."""
    return [", ".join(f"{k}={v[i]}" for k, v in columns.items()) or "default"
            for columns in [_settings_columns(specs)] for i in range(len(specs))]  # fmt: skip


def varying(specs: list[JobSpec]) -> dict[str, list[str]]:
    """{setting: its value per job} for every setting that differs between the jobs: the columns `harness plan`
    adds for a sweep. The scoring protocol is one of them when it
    varies."""
    columns = _settings_columns(specs)
    protocols = [protocol_name(s.eval) for s in specs]
    if len(set(protocols)) > 1:
        columns["protocol"] = protocols
    return columns


def _settings_columns(specs: list[JobSpec]) -> dict[str, list[str]]:
    changed, keys = _varying(specs)
    return {k: [str(c[k]) if k in c else _value(s, k) for c, s in zip(changed, specs, strict=True)] for k in keys}


def _value(spec: JobSpec, key: str) -> str:
    part = next(p for p in (spec.model, spec.train, spec.data) if hasattr(p, key))
    return str(getattr(part, key))


def _varying(specs: list[JobSpec]) -> tuple[list[dict], list[str]]:
    changed = [departures(s) for s in specs]
    keys = {k for c in changed for k in c}
    return changed, sorted(k for k in keys if len({repr(c.get(k)) for c in changed}) > 1)


def config_id(spec: JobSpec) -> str:
    """The job's id without its seed: jobs that differ only by seed share it, and only they are averaged."""
    d = identity(spec.to_dict())
    d["train"].pop("seed")
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:8]


def _job_row(r: Record) -> dict:
    spec, status, final = r.spec, r.status, r.final or {}
    proto = final.get("protocol") or {}
    ref = proto.get("reference") or {}
    return {
        "suite": r.run.path.parent.name,
        "job_id": r.run.path.name,  # the id it ran under: a spec reloaded with newer defaults may hash differently
        "arch": arch_label(spec),
        "config": config_id(spec),
        "dataset": spec.data.label,
        "classes": "+".join(spec.data.classes) or "all",
        "resolution": spec.data.resolution,
        "epochs": spec.train.epochs,
        "seed": spec.train.seed,
        "state": status.get("state"),
        "flags": ", ".join(f.kind for f in flags.flags(r)),
        **{k: final.get(k) for k in ("fid", "kid", "kid_std", "is", "is_std", "train_seconds", "images_per_s")},
        **{k: flags.health_scores(r).get(k) for k in HEALTH},
        **repeat_spread(final),
        "protocol": proto.get("name"),
        "n_samples": proto.get("n_samples"),
        "reference": f"{ref['split']} n={ref['n']}" if ref else None,
        "extractor": proto.get("extractor"),
        "generator": proto.get("generator"),  # the EMA copy or G itself
        "error": status.get("error"),
    }


def repeat_spread(final: dict) -> dict:
    """How many times the final score was computed (eval.repeats) and each score's std over those repeats."""
    repeats = final.get("repeats") or []
    out = {"repeats": len(repeats) or (1 if final.get("fid") is not None else None)}
    for column in REPEAT_STD:
        values = [r[column[: -len("_repeat_std")]] for r in repeats if r.get(column[: -len("_repeat_std")]) is not None]
        out[column] = float(pd.Series(values).std()) if len(values) >= 2 else None
    return out


def jobs_frame(runs: list[Record]) -> pd.DataFrame:
    rows = [{**_job_row(r), "variant": v} for r, v in zip(runs, variants([r.spec for r in runs]), strict=True)]
    frame = pd.DataFrame(rows, columns=JOB_COLUMNS)
    numeric = ["fid", "kid", "kid_std", "is", "is_std", *HEALTH, "repeats", *REPEAT_STD, "train_seconds",
               "images_per_s", "n_samples"]  # fmt: skip
    frame[numeric] = frame[numeric].apply(pd.to_numeric)
    return frame


def flags_frame(runs: list[Record]) -> pd.DataFrame:
    """One row per health flag of a finished job (harness/report/flags.py): what it is and the numbers that raised it;
    `checked` says, per job, whether its health metrics were measured."""
    rows = [{"job_id": r.run.path.name, "arch": arch_label(r.spec), "seed": r.spec.train.seed, "flag": f.kind,
             "evidence": f.evidence} for r in runs for f in flags.flags(r)]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["job_id", "arch", "seed", "flag", "evidence"])
    done = [r for r in runs if r.status.get("state") == "done"]
    frame.attrs["unchecked"] = [r.run.path.name for r in done if not flags.checked(r)]
    frame.attrs["checked"] = len(done) - len(frame.attrs["unchecked"])
    return frame


def damaged_frame(damaged: list[tuple[RunDir, Damaged]]) -> pd.DataFrame:
    """The runs left out of every table because a record is damaged: which file, what is wrong, what to do."""
    rows = [{"suite": run.path.parent.name, "job_id": run.path.name, "file": Path(e.path).name,
             "problem": e.problem, "fix": e.fix} for run, e in damaged]  # fmt: skip
    return pd.DataFrame(rows, columns=["suite", "job_id", "file", "problem", "fix"])


def epochs_frame(runs: list[Record]) -> pd.DataFrame:
    rows = []
    for r in runs:
        spec = r.spec
        for record in r.metrics:
            rows.append({"job_id": r.run.path.name, "arch": arch_label(spec), "dataset": spec.data.label,
                         "resolution": spec.data.resolution, "seed": spec.train.seed, **record})  # fmt: skip
    return pd.DataFrame(rows)


def scores_frame(runs: list[Record]) -> pd.DataFrame:
    """Every score of every job, long format: the training-time scores (final.json) and each `harness score` record,
    one row per (job, epoch, protocol). Numbers under different protocols never share a row."""
    rows = []
    for r in runs:
        spec, final = r.spec, r.final
        records = [({**final, "epoch": final.get("scored_epoch")}, "train")] if final and final.get("protocol") else []
        records += [(score, score.get("by", "harness score")) for score in r.scores]
        for record, source in records:
            proto = record["protocol"]
            ref = proto["reference"]
            rows.append({"job_id": r.run.path.name, "arch": arch_label(spec), "dataset": spec.data.label,
                         "resolution": spec.data.resolution, "seed": spec.train.seed, "epoch": record.get("epoch"),
                         "protocol": proto.get("name", "unnamed"), "n_samples": proto["n_samples"],
                         "reference": f"{ref['split']} n={ref['n']}", "extractor": proto["extractor"],
                         "generator": proto.get("generator"), "source": source,
                         **{k: record.get(k) for k in SCORE_KEYS}})  # fmt: skip
    return pd.DataFrame(rows)
