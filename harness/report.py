"""Frames -> summary.csv, summary.md, headline.tex (booktabs) and PNG plots (FID vs epoch, losses) in a folder."""

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on clusters and CI
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from harness import atomic, tables  # noqa: E402
from harness.aggregate import epochs_frame, jobs_frame, scores_frame  # noqa: E402
from harness.errors import DataError  # noqa: E402

SUMMARY_COLUMNS = ["arch", "variant", "dataset", "classes", "resolution", "epochs", "seed", "state",
                   "protocol", "fid", "kid", "is", "train_seconds", "images_per_s", "job_id"]  # fmt: skip
# `config` (the spec without its seed) and the protocol columns are part of the key: only seeds are averaged.
GROUP = ["arch", "variant", "dataset", "classes", "resolution", "epochs", "protocol", "n_samples", "reference",
         "extractor", "config"]  # fmt: skip


def by_config(jobs: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over seeds; the protocol columns are part of the key, so different protocols never mix."""
    done = jobs[jobs.state == "done"]
    if done.empty:
        return pd.DataFrame()
    stats = done.groupby(GROUP, dropna=False).agg(
        seeds=("seed", "count"),
        fid=("fid", "mean"),
        fid_std=("fid", "std"),
        kid=("kid", "mean"),
        kid_std=("kid", "std"),
    )
    return stats.reset_index()


def _pm(mean: float, std: float, digits: int) -> str:
    if pd.isna(mean):
        return "–"
    return f"{mean:.{digits}f}" if pd.isna(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def rescored(scores: pd.DataFrame) -> list[str]:
    """A table per protocol for the scores `harness score` added: each labelled, never merged into one column."""
    if scores.empty or not (scores.source != "train").any():
        return []
    lines = ["## All scores, by protocol", ""]
    for (name, extractor), rows in scores.groupby(["protocol", "extractor"], sort=True):
        first = rows.iloc[0]
        lines += [f"### {name}: {first.n_samples} samples vs {first.reference}, {extractor}", ""]
        cols = ["arch", "dataset", "resolution", "seed", "epoch", "source", "fid", "kid", "is", "job_id"]
        table = rows[cols].astype(object).where(rows[cols].notna(), None)
        lines += [table.to_markdown(index=False, floatfmt=".4g", missingval="–"), ""]
    return lines


def markdown(jobs: pd.DataFrame, scores: pd.DataFrame | None = None, headlines: dict | None = None) -> str:
    """The summary: the headline table per protocol, mean ± std over seeds by config, one row per job, then
    re-scores by protocol and failures. Training-time scores are labelled by their `protocol` column."""
    scores = scores if scores is not None else pd.DataFrame()
    lines = ["# Results", ""]
    for protocol, table in (headlines or {}).items():
        lines += [f"## Headline: {protocol}", "", tables.markdown(table, protocol)]
    grouped = by_config(jobs)
    if not grouped.empty:
        table = grouped.assign(
            FID=[_pm(m, s, 2) for m, s in zip(grouped.fid, grouped.fid_std, strict=True)],
            KID=[_pm(m, s, 4) for m, s in zip(grouped.kid, grouped.kid_std, strict=True)],
        )[[*GROUP, "seeds", "FID", "KID"]]
        lines += ["## Mean ± std over seeds", "", table.to_markdown(index=False), ""]
    table = jobs[SUMMARY_COLUMNS].astype(object).where(jobs[SUMMARY_COLUMNS].notna(), None)
    lines += ["## Jobs", "", table.to_markdown(index=False, floatfmt=".4g", missingval="–"), ""]
    lines += rescored(scores)
    failed = jobs[jobs.state == "failed"]
    if not failed.empty:
        lines += ["## Failures", ""] + [f"- `{r.job_id}`: {r.error}" for r in failed.itertuples()] + [""]
    return "\n".join(lines)


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    atomic.write_bytes(path, buf.getvalue())


def plot_fid(epochs: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    scored = epochs.dropna(subset=["fid"]) if "fid" in epochs else epochs.iloc[0:0]
    for job_id, rows in scored.groupby("job_id"):
        ax.plot(rows.epoch, rows.fid, marker="o", label=job_id)
    ax.set(xlabel="epoch", ylabel="FID (lower is better)", title="FID vs epoch")
    if not scored.empty:
        ax.legend(fontsize="x-small")
    _save(fig, path)


def plot_losses(epochs: pd.DataFrame, path: Path) -> None:
    fig, (ax_d, ax_g) = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
    for job_id, rows in epochs.groupby("job_id"):
        ax_d.plot(rows.epoch, rows.d_loss, label=job_id)
        ax_g.plot(rows.epoch, rows.g_loss, label=job_id)
    ax_d.set(xlabel="epoch", ylabel="loss", title="D loss")
    ax_g.set(xlabel="epoch", title="G loss")
    ax_g.legend(fontsize="x-small")
    _save(fig, path)


def write_report(root: Path, out: Path | None = None) -> list[Path]:
    """Write the summary tables and plots for every run under root; returns the files written."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; pass a results folder such as results/smoke")
    jobs = jobs_frame(root)
    if jobs.empty:
        raise DataError(f"no runs under {root} (no spec.json found); run a suite first")
    out = Path(out) if out else root
    names = ("summary.csv", "scores.csv", "summary.md", "headline.tex", "fid_vs_epoch.png", "losses.png")
    paths = {k: out / k for k in names}
    scores = scores_frame(root)
    headlines = tables.headline(jobs)
    atomic.write_bytes(paths["summary.csv"], jobs.to_csv(index=False).encode())
    atomic.write_bytes(paths["scores.csv"], scores.to_csv(index=False).encode())
    atomic.write_bytes(paths["summary.md"], markdown(jobs, scores, headlines).encode())
    if headlines:
        tex = "\n".join(tables.latex(t, protocol) for protocol, t in headlines.items())
        atomic.write_bytes(paths["headline.tex"], tex.encode())
    epochs = epochs_frame(root)
    if not epochs.empty:
        plot_fid(epochs, paths["fid_vs_epoch.png"])
        plot_losses(epochs, paths["losses.png"])
    return [p for p in paths.values() if p.exists()]
