"""Run directories -> tidy pandas frames: one row per job, and one row per (job, epoch) for curves."""

from pathlib import Path

import pandas as pd

from harness.store import iter_runs

JOB_COLUMNS = [
    "suite", "job_id", "arch", "dataset", "classes", "resolution", "epochs", "seed", "state",
    "fid", "kid", "kid_std", "is", "is_std", "train_seconds", "images_per_s",
    "n_samples", "reference", "extractor", "error",
]  # fmt: skip


def _job_row(run) -> dict:
    spec, status, final = run.spec(), run.status(), run.final() or {}
    proto = final.get("protocol") or {}
    ref = proto.get("reference") or {}
    return {
        "suite": run.path.parent.name,
        "job_id": spec.job_id,
        "arch": spec.model.arch,
        "dataset": spec.data.label,
        "classes": "+".join(spec.data.classes) or "all",
        "resolution": spec.data.resolution,
        "epochs": spec.train.epochs,
        "seed": spec.train.seed,
        "state": status.get("state"),
        **{k: final.get(k) for k in ("fid", "kid", "kid_std", "is", "is_std", "train_seconds", "images_per_s")},
        "n_samples": proto.get("n_samples"),
        "reference": f"{ref['split']} n={ref['n']}" if ref else None,
        "extractor": proto.get("extractor"),
        "error": status.get("error"),
    }


def jobs_frame(root: Path) -> pd.DataFrame:
    rows = [_job_row(run) for run in iter_runs(root)]
    frame = pd.DataFrame(rows, columns=JOB_COLUMNS)
    numeric = ["fid", "kid", "kid_std", "is", "is_std", "train_seconds", "images_per_s", "n_samples"]
    frame[numeric] = frame[numeric].apply(pd.to_numeric)
    return frame


def epochs_frame(root: Path) -> pd.DataFrame:
    rows = []
    for run in iter_runs(root):
        spec = run.spec()
        for record in run.metrics():
            rows.append({"job_id": spec.job_id, "arch": spec.model.arch, "dataset": spec.data.label,
                         "resolution": spec.data.resolution, "seed": spec.train.seed, **record})  # fmt: skip
    return pd.DataFrame(rows)
