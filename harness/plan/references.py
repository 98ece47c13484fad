"""The reference-statistics cache: list what is cached, build a suite's references ahead of training, clear."""

import dataclasses
import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from harness.config import protocols
from harness.config.specs import DEFAULT_METRICS, HEALTH_METRICS
from harness.eval import evaluate, scoring
from harness.plan.suite import Suite


@dataclass(frozen=True)
class Cached:
    key: str
    files: int
    bytes: int
    written: str


def cached_references() -> list[Cached]:
    groups: dict[str, list[Path]] = {}
    for path in evaluate.fidelity_cache().glob("ref-*.pt"):
        key = path.name.split("-inception-v3-compat")[0]
        groups.setdefault(key, []).append(path)
    return [
        Cached(key, len(files), sum(f.stat().st_size for f in files), _when(max(f.stat().st_mtime for f in files)))
        for key, files in sorted(groups.items())
    ]


def _when(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def build_references(suite: Suite, protocol: str | None, data_root: Path, device: str) -> Iterator[tuple[str, str]]:
    """Compute each distinct reference of the suite once: yields (key, 'cached' | 'built')."""
    seen = set()
    for job in suite.jobs:
        spec = protocols.apply(job.eval, protocol) if protocol else job.eval
        # the features are what is cached: the health metrics, on a sliver of the reference, would only cost time
        metrics = tuple(m for m in spec.metrics or DEFAULT_METRICS if m not in HEALTH_METRICS)
        spec = dataclasses.replace(spec, metrics=metrics)
        ref = scoring.reference(job, spec, data_root)
        if ref.key in seen:
            continue
        seen.add(ref.key)
        if evaluate.reference_cached(ref.key):
            yield ref.key, "cached"
            continue
        # Scoring the reference against a sliver of itself makes torch-fidelity compute and cache its features.
        sliver = ref.images[: max(spec.kid_subset_size, spec.prc_neighborhood + 1, 2)]
        evaluate.score(sliver, ref.images, ref.key, spec, cuda=torch.device(device).type == "cuda")
        yield ref.key, "built"


def clear_references(pattern: str = "*") -> int:
    paths = [p for p in evaluate.fidelity_cache().glob("ref-*.pt") if _matches(p, pattern)]
    for path in paths:
        path.unlink()
    return len(paths)


def _matches(path: Path, pattern: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(path.name.split("-inception-v3-compat")[0], pattern)
