"""Jobs frame -> one row per configuration and protocol with each metric's statistics over seeds (n, mean, std, 95%
interval), its standing against the best of its group (difference, Welch's test Holm-corrected, rank with ties), and
the per-group figures that say how far to trust a ranking: the smallest difference the seeds can detect, how many
seeds a difference needs, and whether seeds or the score's own sampling error spread the numbers more.

A group is one (protocol, dataset, classes, resolution): only configurations scored alike on the same data are
compared. Seeds that diverged or carry a health flag (harness/report/flags.py) are left out of every statistic and
counted beside them; a configuration with a flagged seed is compared but never named best."""

import math
from dataclasses import dataclass

import pandas as pd

from harness.core.errors import ConfigError
from harness.report import stats
from harness.report.flags import KINDS

# column, digits, lower is better
METRICS = {"fid": ("FID", 2, True), "kid": ("KID", 4, True), "is": ("IS", 2, False)}
ROWS = ["arch", "variant", "dataset", "classes", "resolution", "epochs"]
WITHIN = ("dataset", "classes", "resolution")  # the keys of a comparison group, besides the protocol


def check(jobs: pd.DataFrame, rows, metrics, where) -> None:
    for name in [*rows, *(where or {})]:
        if name not in jobs.columns:
            raise ConfigError(f"{name!r} is not a column of the results; valid: {', '.join(jobs.columns)}")
    for metric in metrics:
        if metric not in METRICS:
            raise ConfigError(f"--metric {metric!r}; valid: {', '.join(METRICS)}")


def select(jobs: pd.DataFrame, where: dict[str, list[str]] | None) -> pd.DataFrame:
    for name, accepted in (where or {}).items():
        jobs = jobs[jobs[name].astype(str).isin(accepted)]
    return jobs


def configs(
    jobs: pd.DataFrame, rows=tuple(ROWS), metrics=tuple(METRICS), where: dict[str, list[str]] | None = None
) -> dict[str, pd.DataFrame]:
    """{protocol: one row per value of `rows` over finished jobs matching `where`, with seeds (those the statistics
    use), diverged and flagged counts, and per metric m: m_n, m_mean, m_std, m_lo, m_hi, m_values (the seeds' scores),
    m_eval_std (the score's own spread over eval.repeats), and the standing columns of `rank`."""
    rows, metrics = list(rows), list(metrics)
    check(jobs, rows, metrics, where)
    jobs = select(jobs, where)
    jobs = jobs.assign(**{k: jobs[k].fillna("") for k in rows if jobs[k].dtype == object})
    diverged = jobs[jobs.state == "diverged"].groupby(rows, dropna=False).size()
    done = jobs[(jobs.state == "done") & jobs.protocol.notna()]
    out = {}
    for protocol, group in done.groupby("protocol", sort=True):
        records = [_config(key, seeds, rows, metrics, diverged) for key, seeds in group.groupby(rows, sort=True)]
        table = pd.DataFrame(records)
        table.attrs.update(rows=rows, metrics=metrics)
        out[str(protocol)] = rank(table, metrics)
    return out


def _flag_kinds(flags: object) -> list[str]:
    return [k for k in str(flags or "").split(", ") if k in KINDS]


def _config(key, seeds: pd.DataFrame, rows: list[str], metrics: list[str], diverged: pd.Series) -> dict:
    key = key if isinstance(key, tuple) else (key,)
    marks = seeds["flags"].map(_flag_kinds) if "flags" in seeds else pd.Series([[]] * len(seeds), index=seeds.index)
    clean = seeds[marks.map(len) == 0]
    record = dict(zip(rows, key, strict=True))
    record |= {"seeds": len(clean), "diverged": int(diverged.get(key if len(key) > 1 else key[0], 0))}
    record |= {f"flag_{k}": int(marks.map(lambda f, k=k: k in f).sum()) for k in KINDS}
    for m in metrics:
        values = [float(v) for v in clean[m] if pd.notna(v)] if m in clean else []
        iv = stats.interval(values)
        record |= {f"{m}_n": iv.n, f"{m}_mean": iv.mean, f"{m}_std": iv.std, f"{m}_lo": iv.lo, f"{m}_hi": iv.hi}
        record |= {f"{m}_values": tuple(values), f"{m}_eval_std": _eval_std(clean, m)}
    return record


def _eval_std(seeds: pd.DataFrame, metric: str) -> float:
    """The score's own standard deviation over eval.repeats, pooled over the seeds (root mean variance); NaN
    without repeats."""
    column = f"{metric}_repeat_std"
    if column not in seeds or seeds[column].isna().all():
        return math.nan
    return float(math.sqrt((seeds[column].dropna() ** 2).mean()))


def groups(table: pd.DataFrame) -> list[pd.Index]:
    """The row labels of each comparison group of a config table (one protocol's)."""
    keys = [k for k in WITHIN if k in table.attrs.get("rows", table.columns)]
    if not keys:
        return [table.index]
    return [rows.index for _, rows in table.groupby(keys, sort=True, dropna=False)]


def eligible(table: pd.DataFrame) -> pd.Series:
    """May be named best: no seed of the configuration carries a health flag."""
    return sum(table[f"flag_{k}"] for k in KINDS) == 0


def rank(table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Adds per metric m, within each group: m_rank (1 for the best and all tied with it; None untested), m_tied,
    m_delta / m_delta_lo / m_delta_hi (vs the best, Welch 95% CI) and m_p (Holm-adjusted)."""
    table = table.copy()
    allowed = eligible(table)
    for m in metrics:
        lower = METRICS[m][2]
        columns = {c: [None] * len(table) for c in ("rank", "tied", "delta", "delta_lo", "delta_hi", "p", "best")}
        for index in groups(table):
            positions = [table.index.get_loc(i) for i in index]
            values = [table[f"{m}_values"].iloc[p] for p in positions]
            ok = [bool(allowed.iloc[p]) for p in positions]
            for p, s in zip(positions, stats.standings(values, lower, ok), strict=True):
                if s is None:
                    continue
                columns["rank"][p], columns["tied"][p] = s.rank, s.tied
                columns["delta"][p], columns["p"][p] = s.vs_best.delta, s.p_holm
                if not s.best:  # the best against itself: no interval to speak of
                    columns["delta_lo"][p], columns["delta_hi"][p] = s.vs_best.lo, s.vs_best.hi
                columns["best"][p] = s.best
        for name, column in columns.items():
            table[f"{m}_{name}"] = column
    return table


def bold(table: pd.DataFrame, metric: str) -> list[bool]:
    """Tied for best and allowed to be best: the cells a table marks."""
    tied = table[f"{metric}_tied"] if f"{metric}_tied" in table else [None] * len(table)
    return [bool(t) and bool(e) for t, e in zip(tied, eligible(table), strict=True)]


@dataclass(frozen=True)
class Power:
    n: int  # seeds per configuration (the group's smallest tested n)
    std: float  # the seed-to-seed std pooled over the group
    detectable: float  # the smallest difference detectable at 80% power
    gap: float | None  # the difference asked about: --detect, or the best's gap to the runner-up
    needed: int | None  # seeds per configuration that gap needs (None: more than stats.MAX_SEEDS)


def power(table: pd.DataFrame, index: pd.Index, metric: str, detect: float | None = None) -> Power | None:
    rows = table.loc[index]
    tested = rows[rows[f"{metric}_n"] >= 2]
    if tested.empty:
        return None
    n, std = int(tested[f"{metric}_n"].min()), stats.pooled_std(list(tested[f"{metric}_values"]))
    gap = detect
    if gap is None:
        means = tested[f"{metric}_mean"].sort_values(ascending=METRICS[metric][2])
        gap = abs(means.iloc[1] - means.iloc[0]) if len(means) > 1 else None
    needed = stats.seeds_needed(gap, std) if gap else None
    return Power(n, std, stats.detectable(std, n), gap, needed)


def power_line(p: Power, metric: str, asked: bool) -> str:
    name, digits = METRICS[metric][:2]
    if not p.std > 0:
        return f"{name}: the seeds agree exactly (std 0); no spread to judge a difference by."
    text = (f"{name}: with n = {p.n} seeds per configuration and a seed-to-seed std of {p.std:.{digits}f}, the "
            f"smallest difference detectable at 80% power is {p.detectable:.{digits}f}")  # fmt: skip
    if p.gap:
        what = "a difference of" if asked else "the best's gap to the runner-up,"
        seeds = f"{p.needed} seeds per configuration" if p.needed else f"more than {stats.MAX_SEEDS} seeds"
        verdict = "the current seeds suffice" if p.needed and p.needed <= p.n else "run more seeds"
        text += f"; {what} {p.gap:.{digits}f}, needs {seeds} ({verdict})"
    return text + "."


def spread_line(table: pd.DataFrame, index: pd.Index, metric: str) -> str | None:
    """Which spreads the scores more: training (seed to seed) or the score's sampling error (over eval.repeats)."""
    rows = table.loc[index]
    name, digits = METRICS[metric][:2]
    seed = stats.pooled_std(list(rows[f"{metric}_values"]))
    if math.isnan(seed):
        return None
    sampling = rows[f"{metric}_eval_std"].dropna()
    if sampling.empty:
        return (f"{name}: seed-to-seed std {seed:.{digits}f}; the score's own sampling error was not measured "
                "(set `eval.repeats: 3` to separate it).")  # fmt: skip
    own = float(math.sqrt((sampling**2).mean()))
    if seed == 0 and own == 0:
        return f"{name}: the scores do not vary, from seed to seed or over eval.repeats."
    which = "training (seed to seed)" if seed > own else "the score's own sampling error"
    return (f"{name}: seed-to-seed std {seed:.{digits}f}, the score's own sampling std {own:.{digits}f} (over "
            f"eval.repeats): {which} dominates.")  # fmt: skip


def verdict(row: pd.Series, metric: str, flagged: bool) -> str:
    """A configuration's standing in words."""
    n = row[f"{metric}_n"]
    if n == 0:
        return "no unflagged seeds"
    if n == 1:
        return "n = 1: not tested"
    if row[f"{metric}_rank"] is None or pd.isna(row[f"{metric}_rank"]):
        return "not tested (no best with n ≥ 2)"
    if row[f"{metric}_best"]:
        return "best"
    if row[f"{metric}_tied"]:
        return "tied for best (flagged seed: not named best)" if flagged else "tied for best"
    return "worse"


@dataclass(frozen=True)
class Answer:
    """A against B on one metric, in one protocol and group: their intervals and Welch's test of the difference."""

    group: str
    metric: str
    a: stats.Interval
    b: stats.Interval
    diff: stats.Difference  # mean(A) - mean(B)

    def sentence(self, a_name: str, b_name: str) -> str:
        name, digits, lower = METRICS[self.metric]
        d, n = self.diff, f"n = {self.a.n}/{self.b.n}"
        if math.isnan(d.p):
            return f"{a_name} vs {b_name} on {name}: not tested ({n}; a test needs at least 2 seeds each)."
        # The gain of A over B, positive when A is better: lower FID/KID, higher IS.
        gain, lo, hi = (-d.delta, -d.hi, -d.lo) if lower else (d.delta, d.lo, d.hi)
        word = "better" if gain > 0 else "worse"
        size, lo, hi = (gain, lo, hi) if gain > 0 else (-gain, -hi, -lo)  # the interval of the size said
        size = f"{size:.{digits}f} {name} [{lo:.{digits}f}, {hi:.{digits}f}]"
        said = f"(Welch's t, p = {d.p:.3g}, {n}"
        if d.p < stats.ALPHA:
            return f"{a_name} is {word} than {b_name} by {size} {said}; significant at α = 0.05)."
        return f"{a_name} is not significantly {word} than {b_name}: by {size} {said}; within noise at α = 0.05)."


def answer(
    jobs: pd.DataFrame, a: dict[str, list[str]], b: dict[str, list[str]], metrics=tuple(METRICS), where=None
) -> list[Answer]:
    """A against B (each a --where selector naming one configuration per group), for every protocol and group where
    both have finished seeds. A selector matching several configurations of a group is an error naming them."""
    check(jobs, [], metrics, {**a, **b, **(where or {})})
    jobs = select(jobs, where)
    sides = [configs(select(jobs, sel), ROWS, metrics) for sel in (a, b)]
    out = []
    for protocol in sorted(set(sides[0]) & set(sides[1])):
        tables = [sides[0][protocol], sides[1][protocol]]
        keyed = [{_group_key(t, i): t.loc[i] for i in groups(t)} for t in tables]
        for key in sorted(set(keyed[0]) & set(keyed[1]), key=str):
            rows = [_one(k[key], sel, key) for k, sel in zip(keyed, (a, b), strict=True)]
            title = f"{protocol}: {key[0]} ({key[1] or 'all'}), {key[2]}px"
            for m in metrics:
                va, vb = rows[0][f"{m}_values"], rows[1][f"{m}_values"]
                if va or vb:
                    out.append(Answer(title, m, stats.interval(va), stats.interval(vb), stats.difference(va, vb)))
    return out


def _group_key(table: pd.DataFrame, index: pd.Index) -> tuple:
    first = table.loc[index].iloc[0]
    return tuple(first[k] for k in WITHIN)


def _one(rows: pd.DataFrame, selector: dict[str, list[str]], key: tuple) -> pd.Series:
    if len(rows) > 1:
        names = "; ".join(f"{r.arch} {r.variant or 'default'} e{r.epochs}" for r in rows.itertuples())
        said = " ".join(f"{k}={','.join(v)}" for k, v in selector.items())
        raise ConfigError(f"--compare {said!r} matches {len(rows)} configurations on {key[0]} {key[2]}px ({names}); "
                          "add COLUMN=VALUE to pick one")  # fmt: skip
    return rows.iloc[0]
