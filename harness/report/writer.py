"""Frames -> summary.csv (jobs), configs.csv (statistics by configuration), scores.csv, damaged.csv, summary.md,
headline.tex (booktabs), the plots (plots.py) and report.html (html.py) in a results folder."""

from pathlib import Path

import pandas as pd

from harness.core import atomic
from harness.core.errors import DataError
from harness.report import compare, flags, html, plots, stats, tables
from harness.report.aggregate import damaged_frame, epochs_frame, flags_frame, jobs_frame, scores_frame
from harness.store.runs import read_runs

SUMMARY_COLUMNS = ["arch", "variant", "dataset", "classes", "resolution", "epochs", "seed", "state", "flags",
                   "protocol", "fid", "kid", "is", "density", "coverage", "diversity", "intra_fid", "train_seconds",
                   "images_per_s", "job_id"]  # fmt: skip
# `config` (the spec without its seed) and the protocol columns are part of the key: only seeds are averaged.
GROUP = ["arch", "variant", "dataset", "classes", "resolution", "epochs", "protocol", "n_samples", "reference",
         "extractor", "generator", "config"]  # fmt: skip


def by_config(jobs: pd.DataFrame) -> pd.DataFrame:
    """Statistics over seeds by configuration and every protocol field (compare.configs' columns: seeds, fid_mean,
    fid_std, fid_lo, fid_hi, ...): the protocol columns are part of the key, so different protocols never mix."""
    done = jobs[jobs.state == "done"]
    if done.empty or done.protocol.isna().all():
        return pd.DataFrame()
    return pd.concat(compare.configs(done, GROUP, ["fid", "kid"]).values(), ignore_index=True)


def by_config_table(grouped: pd.DataFrame) -> str:
    cells = {name: [tables.cell(m, lo, hi, digits) for m, lo, hi in zip(
        grouped[f"{metric}_mean"], grouped[f"{metric}_lo"], grouped[f"{metric}_hi"], strict=True)]
        for metric, (name, digits, _) in compare.METRICS.items() if metric in ("fid", "kid")}  # fmt: skip
    return grouped.assign(**cells)[[*GROUP, "seeds", "FID", "KID"]].to_markdown(index=False)


def comparisons(headlines: dict[str, pd.DataFrame], detect: float | None = None) -> list[str]:
    """The Comparisons section: per protocol and group, each configuration against the best, then how many seeds
    the group's comparisons need and which spread dominates."""
    lines = ["## Comparisons", "", tables.COMPARISONS, ""]
    for title, frame, notes in tables.comparison_groups(headlines, detect):
        lines += [f"### {title}", "", frame.to_markdown(index=False), "", *[f"- {n}" for n in notes], ""]
    return lines


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


def markdown(
    jobs: pd.DataFrame,
    scores: pd.DataFrame | None = None,
    headlines: dict | None = None,
    damaged=None,
    health: pd.DataFrame | None = None,
    detect: float | None = None,
    sources: list | None = None,
) -> str:
    """The summary: the headline table per protocol, the health flags, the comparisons within each group (with the
    seeds they need; `detect`: the difference to size them for), mean [CI] by config and protocol, one row per job,
    then re-scores by protocol, failures and damaged runs. Training-time scores are labelled by their `protocol`
    column."""
    scores = scores if scores is not None else pd.DataFrame()
    lines = ["# Results", ""]
    for protocol, table in (headlines or {}).items():
        lines += [f"## Headline: {protocol}", "", tables.markdown(table, protocol)]
    if health is not None:
        lines += ["## Health", "", *health_lines(health), ""]
    if headlines:
        lines += comparisons(headlines, detect)
    grouped = by_config(jobs)
    if not grouped.empty:
        lines += [f"## By configuration and protocol: mean [{stats.INTERVAL}]", ""]
        lines += [by_config_table(grouped), ""]
    table = jobs[SUMMARY_COLUMNS].astype(object).where(jobs[SUMMARY_COLUMNS].notna(), None)
    lines += ["## Jobs", "", table.to_markdown(index=False, floatfmt=".4g", missingval="–"), ""]
    lines += rescored(scores)
    for state, title in (("diverged", "Diverged (stopped early; not in the tables above)"), ("failed", "Failures")):
        rows = jobs[jobs.state == state]
        if not rows.empty:
            lines += [f"## {title}", ""] + [f"- `{r.job_id}`: {r.error}" for r in rows.itertuples()] + [""]
    lines += damaged_section(damaged)
    lines += sources_lines(sources or [])
    return "\n".join(lines)


def health_lines(health: pd.DataFrame) -> list[str]:
    """The Health section's text: what is checked, each flag with its evidence, and the jobs never checked."""
    lines = [flags.CHECKS, ""]
    if health.empty:
        lines.append(flags.none_flagged(health.attrs.get("checked", 0)))
    lines += [f"- `{r.job_id}` ({r.arch}, seed {r.seed}): **{r.flag}**: {r.evidence}" for r in health.itertuples()]
    unchecked = health.attrs.get("unchecked", [])
    if unchecked:
        lines += ["", flags.unchecked_note(len(unchecked))]
    return lines


def damaged_section(damaged: pd.DataFrame | None) -> list[str]:
    if damaged is None or damaged.empty:
        return []
    lines = ["## Damaged (records unreadable or not the job's own; not in any table above)", ""]
    return lines + [f"- `{r.job_id}`: {r.file}: {r.problem}; {r.fix}" for r in damaged.itertuples()] + [""]


def write_report(root: Path, out: Path | None = None, detect: float | None = None) -> tuple[list[Path], list]:
    """Write the summary tables and plots for every run under root; returns the files written and the damaged
    runs (run, Damaged) left out of them. `detect`: the difference the seeds-needed lines are sized for (default:
    each group's gap between its best and runner-up)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; pass a results folder such as results/smoke")
    runs, damaged = read_runs(root)
    if not runs and not damaged:
        raise DataError(f"no runs under {root} (no spec.json found); run a suite first")
    out = Path(out) if out else root
    out.mkdir(parents=True, exist_ok=True)
    with atomic.file_lock(out / ".report.lock"):  # one report at a time writes here
        for tmp in out.glob(".*.tmp"):  # a killed report's; only this folder's own, never the run folders below
            tmp.unlink(missing_ok=True)
        return _write(root, out, runs, damaged, detect), damaged


def resolved_suites(root: Path, runs: list) -> list[tuple[str, str, int]]:
    """The suites run here with --set (store.runs.write_resolved): (path relative to root, the overrides, how many of
    the jobs reported here it defines). A file that no longer loads is listed with -1 jobs."""
    from harness.core.errors import ConfigError
    from harness.plan.suite import load_suite
    from harness.store.runs import RESOLVED_GLOB

    here = {r.run.path.name for r in runs}
    out = []
    for path in sorted([*root.glob(RESOLVED_GLOB), *root.glob(f"*/{RESOLVED_GLOB}")]):
        header = path.read_text(encoding="utf-8", errors="replace").partition("\n")[0].lstrip("# ")
        try:
            count = len(here & {j.job_id for j in load_suite(path).jobs})
        except ConfigError:
            count = -1
        out.append((path.relative_to(root).as_posix(), header.removesuffix(" (written by harness)"), count))
    return out


def sources_lines(sources: list[tuple[str, str, int]]) -> list[str]:
    if not sources:
        return []
    lines = ["## Suites as run with --set", ""]
    for path, header, count in sources:
        jobs = "no longer loads" if count < 0 else f"{count} of the jobs here"
        lines.append(f"- `{path}`: {header}; {jobs}")
    return [*lines, ""]


def configs_csv(headlines: dict[str, pd.DataFrame]) -> bytes:
    """Every configuration's statistics and standing, one row per (protocol, configuration); the seeds' scores
    joined by ';'."""
    if not headlines:
        return b""
    frames = [t.assign(protocol=p) for p, t in headlines.items()]
    table = pd.concat(frames, ignore_index=True)
    for column in [c for c in table.columns if c.endswith("_values")]:
        table[column] = table[column].map(lambda v: ";".join(f"{x:.6g}" for x in v))
    return table.to_csv(index=False).encode()


def _write(root: Path, out: Path, runs: list, damaged: list, detect: float | None = None) -> list[Path]:
    jobs, broken, health = jobs_frame(runs), damaged_frame(damaged), flags_frame(runs)
    sources = resolved_suites(root, runs)
    names = ("summary.csv", "configs.csv", "scores.csv", "damaged.csv", "summary.md", "headline.tex")
    paths = {k: out / k for k in names}
    scores = scores_frame(runs)
    headlines = tables.headline(jobs)
    atomic.write_bytes(paths["summary.csv"], jobs.to_csv(index=False).encode())
    atomic.write_bytes(paths["scores.csv"], scores.to_csv(index=False).encode())
    if headlines:
        atomic.write_bytes(paths["configs.csv"], configs_csv(headlines))
    if not broken.empty or paths["damaged.csv"].exists():  # rewritten once the damage is mended: never stale
        atomic.write_bytes(paths["damaged.csv"], broken.to_csv(index=False).encode())
    atomic.write_bytes(paths["summary.md"], markdown(jobs, scores, headlines, broken, health, detect, sources).encode())
    if headlines:
        tex = "\n".join(tables.latex(t, protocol) for protocol, t in headlines.items())
        atomic.write_bytes(paths["headline.tex"], tex.encode())
    written = [p for p in paths.values() if p.exists()]
    epochs = epochs_frame(runs)
    if not epochs.empty:
        scored = plots.curves(epochs, jobs)
        written += plots.fid_vs_epoch(scored, out / "fid_vs_epoch")
        written += plots.time_to_fid(scored, out / "time_to_fid")
        written += plots.losses(epochs, out / "losses")
    for protocol, table in headlines.items():  # plain names: records.check_scores refuses any other
        written += plots.final_fid(table, protocol, out / f"final_fid_{protocol}")
        written += plots.significance(table, protocol, out / f"significance_{protocol}")
    montage = plots.samples_montage(jobs, root, out / "samples")
    written += montage
    page = out / "report.html"
    atomic.write_bytes(page, html.page(root, out, jobs, headlines, written, broken, health, detect, sources).encode())
    return [*written, page]
