"""Health flags: what in a finished job's records says its model is broken, each with its threshold and evidence.
A flagged job keeps its scores, but the report marks its configuration, never ranks it best, and lists why.

The thresholds are set from runs whose outcome was seen in their samples (README, "Health checks"): a generator
that ignores z has diversity 0 and coverage near 0; every arch that learns passes both within a few hundred CPU
steps (tests/models/test_learning.py)."""

import math
from dataclasses import dataclass
from typing import Any

from harness.store.runs import DONE, Record

DIVERSITY_MIN = 0.2  # fakes of a class closer together than a fifth of the class's real images: collapse
COVERAGE_MIN = 0.01  # fewer than 1 real neighbourhood in 100 holds any fake: the samples sit in a few places
RISE_EPOCHS = 3  # the last scored epochs over which a rising FID flags the run
RISE_MIN = 0.10  # ... when the last FID is this much above the run's best
SATURATED = (0.99, 0.01)  # D(x) at least, D(G(z)) at most (epoch means)
SATURATED_EPOCHS = 3  # consecutive epochs

KINDS = ("collapsed", "degrading", "saturated", "unscored")  # in the order the report counts them
CHECKS = (
    f"Every finished job is checked for mode collapse (within-class diversity < {DIVERSITY_MIN} or coverage "
    f"< {COVERAGE_MIN}), a FID that rose over its last {RISE_EPOCHS} scored epochs to {RISE_MIN:.0%} above its "
    f"best, a D saturated (D(x) ≥ {SATURATED[0]}, D(G(z)) ≤ {SATURATED[1]}) for {SATURATED_EPOCHS} epochs in a "
    "row, and missing scores (README, Health checks)."
)


def none_flagged(checked: int) -> str:
    return f"No job is flagged ({checked} with health metrics; collapse is judged on those only)."


def unchecked_note(n: int) -> str:
    return (
        f"{n} finished jobs have no health metrics (scored before they existed), so collapse was not measured for "
        "them; `harness score` adds them from a stored checkpoint."
    )


@dataclass(frozen=True)
class Flag:
    kind: str  # one of KINDS
    evidence: str


def health_scores(r: Record) -> dict[str, Any]:
    """The health metrics of the job's last score: final.json's, or the latest `harness score` record's when the
    training-time score predates them."""
    final = r.final or {}
    if "diversity" in final or "coverage" in final:
        return final
    rescored = [s for s in r.scores if "diversity" in s or "coverage" in s]
    return rescored[-1] if rescored else {}


def checked(r: Record) -> bool:
    """Whether the job's health metrics were measured at all (jobs scored before they existed were not)."""
    return bool(health_scores(r))


def flags(r: Record) -> list[Flag]:
    """Every flag a finished job raises ([] for jobs that have not finished, or diverged: they are counted apart)."""
    if r.status.get("state") != DONE:
        return []
    found = [unscored(r), collapsed(health_scores(r)), degrading(r.metrics), saturated(r.metrics)]
    return [f for f in found if f is not None]


def unscored(r: Record) -> Flag | None:
    final = r.final or {}
    if final.get("fid") is None and not any(s.get("fid") is not None for s in r.scores):
        return Flag("unscored", "finished without a FID (eval.metrics off, or scoring failed): nothing to rank")
    return None


def _value(scores: dict, key: str) -> float | None:
    v = scores.get(key)
    return v if isinstance(v, int | float) and math.isfinite(v) else None


def collapsed(scores: dict[str, Any]) -> Flag | None:
    """Mode collapse: samples that vary too little with z, or cover too little of the data."""
    reasons = []
    diversity, coverage = _value(scores, "diversity"), _value(scores, "coverage")
    if diversity is not None and diversity < DIVERSITY_MIN:
        reasons.append(f"within-class diversity {diversity:.3f} < {DIVERSITY_MIN}")
    if coverage is not None and coverage < COVERAGE_MIN:
        reasons.append(f"coverage {coverage:.3f} < {COVERAGE_MIN}")
    return Flag("collapsed", "; ".join(reasons)) if reasons else None


def degrading(metrics: list[dict[str, Any]]) -> Flag | None:
    """FID that rose over each of the last RISE_EPOCHS scored epochs and ended RISE_MIN above the run's best."""
    curve = [(m["epoch"], m["fid"]) for m in metrics if _value(m, "fid") is not None]
    last = curve[-RISE_EPOCHS:]
    if len(last) < RISE_EPOCHS or not all(a[1] < b[1] for a, b in zip(last, last[1:], strict=False)):
        return None
    best_epoch, best = min(curve, key=lambda point: point[1])
    if last[-1][1] < best * (1 + RISE_MIN):
        return None
    path = " → ".join(f"{fid:.1f} (epoch {epoch})" for epoch, fid in last)
    return Flag("degrading", f"FID rose {path}; best {best:.1f} at epoch {best_epoch}")


def saturated(metrics: list[dict[str, Any]]) -> Flag | None:
    """D that tells real from fake almost perfectly for SATURATED_EPOCHS epochs in a row: G gets no gradient."""
    run: list[dict[str, Any]] = []
    for m in metrics:
        d_real, d_fake = _value(m, "d_real"), _value(m, "d_fake")
        hit = d_real is not None and d_fake is not None and d_real >= SATURATED[0] and d_fake <= SATURATED[1]
        run = [*run, m] if hit else []
        if len(run) >= SATURATED_EPOCHS:
            first, last = run[0], run[-1]
            return Flag(
                "saturated",
                f"D(x) ≥ {SATURATED[0]} and D(G(z)) ≤ {SATURATED[1]} in epochs {first['epoch']}-{last['epoch']} "
                f"(last: D(x) {last['d_real']:.3f}, D(G(z)) {last['d_fake']:.4f})",
            )
    return None
