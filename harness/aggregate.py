"""Validated run records (store.read_runs) -> tidy pandas frames: one row per job, one row per (job, epoch) for
curves, one per score, and the damaged runs left out of them."""

import dataclasses
import hashlib
import json
from pathlib import Path

import pandas as pd

from harness.errors import Damaged
from harness.models import ARCHS
from harness.specs import JobSpec
from harness.store import Record, RunDir

# Spec fields shown elsewhere in a row (or that only say how the job is scored), left out of `variant`.
SHOWN = {"arch", "label", "source", "classes", "resolution", "epochs", "seed"}

JOB_COLUMNS = [
    "suite", "job_id", "arch", "variant", "config", "dataset", "classes", "resolution", "epochs", "seed", "state",
    "fid", "kid", "kid_std", "is", "is_std", "train_seconds", "images_per_s",
    "protocol", "n_samples", "reference", "extractor", "generator", "error",
]  # fmt: skip
SCORES = ["fid", "kid", "kid_std", "is", "is_std", "precision", "recall"]


def departures(spec: JobSpec) -> dict[str, object]:
    """The settings where this job departs from its arch's defaults (and the spec's own)."""
    arch_defaults = dict(ARCHS.get(spec.model.arch).defaults) if spec.model.arch in ARCHS else {}
    out = {}
    for part in (spec.model, spec.train, spec.data):
        for f in dataclasses.fields(part):
            value = getattr(part, f.name)
            if f.name not in SHOWN and value != arch_defaults.get(f.name, f.default):
                out[f.name] = value
    return out


def variants(specs: list[JobSpec]) -> list[str]:
    """Per job, e.g. 'augment=cutmix, lr_schedule=cosine': only the settings that differ between the jobs shown,
    so a suite-wide choice (a batch size every job uses) does not crowd the tables."""
    changed = [departures(s) for s in specs]
    keys = {k for c in changed for k in c}
    varying = sorted(k for k in keys if len({repr(c.get(k)) for c in changed}) > 1)
    return [", ".join(f"{k}={c[k]}" for k in varying if k in c) or "default" for c in changed]


def config_id(spec: JobSpec) -> str:
    """The job's id without its seed: jobs that differ only by seed share it, and only they are averaged."""
    d = spec.to_dict()
    d["train"].pop("seed")
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:8]


def _job_row(r: Record) -> dict:
    spec, status, final = r.spec, r.status, r.final or {}
    proto = final.get("protocol") or {}
    ref = proto.get("reference") or {}
    return {
        "suite": r.run.path.parent.name,
        "job_id": r.run.path.name,  # the id it ran under: a spec reloaded with newer defaults may hash differently
        "arch": spec.model.arch,
        "config": config_id(spec),
        "dataset": spec.data.label,
        "classes": "+".join(spec.data.classes) or "all",
        "resolution": spec.data.resolution,
        "epochs": spec.train.epochs,
        "seed": spec.train.seed,
        "state": status.get("state"),
        **{k: final.get(k) for k in ("fid", "kid", "kid_std", "is", "is_std", "train_seconds", "images_per_s")},
        "protocol": proto.get("name"),
        "n_samples": proto.get("n_samples"),
        "reference": f"{ref['split']} n={ref['n']}" if ref else None,
        "extractor": proto.get("extractor"),
        "generator": proto.get("generator"),  # the EMA copy or G itself
        "error": status.get("error"),
    }


def jobs_frame(runs: list[Record]) -> pd.DataFrame:
    rows = [{**_job_row(r), "variant": v} for r, v in zip(runs, variants([r.spec for r in runs]), strict=True)]
    frame = pd.DataFrame(rows, columns=JOB_COLUMNS)
    numeric = ["fid", "kid", "kid_std", "is", "is_std", "train_seconds", "images_per_s", "n_samples"]
    frame[numeric] = frame[numeric].apply(pd.to_numeric)
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
            rows.append({"job_id": r.run.path.name, "arch": spec.model.arch, "dataset": spec.data.label,
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
            rows.append({"job_id": r.run.path.name, "arch": spec.model.arch, "dataset": spec.data.label,
                         "resolution": spec.data.resolution, "seed": spec.train.seed, "epoch": record.get("epoch"),
                         "protocol": proto.get("name", "unnamed"), "n_samples": proto["n_samples"],
                         "reference": f"{ref['split']} n={ref['n']}", "extractor": proto["extractor"],
                         "generator": proto.get("generator"), "source": source,
                         **{k: record.get(k) for k in SCORES}})  # fmt: skip
    return pd.DataFrame(rows)
