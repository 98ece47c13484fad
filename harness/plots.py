"""The report's figures, each as PNG and SVG: FID vs epoch (mean over seeds, min–max band), final FID by arch per
dataset (mean ± std bars), time to FID (training seconds vs FID), and D/G losses."""

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on clusters and CI
matplotlib.rcParams["svg.hashsalt"] = "harness"  # stable SVG ids: a regenerated report is byte-identical
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from harness import atomic  # noqa: E402

FORMATS = ("png", "svg")


def save(fig, stem: Path, formats=FORMATS) -> list[Path]:
    paths = []
    for fmt in formats:
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=120, bbox_inches="tight", metadata={"Date": None} if fmt == "svg" else None)
        path = stem.with_suffix(f".{fmt}")
        atomic.write_bytes(path, buf.getvalue())
        paths.append(path)
    plt.close(fig)
    return paths


def label(rows: pd.DataFrame) -> str:
    first = rows.iloc[0]
    variant = f" [{first.variant}]" if isinstance(first.variant, str) and first.variant != "default" else ""
    return f"{first.arch} {first.dataset} {first.resolution}px{variant}"


def curves(epochs: pd.DataFrame, jobs: pd.DataFrame) -> pd.DataFrame:
    """Scored epochs with each job's config, protocol and cumulative training seconds."""
    keys = jobs[["job_id", "config", "variant", "protocol"]]
    frame = epochs.drop(columns=["arch", "dataset", "resolution", "seed"], errors="ignore")
    frame = frame.merge(jobs[["job_id", "arch", "dataset", "resolution", "seed"]], on="job_id").merge(keys, on="job_id")
    frame = frame.sort_values(["job_id", "epoch"])
    frame["train_seconds"] = frame.groupby("job_id").seconds.cumsum()
    return frame.dropna(subset=["fid"]) if "fid" in frame else frame.iloc[0:0]


def fid_vs_epoch(scored: pd.DataFrame, stem: Path) -> list[Path]:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for _, rows in scored.groupby(["config", "protocol"], dropna=False, sort=True):
        by_epoch = rows.groupby("epoch").fid
        mean = by_epoch.mean()
        (line,) = ax.plot(mean.index, mean.values, marker="o", label=f"{label(rows)} (n={rows.seed.nunique()})")
        ax.fill_between(mean.index, by_epoch.min().values, by_epoch.max().values, color=line.get_color(), alpha=0.2)
    ax.set(xlabel="epoch", ylabel="FID (lower is better)", title="FID vs epoch: mean over seeds, min–max band")
    if not scored.empty:
        ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: never over data
    return save(fig, stem)


def time_to_fid(scored: pd.DataFrame, stem: Path) -> list[Path]:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for _, rows in scored.groupby(["config", "protocol"], dropna=False, sort=True):
        by_epoch = rows.groupby("epoch")[["train_seconds", "fid"]].mean()
        ax.plot(by_epoch.train_seconds, by_epoch.fid, marker="o", label=label(rows))
    ax.set(xlabel="training seconds", ylabel="FID (lower is better)", title="Time to FID (mean over seeds)")
    if not scored.empty:
        ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: never over data
    return save(fig, stem)


def final_fid(table: pd.DataFrame, protocol: str, stem: Path) -> list[Path]:
    """Grouped bars from a headline table: one group per dataset and resolution, one bar per arch (and variant)."""
    table = table.dropna(subset=["fid_mean"])
    groups = sorted({(d, r) for d, r in zip(table.dataset, table.resolution, strict=True)})
    series = sorted({(a, v) for a, v in zip(table.arch, table.variant.fillna(""), strict=True)})
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(groups) * max(1, len(series)) / 2), 4.5))
    width, where = 0.8 / max(1, len(series)), {g: k for k, g in enumerate(groups)}
    for i, (arch, variant) in enumerate(series):
        rows = table[(table.arch == arch) & (table.variant.fillna("") == variant)]
        offset = (i - (len(series) - 1) / 2) * width
        xs = [where[g] + offset for g in zip(rows.dataset, rows.resolution, strict=True)]
        name = arch if variant in ("", "default") else f"{arch} [{variant}]"
        ax.bar(xs, rows.fid_mean, width, yerr=rows.fid_std.fillna(0), capsize=3, label=name)
    ax.set_xticks(range(len(groups)), [f"{d} {r}px" for d, r in groups])
    ax.set(ylabel="FID (lower is better)", title=f"Final FID, mean ± std over seeds ({protocol})")
    if series:
        ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: never over data
    return save(fig, stem)


def losses(epochs: pd.DataFrame, stem: Path) -> list[Path]:
    fig, (ax_d, ax_g) = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
    for job_id, rows in epochs.groupby("job_id"):
        ax_d.plot(rows.epoch, rows.d_loss, label=job_id)
        if "g_loss" in rows:
            ax_g.plot(rows.epoch, rows.g_loss, label=job_id)
    ax_d.set(xlabel="epoch", ylabel="loss", title="D loss")
    ax_g.set(xlabel="epoch", title="G loss")
    ax_g.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1))
    return save(fig, stem)


def aspect(image) -> float:
    return image.shape[1] / image.shape[0]


def samples_montage(jobs: pd.DataFrame, root: Path, stem: Path) -> list[Path]:
    """For each configuration (its lowest seed), the last sample grid and the latent-interpolation strip side by
    side: every arch's samples on one figure."""
    import matplotlib.image as mpimg

    picks = []
    for _, rows in jobs[jobs.state == "done"].sort_values("seed").groupby(["config"], sort=False):
        job = rows.iloc[0]
        run = root / job.suite / job.job_id if (root / job.suite / job.job_id).is_dir() else root / job.job_id
        grids = sorted((run / "samples").glob("epoch_*.png"))
        if grids:
            picks.append((label(rows), grids[-1], run / "samples" / "interpolation.png"))
    if not picks:
        return []
    picks.sort(key=lambda p: p[0])
    images = [(name, mpimg.imread(g), mpimg.imread(st) if st.exists() else None) for name, g, st in picks]
    # Each column as wide as its widest picture at a common height, so neither leaves a gap beside it.
    ratios = [max(aspect(g) for _, g, _ in images), max((aspect(st) for *_, st in images if st is not None), default=1)]
    fig, axes = plt.subplots(len(picks), 2, figsize=(3.2 * sum(ratios) + 0.5, 3.2 * len(picks)), squeeze=False,
                             gridspec_kw={"width_ratios": ratios})  # fmt: skip
    for (name, grid, strip), (ax_grid, ax_strip) in zip(images, axes, strict=True):
        ax_grid.imshow(grid, interpolation="nearest")
        ax_grid.set_title(name, fontsize="small", loc="left")
        if strip is not None:
            ax_strip.imshow(strip, interpolation="nearest")
            ax_strip.set_title("latent interpolation", fontsize="small", loc="left")
        for ax in (ax_grid, ax_strip):
            ax.axis("off")
    return save(fig, stem, formats=("png",))  # pictures of pictures: an SVG would only wrap the PNG
