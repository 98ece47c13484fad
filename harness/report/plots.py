"""The report's figures, each as PNG and SVG: FID vs epoch (mean over seeds, 95% CI band from 3 seeds), final FID by
configuration per dataset (95% CI bars), the pairwise significance matrix per group, time to FID (training seconds
vs FID), D/G losses, and a montage of each configuration's samples."""

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on clusters and CI
matplotlib.rcParams["svg.hashsalt"] = "harness"  # stable SVG ids: a regenerated report is byte-identical
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from harness.core import atomic  # noqa: E402
from harness.report import compare, stats  # noqa: E402

FORMATS = ("png", "svg")
BAND_SEEDS = 3  # seeds an epoch needs before FID vs epoch draws its interval


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
    """Mean over seeds per epoch; a band of the 95% interval of that mean where at least 3 seeds were scored (with
    fewer, an interval of two points says little and is left out)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for _, rows in scored.groupby(["config", "protocol"], dropna=False, sort=True):
        by_epoch = [(epoch, stats.interval(list(group.fid))) for epoch, group in rows.groupby("epoch")]
        epochs, means = [e for e, _ in by_epoch], [iv.mean for _, iv in by_epoch]
        (line,) = ax.plot(epochs, means, marker="o", label=f"{label(rows)} (n={rows.seed.nunique()})")
        banded = [(e, iv.lo, iv.hi) for e, iv in by_epoch if iv.n >= BAND_SEEDS]
        if banded:
            xs, los, his = zip(*banded, strict=True)
            ax.fill_between(xs, los, his, color=line.get_color(), alpha=0.2)
    title = f"FID vs epoch: mean over seeds, 95% CI band (≥ {BAND_SEEDS} seeds)"
    ax.set(xlabel="epoch", ylabel="FID (lower is better)", title=title)
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
    """Grouped bars from a headline table: one group per dataset and resolution, one bar per configuration, its
    95% interval as the error bar (none for n = 1) and a star on the best and those tied with it."""
    table = table.dropna(subset=["fid_mean"])
    groups = sorted({(d, r) for d, r in zip(table.dataset, table.resolution, strict=True)})
    epochs = several_epochs(table)
    series = sorted({name_of(row, epochs) for _, row in table.iterrows()})
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(groups) * max(1, len(series)) / 2), 4.5))
    width, where = 0.8 / max(1, len(series)), {g: k for k, g in enumerate(groups)}
    bold = dict(zip(table.index, compare.bold(table, "fid"), strict=True))
    for i, name in enumerate(series):
        rows = table[[name_of(row, epochs) == name for _, row in table.iterrows()]]
        offset = (i - (len(series) - 1) / 2) * width
        xs = [where[g] + offset for g in zip(rows.dataset, rows.resolution, strict=True)]
        errors = [(rows.fid_mean - rows.fid_lo).fillna(0), (rows.fid_hi - rows.fid_mean).fillna(0)]
        bars = ax.bar(xs, rows.fid_mean, width, yerr=errors, capsize=3, label=name)
        for bar, index, n in zip(bars, rows.index, rows.fid_n, strict=True):
            mark = "★ " if bold[index] else ""
            ax.annotate(f"{mark}n={n}", (bar.get_x() + bar.get_width() / 2, 0), ha="center", va="bottom",
                        fontsize="xx-small", xytext=(0, 2), textcoords="offset points")  # fmt: skip
    ax.set_xticks(range(len(groups)), [f"{d} {r}px" for d, r in groups])
    ax.set(ylabel="FID (lower is better)", title=f"Final FID, mean and 95% CI over seeds; ★ tied for best ({protocol})")
    if series:
        ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: never over data
    return save(fig, stem)


def name_of(row: pd.Series, epochs: bool = False) -> str:
    """A configuration's legend name: arch [variant], and its epochs when the table holds several."""
    variant = row.get("variant")
    name = row.arch if variant in ("", "default", None) or pd.isna(variant) else f"{row.arch} [{variant}]"
    return f"{name} e{int(row.epochs)}" if epochs else name


def several_epochs(table: pd.DataFrame) -> bool:
    return "epochs" in table and table.epochs.nunique() > 1


def significance(table: pd.DataFrame, protocol: str, stem: Path, metric: str = "fid") -> list[Path]:
    """Per group, the pairwise matrix: Δ (row − column) coloured, with Welch's p (Holm-corrected over the group's
    pairs) in each cell; pairs with a configuration of one seed are blank."""
    parts = [index for index in compare.groups(table) if (table.loc[index, f"{metric}_n"] >= 2).sum() >= 2]
    if not parts:
        return []
    side = max(4.8, 0.85 * max((table.loc[i, f"{metric}_n"] >= 2).sum() for i in parts) + 2)
    fig, axes = plt.subplots(1, len(parts), figsize=(1.15 * side * len(parts), side), squeeze=False)
    epochs = several_epochs(table)
    for ax, index in zip(axes[0], parts, strict=True):
        rows = table.loc[index]
        rows = rows[rows[f"{metric}_n"] >= 2].sort_values(f"{metric}_mean")
        names, values = [name_of(r, epochs) for _, r in rows.iterrows()], list(rows[f"{metric}_values"])
        k = len(names)
        pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
        diffs = {(i, j): stats.difference(values[i], values[j]) for i, j in pairs}
        adjusted = dict(zip(pairs, stats.holm([diffs[p].p for p in pairs]), strict=True))
        delta = [[0.0] * k for _ in range(k)]
        for (i, j), d in diffs.items():
            delta[i][j], delta[j][i] = d.delta, -d.delta
        limit = max((abs(x) for row in delta for x in row), default=1) or 1
        image = ax.imshow(delta, cmap="RdBu_r", vmin=-limit, vmax=limit)
        for (i, j), p in adjusted.items():
            for a, b in ((i, j), (j, i)):
                star = "*" if p < stats.ALPHA else ""
                colour = "white" if abs(delta[a][b]) > 0.6 * limit else "black"  # readable on the dark ends
                text = f"{delta[a][b]:+.1f}\np={p:.2g}{star}"
                ax.text(b, a, text, ha="center", va="center", fontsize="xx-small", color=colour)
        ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize="x-small")
        ax.set_yticks(range(k), names, fontsize="x-small")
        first = rows.iloc[0]
        ax.set_title(f"{first.dataset} {first.resolution}px: Δ {compare.METRICS[metric][0]} (row − column)",
                     fontsize="small")  # fmt: skip
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(f"Pairwise Welch's t, Holm-corrected over each group's pairs; * p < {stats.ALPHA} ({protocol})",
                 fontsize="small")  # fmt: skip
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
