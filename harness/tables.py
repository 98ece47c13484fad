"""The headline table a paper quotes: arch x dataset x resolution with FID / KID / IS as mean ± std over seeds, the
best value of each column in bold, one table per protocol; as Markdown and as LaTeX (booktabs). Pure functions.
A configuration with a health-flagged seed (harness/flags.py) is marked ⚠ in its seeds cell and never bold."""

import pandas as pd

from harness.errors import ConfigError
from harness.flags import KINDS

METRICS = {"fid": ("FID", 2, min), "kid": ("KID", 4, min), "is": ("IS", 2, max)}  # column, digits, which is best
ROWS = ["arch", "variant", "dataset", "resolution"]
FLAG_NOTE = " among the configurations no health flag marks (⚠: see Health)"
LATEX_SPECIAL = {"⚠": r"$\dagger$", "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                 "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}  # fmt: skip


def headline(jobs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """{protocol: one row per (arch, variant, dataset, resolution) with seeds and each metric's mean and std}."""
    return summarise(jobs)


def summarise(
    jobs: pd.DataFrame, rows=tuple(ROWS), metrics=tuple(METRICS), where: dict[str, list[str]] | None = None
) -> dict[str, pd.DataFrame]:
    """{protocol: one row per value of `rows` (the group-by columns), with seeds and mean/std of each metric}, over
    finished jobs matching `where` ({column: accepted values}). Rows under different protocols are never averaged."""
    for name in [*rows, *(where or {})]:
        if name not in jobs.columns:
            raise ConfigError(f"{name!r} is not a column of the results; valid: {', '.join(jobs.columns)}")
    for metric in metrics:
        if metric not in METRICS:
            raise ConfigError(f"--metric {metric!r}; valid: {', '.join(METRICS)}")
    for name, accepted in (where or {}).items():
        jobs = jobs[jobs[name].astype(str).isin(accepted)]
    done = jobs[(jobs.state == "done") & jobs.protocol.notna()]
    # Seeds that diverged have no scores: the mean is over the others, and the table says how many are missing.
    diverged = jobs[jobs.state == "diverged"].groupby(list(rows), dropna=False).size().rename("diverged")
    tables = {}
    for protocol, group in done.groupby("protocol", sort=True):
        marks = (group["flags"] if "flags" in group else pd.Series("", index=group.index)).fillna("").str.split(", ")
        flagged = {kind: marks.map(lambda f, k=kind: k in f) for kind in KINDS}
        group = group.assign(**{f"flag_{kind}": hit for kind, hit in flagged.items()})
        stats = group.groupby(list(rows), dropna=False, sort=True).agg(
            seeds=("seed", "count"),
            **{f"{m}_{s}": (m, s) for m in metrics for s in ("mean", "std")},
            **{f"flag_{kind}": (f"flag_{kind}", "sum") for kind in KINDS},
        )
        table = stats.join(diverged, how="left").reset_index()
        table["diverged"] = table.diverged.fillna(0).astype(int)
        table.attrs.update(rows=list(rows), metrics=list(metrics))
        tables[protocol] = table
    return tables


def flagged(table: pd.DataFrame) -> list[str]:
    """Per row, its flagged seeds by kind, e.g. '⚠ 3 collapsed' ('' when none)."""
    counts = [[(int(table[f"flag_{k}"].iloc[i]), k) for k in KINDS if f"flag_{k}" in table] for i in range(len(table))]
    return ["⚠ " + ", ".join(f"{n} {k}" for n, k in row if n) if any(n for n, _ in row) else "" for row in counts]


def flag_note(table: pd.DataFrame) -> str:
    return FLAG_NOTE if any(flagged(table)) else ""


def metric_cells(table: pd.DataFrame, bold) -> dict[str, list[str]]:
    """Formatted 'mean ± std' cells per metric column, the best mean of each column wrapped by `bold`."""
    cells = {}
    for metric in table.attrs.get("metrics", METRICS):
        name, digits, best = METRICS[metric]
        means, stds = table[f"{metric}_mean"], table[f"{metric}_std"]
        if means.isna().all():
            continue
        trusted = [not f for f in flagged(table)]  # a flagged configuration is never ranked best
        top = best(means[trusted].dropna()) if means[trusted].notna().any() else None
        column = []
        for mean, std, ok in zip(means, stds, trusted, strict=True):
            text = "–" if pd.isna(mean) else f"{mean:.{digits}f}" + ("" if pd.isna(std) else f" ± {std:.{digits}f}")
            column.append(bold(text) if ok and mean == top else text)
        cells[name] = column
    return cells


def label_columns(table: pd.DataFrame) -> dict[str, list[str]]:
    """The group-by columns in their order (resolution as '32px'), then seeds. The headline shows its variant
    column only when variants differ between the rows shown."""
    rows = table.attrs.get("rows", ROWS)
    labels = {}
    for key in rows:
        if key == "resolution":
            labels["res"] = table.resolution.map(lambda r: f"{r}px")
        elif key != "variant" or rows != ROWS or table.variant.nunique(dropna=False) > 1:
            labels[key] = table[key].fillna("")
    diverged = table.diverged if "diverged" in table else [0] * len(table)
    notes = [
        ", ".join(x for x in (f"+{d} diverged" if d else "", f) if x)
        for d, f in zip(diverged, flagged(table), strict=True)
    ]
    labels["seeds"] = [f"{n} ({note})" if note else str(n) for n, note in zip(table.seeds, notes, strict=True)]
    return {k: [str(v) for v in values] for k, values in labels.items()}


def markdown(table: pd.DataFrame, protocol: str) -> str:
    columns = label_columns(table) | metric_cells(table, lambda t: f"**{t}**")
    header = list(columns)
    rows = list(zip(*columns.values(), strict=True))
    lines = [f"Protocol `{protocol}`: mean ± std over seeds, best in bold{flag_note(table)}.", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def latex(table: pd.DataFrame, protocol: str) -> str:
    """A booktabs tabular; \\usepackage{booktabs} in the preamble."""
    labels = {k: [escape(v) for v in values] for k, values in label_columns(table).items()}
    cells = metric_cells(table, lambda t: rf"\textbf{{{t}}}")
    cells = {k: [v.replace("±", r"$\pm$") for v in values] for k, values in cells.items()}
    columns = labels | cells
    align = "l" * len(labels) + "r" * len(cells)
    lines = [
        f"% protocol {protocol}: mean ± std over seeds, best in bold{flag_note(table)} (generated by harness report)",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(escape(c) for c in columns) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(row) + r" \\" for row in zip(*columns.values(), strict=True)]
    return "\n".join([*lines, r"\bottomrule", r"\end{tabular}"]) + "\n"


def escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in str(text))
