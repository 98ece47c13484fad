"""Health metrics, from the Inception pool3 features FID already computed (no second extractor pass): density and
coverage (Naeem et al. 2020, through their `prdc` package), within-class diversity over z, and for conditional G
intra-class FID. They say whether a generator covers the data and varies with z: a collapsed G can have a FID
that looks merely bad, and these catch it (thresholds: harness/report/flags.py)."""

import contextlib
import io

import numpy as np
import torch

from harness.config.protocols import DC_MAX, DIVERSITY_MAX
from harness.eval import distances

SEED = 2020  # the subsets above, fixed like KID's


def _subset(x: torch.Tensor, n: int, gen: torch.Generator) -> torch.Tensor:
    return x if len(x) <= n else x[torch.randperm(len(x), generator=gen)[:n]]


def density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int) -> dict[str, float]:
    """Naeem et al.'s density (how many real k-NN balls hold each fake, over k: ~1 when fakes lie where reals do)
    and coverage (the share of real k-NN balls holding any fake: ~0.97 for real-vs-real at k=5, low when modes are
    missing), on at most DC_MAX rows of each set."""
    from prdc import compute_prdc

    gen = torch.Generator().manual_seed(SEED)
    real, fake = (_subset(x, DC_MAX, gen).numpy().astype(np.float32) for x in (real, fake))
    with contextlib.redirect_stdout(io.StringIO()):  # it prints the set sizes
        out = compute_prdc(real_features=real, fake_features=fake, nearest_k=k)
    return {"density": float(out["density"]), "coverage": float(out["coverage"])}


def _spread(x: torch.Tensor) -> float:
    """Mean Euclidean distance between two different rows."""
    return float(torch.pdist(x.double()).mean()) if len(x) > 1 else float("nan")


def per_class(x: torch.Tensor, labels: torch.Tensor | None) -> dict[int, torch.Tensor]:
    """Rows by class label (one class, -1, for unlabelled sets)."""
    if labels is None:
        return {-1: x}
    return {int(c): x[labels == c] for c in labels.unique()}


def diversity(
    real: torch.Tensor, fake: torch.Tensor, real_labels: torch.Tensor | None, fake_labels: torch.Tensor | None
) -> float:
    """Within-class diversity over z: per class, the mean distance between two fakes over that between two reals
    of the class, averaged over classes (the whole set is one class for an unconditional G). ~1 when samples vary
    as much as the data does; 0 when G ignores z. Classes with fewer than two samples on either side are skipped."""
    gen = torch.Generator().manual_seed(SEED)
    reals, fakes = per_class(real, real_labels), per_class(fake, fake_labels)
    ratios = []
    for c, f in fakes.items():
        r = reals.get(c, reals.get(-1))
        if r is None or len(r) < 2 or len(f) < 2:
            continue
        ratios.append(_spread(_subset(f, DIVERSITY_MAX, gen)) / _spread(_subset(r, DIVERSITY_MAX, gen)))
    return float(np.mean(ratios)) if ratios else float("nan")


def intra_fid(
    real: torch.Tensor, fake: torch.Tensor, real_labels: torch.Tensor, fake_labels: torch.Tensor, device
) -> float:
    """Intra-class FID (Miyato & Koyama 2018): the mean over classes of FID between the class's samples and the
    class's reference images. The reference features are the cached ones, split by label."""
    reals = per_class(real, real_labels)
    values = [distances.fid(f, reals[c], device) for c, f in per_class(fake, fake_labels).items() if c in reals]
    return float(np.mean(values)) if values else float("nan")


def metrics(
    wanted: set[str], real: torch.Tensor, fake: torch.Tensor, labels: tuple, k: int, device
) -> dict[str, float]:
    """The health metrics in `wanted` (names of specs.HEALTH_METRICS), keyed by their result columns. `labels`:
    (real labels, fake labels) for a conditional G, else (None, None); intra_fid needs them."""
    real_labels, fake_labels = labels
    out: dict[str, float] = {}
    if "coverage" in wanted:
        out |= density_coverage(real, fake, k)
    if "diversity" in wanted:
        out["diversity"] = diversity(real, fake, real_labels, fake_labels)
    if "intra_fid" in wanted and fake_labels is not None:
        out["intra_fid"] = intra_fid(real, fake, real_labels, fake_labels, device)
    return out
