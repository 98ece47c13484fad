"""The headline table a paper quotes: one row per configuration with FID / KID / IS as the mean over seeds and its
95% interval, the best of each group and the configurations tied with it in bold, and a rank with ties; one table per
protocol; as Markdown and as LaTeX (booktabs). Pure functions over compare.configs' tables. A configuration with a
health-flagged seed (report/flags.py) is marked ⚠ in its seeds cell (the flagged seeds left out) and never bold."""

import pandas as pd

from harness.report import compare, stats
from harness.report.compare import METRICS, ROWS
from harness.report.flags import KINDS

OPTIONAL = ("variant", "classes", "epochs")  # headline columns shown only when they differ between rows
FLAG_NOTE = "; a configuration with a flagged seed is never bold (⚠: see Health; flagged seeds are left out)"
LATEX_SPECIAL = {"⚠": r"$\dagger$", "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                 "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}  # fmt: skip


def headline(jobs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """{protocol: one row per configuration (arch, variant, dataset, classes, resolution, epochs) with each metric's
    statistics over seeds and its standing in its group (harness/report/compare.py)}."""
    return compare.configs(jobs)


def summarise(
    jobs: pd.DataFrame, rows=tuple(ROWS), metrics=tuple(METRICS), where: dict[str, list[str]] | None = None
) -> dict[str, pd.DataFrame]:
    """{protocol: one row per value of `rows` (the group-by columns) over finished jobs matching `where` ({column:
    accepted values})}. Rows under different protocols are never averaged."""
    return compare.configs(jobs, rows, metrics, where)


def flagged(table: pd.DataFrame) -> list[str]:
    """Per row, its flagged seeds (left out of the statistics) by kind, e.g. '⚠ +3 collapsed' ('' when none)."""
    counts = [[(int(table[f"flag_{k}"].iloc[i]), k) for k in KINDS if f"flag_{k}" in table] for i in range(len(table))]
    return ["⚠ " + ", ".join(f"+{n} {k}" for n, k in row if n) if any(n for n, _ in row) else "" for row in counts]


def flag_note(table: pd.DataFrame) -> str:
    return FLAG_NOTE if any(flagged(table)) else ""


def caption(table: pd.DataFrame, protocol: str) -> str:
    """What every number of the table is and how the bold ones were chosen."""
    return (f"Protocol `{protocol}`: mean [{stats.INTERVAL}]; bold: the best on its data (dataset, classes, "
            f"resolution) and every configuration not significantly worse ({stats.TEST}), ranked 1 with it"
            f"{flag_note(table)}")  # fmt: skip


def cell(mean: float, lo: float, hi: float, digits: int) -> str:
    """'72.77 [66.10, 79.44]': the mean and its 95% interval; the mean alone where there is none (n = 1)."""
    if pd.isna(mean):
        return "–"
    return f"{mean:.{digits}f}" + ("" if pd.isna(lo) else f" [{lo:.{digits}f}, {hi:.{digits}f}]")


def metric_cells(table: pd.DataFrame, bold) -> dict[str, list[str]]:
    """Formatted 'mean [lo, hi]' cells per metric column; the best of its group and every configuration tied with
    it wrapped by `bold` (never a configuration with a flagged seed); then the rank by the first metric."""
    cells = {}
    metrics = [m for m in table.attrs.get("metrics", METRICS) if not table[f"{m}_mean"].isna().all()]
    for metric in metrics:
        name, digits, _ = METRICS[metric]
        values = zip(table[f"{metric}_mean"], table[f"{metric}_lo"], table[f"{metric}_hi"], strict=True)
        texts = [cell(mean, lo, hi, digits) for mean, lo, hi in values]
        cells[name] = [bold(t) if b else t for t, b in zip(texts, compare.bold(table, metric), strict=True)]
    if metrics:
        cells[f"rank ({METRICS[metrics[0]][0]})"] = ranks(table, metrics[0])
    return cells


def ranks(table: pd.DataFrame, metric: str) -> list[str]:
    out = []
    for n, r in zip(table[f"{metric}_n"], table[f"{metric}_rank"], strict=True):
        out.append("n = 1: not tested" if n == 1 else "–" if r is None or pd.isna(r) else str(int(r)))
    return out


COMPARISONS = (f"Each configuration against the best of its protocol, dataset, classes and resolution: Δ = its mean "
               f"minus the best's, with the 95% Welch interval of that difference, and {stats.TEST}. "
               "Tied for best: not significantly worse (ranked 1 with the best). Seeds that diverged or carry a "
               "health flag are left out of every statistic.")  # fmt: skip


def comparison_groups(headlines: dict[str, pd.DataFrame], detect: float | None = None):
    """Per protocol and comparison group: (title, a frame of each configuration against the best, the group's
    notes: the seeds its comparisons need and which spread dominates, per metric)."""
    for protocol, table in headlines.items():
        metrics = [m for m in table.attrs["metrics"] if table[f"{m}_n"].sum() > 0]
        for index in compare.groups(table):
            rows = table.loc[index]
            rows.attrs.update(table.attrs)
            first = rows.iloc[0]
            notes = []
            for metric in metrics:
                found = compare.power(table, index, metric, detect)
                notes += [f"Seeds: {compare.power_line(found, metric, detect is not None)}"] if found else []
                spread = compare.spread_line(table, index, metric)
                notes += [f"Spread: {spread}"] if spread else []
            title = f"{protocol}: {first.dataset} ({first.classes or 'all'}), {first.resolution}px"
            yield title, comparison_frame(rows, metrics), notes


def comparison_frame(rows: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    labels = {k: v for k, v in label_columns(rows).items() if k not in (*compare.WITHIN, "res")}
    columns = dict(labels)
    flags_ = [bool(f) for f in flagged(rows)]
    for metric in metrics:
        name, digits, _ = METRICS[metric]
        means = zip(rows[f"{metric}_mean"], rows[f"{metric}_lo"], rows[f"{metric}_hi"], strict=True)
        columns[name] = [cell(m, lo, hi, digits) for m, lo, hi in means]
        columns[f"Δ {name} vs best"] = [_delta(r, metric, digits) for _, r in rows.iterrows()]
        columns[f"p ({name})"] = ["–" if p is None or pd.isna(p) else f"{p:.3g}" for p in rows[f"{metric}_p"]]
    if not metrics:  # every seed flagged or unscored: nothing to compare
        columns["verdict"] = ["no unflagged seeds"] * len(rows)
        return pd.DataFrame(columns)
    columns["verdict"] = [compare.verdict(r, metrics[0], f) for (_, r), f in zip(rows.iterrows(), flags_, strict=True)]
    return pd.DataFrame(columns)


def _delta(row: pd.Series, metric: str, digits: int) -> str:
    delta, lo, hi = row[f"{metric}_delta"], row[f"{metric}_delta_lo"], row[f"{metric}_delta_hi"]
    if row[f"{metric}_best"]:
        return "(best)"
    if delta is None or pd.isna(delta):
        return "–"
    interval = "" if lo is None or pd.isna(lo) else f" [{lo:+.{digits}f}, {hi:+.{digits}f}]"
    return f"{delta:+.{digits}f}{interval}"


def label_columns(table: pd.DataFrame) -> dict[str, list[str]]:
    """The group-by columns in their order (resolution as '32px'), then seeds (those the statistics use, with the
    diverged and flagged ones beside them). The headline shows its variant, classes and epochs columns only when
    they differ between the rows shown."""
    rows = table.attrs.get("rows", ROWS)
    labels = {}
    for key in rows:
        if key == "resolution":
            labels["res"] = table.resolution.map(lambda r: f"{r}px")
        elif key not in OPTIONAL or rows != ROWS or table[key].nunique(dropna=False) > 1:
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
    lines = [caption(table, protocol) + ".", ""]
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
        f"% {caption(table, protocol)} (generated by harness report)",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(escape(c) for c in columns) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(row) + r" \\" for row in zip(*columns.values(), strict=True)]
    return "\n".join([*lines, r"\bottomrule", r"\end{tabular}"]) + "\n"


def escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def answer_frame(found: list, a_name: str, b_name: str) -> pd.DataFrame:
    """--compare's table: per metric, A's and B's mean [CI] (n), the difference A − B [CI] and Welch's p."""
    rows = []
    for f in found:
        name, digits, _ = METRICS[f.metric]
        d = f.diff
        diff = "–" if pd.isna(d.delta) else f"{d.delta:+.{digits}f}"
        diff += "" if pd.isna(d.lo) else f" [{d.lo:+.{digits}f}, {d.hi:+.{digits}f}]"
        rows.append({
            "metric": name,
            a_name: f"{cell(f.a.mean, f.a.lo, f.a.hi, digits)} (n={f.a.n})",
            b_name: f"{cell(f.b.mean, f.b.lo, f.b.hi, digits)} (n={f.b.n})",
            "Δ (A − B) [95% CI]": diff,
            "p (Welch)": "–" if pd.isna(d.p) else f"{d.p:.3g}",
        })  # fmt: skip
    return pd.DataFrame(rows)
