"""Scoring protocols as data: named presets of the settings that change a FID/KID/IS number, and the record of
everything a score depends on, stored beside every score."""

import dataclasses
import hashlib
import json
from typing import Any

from harness.config.specs import EvalSpec, JobSpec
from harness.core.precision import PRECISIONS
from harness.core.registry import Registry

# The EvalSpec fields that define a protocol (`every`, `metrics` and `batch_size` do not change a number).
FIELDS = (
    "n_samples", "ref_split", "ref_size", "kid_subset_size", "kid_subsets", "isc_splits", "prc_neighborhood",
    "dc_neighborhood", "extractor_precision",
)  # fmt: skip
DEFAULT = "fid10k-train"
# Subset sizes of the health metrics (harness/eval/health.py), fixed so a number never depends on the machine:
DC_MAX = 10_000  # rows of each set for density/coverage: prdc holds three n x n distance matrices (10k: 1.2 GB)
DIVERSITY_MAX = 2_000  # rows per class for the mean pairwise distance (2k: 2M distances per set)

PRESETS: Registry[dict[str, Any]] = Registry("protocol")


def _preset(name: str, n_samples: int, ref_split: str = "train", ref_size: int | None = None, **kid: int) -> None:
    """A protocol in strict float32 (`name`), and the same with the extractor in TF32 and in bfloat16 (`name-tf32`,
    `name-bf16`): faster on a GPU, never the same numbers, so never the same name or cached reference."""
    values = {"n_samples": n_samples, "ref_split": ref_split, "ref_size": ref_size, "kid_subset_size": 1000}
    values |= {"kid_subsets": 100, "isc_splits": 10, "prc_neighborhood": 3, "dc_neighborhood": 5, **kid}
    for precision in PRECISIONS:
        suffix = "" if precision == "fp32" else f"-{precision}"
        PRESETS.register(name + suffix)({**values, "extractor_precision": precision})


_preset("fid10k-train", 10_000)  # the default: 10k samples vs the job's whole training set
_preset("fid50k-train", 50_000)  # the literature's CIFAR-10 protocol (50k samples vs the 50k training images)
_preset("fid10k-test", 10_000, ref_split="test")  # vs the held-out split (CIFAR-10: 10k test images)
_preset("fid5k-train", 5_000)
# CPU smoke tests only: 64 samples make FID a rough, biased number, comparable only within the same protocol.
_preset("fid64-train", 64, ref_size=64, kid_subset_size=32, kid_subsets=50)
_preset("fid64-test", 64, ref_split="test", ref_size=64, kid_subset_size=32, kid_subsets=50)


def apply(spec: EvalSpec, name: str, where: str = "protocol") -> EvalSpec:
    return dataclasses.replace(spec, **PRESETS.get(name, where))


def name_of(spec: EvalSpec) -> str:
    """The preset this spec scores under, or 'custom-<hash>' when its settings match none."""
    values = {k: getattr(spec, k) for k in FIELDS}
    for name in PRESETS:
        if PRESETS.get(name) == values:
            return name
    return "custom-" + hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:6]


def describe(job: JobSpec, spec: EvalSpec, n_reference: int, weights_id: str, conditional: bool) -> dict[str, Any]:
    """Everything a score depends on besides the generator's weights."""
    d = job.data
    return {
        "name": name_of(spec),
        "reference": {
            "dataset": d.label,
            "classes": list(d.classes),
            "split": spec.ref_split,
            "resolution": d.resolution,
            "n": n_reference,
        },  # fmt: skip
        "n_samples": spec.n_samples,
        "extractor": f"inception-v3-compat:{weights_id}",
        **({"extractor_precision": spec.extractor_precision} if spec.extractor_precision != "fp32" else {}),
        "resize": "torch-fidelity's TF-compatible bilinear to 299x299",
        "kid_subset_size": spec.kid_subset_size,
        "kid_subsets": spec.kid_subsets,
        "isc_splits": spec.isc_splits,
        "prc_neighborhood": spec.prc_neighborhood,
        "prc_features": "inception-v3-compat pool3 (2048)",
        # the health metrics (harness/eval/health.py), from the same pool3 features
        "dc_neighborhood": spec.dc_neighborhood,
        "dc_samples": f"at most {DC_MAX} of each set",
        "diversity": f"per class, mean pool3 distance between fakes over that between reals (≤{DIVERSITY_MAX})",
        "intra_fid": "mean over classes of FID(class samples, class reference images)" if conditional else None,
        "samples": "uint8, rounded as torchvision save_image",
        "generator": "ema" if job.train.ema > 0 else "G",
        "generator_mode": "eval",
        "labels": "class-balanced" if conditional else None,
    }
