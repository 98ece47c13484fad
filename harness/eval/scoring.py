"""Score a generator under a protocol: the reference set, class-balanced samples, torch-fidelity, the record.
Used while training (runner) and to re-score stored checkpoints (`harness score`)."""

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from harness.config import protocols, sizes
from harness.config.specs import DEFAULT_METRICS, EvalSpec, JobSpec
from harness.core.errors import ConfigError, Damaged
from harness.data import ImageSet, load_dataset, subsample
from harness.eval import evaluate
from harness.eval.features import Generated
from harness.models import ARCHS, RetiredRecipe
from harness.store.runs import RunDir
from harness.train import checkpoint, distributed
from harness.train.state import build_generator


@dataclass(frozen=True)
class Reference:
    images: torch.Tensor  # uint8
    key: str  # torch-fidelity's cache name for its features
    protocol: dict[str, Any]
    labels: torch.Tensor | None = None  # the images' classes, for a conditional job's per-class health metrics


def reference(job: JobSpec, spec: EvalSpec, data_root: Path, train: ImageSet | None = None) -> Reference:
    """The real images a score compares with: the job's dataset and classes, `spec.ref_split`, `spec.ref_size`."""
    data = (
        train if train is not None and spec.ref_split == "train" else load_dataset(job.data, data_root, spec.ref_split)
    )
    chosen = subsample(data, spec.ref_size)
    images = chosen.images
    check_sizes(job, spec, len(images))
    _, weights_id, _ = evaluate.extractor()
    key = evaluate.reference_key(job.data, spec.ref_split, len(images), weights_id, spec.extractor_precision)
    conditional = ARCHS.get(job.model.arch).conditional
    described = protocols.describe(job, spec, len(images), weights_id, conditional)
    return Reference(images, key, described, chosen.labels if conditional else None)


def check_sizes(job: JobSpec, spec: EvalSpec, n_reference: int) -> None:
    """Refuse sample counts a metric cannot use, rather than computing a number that means nothing: the protocol's
    own rules, and the reference set as built (config/sizes)."""
    dataclasses.replace(spec, curve_samples=None).check(job.job_id)  # the job's curve plays no part in this score
    sizes.check_sizes(job.job_id, e=spec, n_reference=n_reference, reference_from="as built")


def num_classes(job: JobSpec, data_classes: int) -> int:
    """Labels to sample for G: class-balanced for conditional archs, none for the rest."""
    return data_classes if ARCHS.get(job.model.arch).conditional else 0


def score_generator(G, job: JobSpec, spec: EvalSpec, ref: Reference, classes: int, device, accelerator=None) -> dict:
    """Generate spec.n_samples and score them, spec.repeats times from fresh noise against the one cached reference:
    the scores are the repeats' mean and, with more than one, `repeats` keeps each. With an Accelerator of several
    ranks, each rank generates its share, the shares are gathered and the main process alone runs torch-fidelity
    (the others return {})."""
    t0 = time.perf_counter()
    each = [_score_once(G, job, spec, ref, classes, device, accelerator, repeat_seed(job.train.seed, r))
            for r in range(spec.repeats)]  # fmt: skip
    if not each[0]:
        return {}
    scores = each[0] if len(each) == 1 else {**mean_of(each), "repeats": each}
    return {**scores, "eval_seconds": time.perf_counter() - t0}


def repeat_seed(seed: int, repeat: int) -> int:
    """Repeat 0 draws the noise a single score draws (so repeats: 1 is today's score); the others fresh noise, seeded
    apart from every other job's seed."""
    return seed + repeat * 1_000_003


def mean_of(each: list[dict]) -> dict:
    return {k: sum(r[k] for r in each) / len(each) for k in each[0] if all(r.get(k) is not None for r in each)}


def _score_once(G, job: JobSpec, spec: EvalSpec, ref: Reference, classes: int, device, accelerator, seed: int) -> dict:
    """One score. A single process makes its samples batch by batch as the extractor takes them (features.py);
    several ranks each make their share, and the main process scores them all."""
    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator else (0, 1)
    n, device = spec.n_samples, torch.device(device)
    fakes = Generated(G, n, job.model.z_dim, seed, classes, distributed.part(n, rank, world))
    if world > 1:
        fakes = distributed.gather_parts(accelerator, fakes.materialise(device).images, n)
    if rank != 0:
        return {}
    labels = (ref.labels, evaluate.sample_labels(n, classes, seed)) if classes else (None, None)
    return evaluate.score(fakes, ref.images, ref.key, spec, device.type == "cuda", labels)


def rescore(run: RunDir, protocol: str, data_root: Path, device: str = "cpu", epoch: int | None = None) -> dict:
    """Score a finished (or interrupted) job's stored generator under `protocol`, appending to its scores.jsonl."""
    job = run.spec()
    spec = protocols.apply(job.eval, protocol)
    spec = dataclasses.replace(spec, metrics=spec.metrics or DEFAULT_METRICS)  # a job trained with scoring off
    train = load_dataset(job.data, data_root)
    classes = len(train.class_names)
    G = build_generator(job, classes)
    scored_epoch = checkpoint.load_generator(run, G, use_ema=job.train.ema > 0, epoch=epoch)
    ref = reference(job, spec, data_root, train)
    record = {"epoch": scored_epoch, "protocol": ref.protocol, "time": time.time(), "by": "harness score"}
    record |= score_generator(G.to(device), job, spec, ref, num_classes(job, classes), device)
    run.append_scores(record)
    return record


def rescore_all(target: Path, protocol: str, data_root: Path, device: str, epoch: int | None):
    """Re-score every finished-or-interrupted job under target (a run folder or a suite's results folder): yields
    (job id, its new record), or (job id, Damaged) for a job whose records or checkpoint fail their checks."""
    from harness.store.runs import iter_runs

    runs = list(iter_runs(target))
    if not runs:
        raise ConfigError(f"{target}: no runs here (no spec.json); pass a run folder or a suite's results folder")
    for run in runs:
        if not (run.checkpoint_path.exists() or run.previous_checkpoint_path.exists()):
            continue  # never trained past its first epoch: nothing to score
        try:
            yield run.path.name, rescore(run, protocol, data_root, device, epoch)
        except (Damaged, RetiredRecipe) as e:  # named, and the others are scored
            yield run.path.name, e
