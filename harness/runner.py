"""Run one JobSpec in its run directory: status, data, training (resumed if interrupted), scoring, final record."""

import platform
import time
import traceback
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

from harness import __version__, checkpoint, evaluate, samples
from harness.data import ImageSet, load_dataset, sharpen, subsample
from harness.errors import ConfigError, HarnessError
from harness.models import ARCHS
from harness.specs import JobSpec
from harness.store import DONE, FAILED, RUNNING, RunDir
from harness.trainer import Progress, Scorer, build, train


def protocol(job: JobSpec, n_reference: int, weights_id: str) -> dict[str, Any]:
    """What a score depends on besides the generator: stored beside every number."""
    d, e = job.data, job.eval
    return {
        "reference": {
            "dataset": d.label,
            "classes": list(d.classes),
            "split": "train",
            "resolution": d.resolution,
            "n": n_reference,
        },
        "n_samples": e.n_samples,
        "extractor": f"inception-v3-compat:{weights_id}",
        "kid_subset_size": e.kid_subset_size,
        "kid_subsets": e.kid_subsets,
        "samples": "uint8, rounded as torchvision save_image",
        "generator_mode": "eval",
        "generator": "ema" if job.train.ema > 0 else "G",
        "labels": "class-balanced" if ARCHS.get(job.model.arch).conditional else None,
    }


def check_sizes(job: JobSpec, data: ImageSet, n_reference: int) -> None:
    if job.train.batch_size > len(data):
        raise ConfigError(
            f"{job.job_id}: batch_size {job.train.batch_size} > {len(data)} training images; lower batch_size"
        )
    if "kid" in job.eval.metrics and job.eval.kid_subset_size > n_reference:
        raise ConfigError(
            f"{job.job_id}: eval.kid_subset_size {job.eval.kid_subset_size} > {n_reference} reference images; lower it"
        )


def make_scorer(job: JobSpec, data: ImageSet, accelerator: Accelerator) -> tuple[Scorer, dict[str, Any]]:
    reals = subsample(data, job.eval.ref_size).images
    _, weights_id, _ = evaluate.extractor()
    key = evaluate.reference_key(job.data, len(reals), weights_id)
    cuda = accelerator.device.type == "cuda"

    num_classes = len(data.class_names) if ARCHS.get(job.model.arch).conditional else 0

    def score(G: torch.nn.Module, epoch: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        n, z_dim, device = job.eval.n_samples, job.model.z_dim, accelerator.device
        fakes = evaluate.generate(G, n, z_dim, 256, device, seed=job.train.seed, num_classes=num_classes)
        scores = evaluate.score(fakes, reals, key, job.eval, cuda)
        return {**scores, "eval_seconds": time.perf_counter() - t0}

    return score, protocol(job, len(reals), weights_id)


def environment() -> dict[str, str]:
    import accelerate
    import torch_fidelity

    return {
        "harness": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "accelerate": accelerate.__version__,
        "torch_fidelity": torch_fidelity.__version__,
    }


def summarise(job: JobSpec, run: RunDir, proto: dict[str, Any] | None, device: str) -> dict[str, Any]:
    """final.json: the last epoch's scores plus totals, built from metrics.jsonl so it survives resumes."""
    records = run.metrics()
    scored = [r for r in records if "fid" in r or "kid" in r]
    last = scored[-1] if scored else {}
    seconds = sum(r["seconds"] for r in records)
    images = sum(r["images_per_s"] * r["seconds"] for r in records)
    scores = {k: last[k] for k in ("fid", "kid", "kid_std", "is", "is_std") if k in last}
    return {
        "job_id": job.job_id,
        "epochs": records[-1]["epoch"] if records else 0,
        **scores,
        "scored_epoch": last.get("epoch"),
        "train_seconds": seconds,
        "images_per_s": images / seconds if seconds else None,
        "protocol": proto,
        "device": device,
        "env": environment(),
    }


def final_samples(job: JobSpec, run: RunDir, num_classes: int) -> None:
    """At the end: a latent-interpolation strip, and for conditional archs a grid with one row per class."""
    G = build(job, num_classes).G
    checkpoint.load_generator(run, G, use_ema=job.train.ema > 0)
    seed, z_dim = job.train.seed, job.model.z_dim
    conditional = ARCHS.get(job.model.arch).conditional
    strip = samples.interpolation(G, z_dim, num_classes if conditional else 0, seed, torch.device("cpu"))
    samples.save_grid(run.samples_dir / "interpolation.png", strip, nrow=10)
    if conditional:
        samples.save_grid(run.samples_dir / "classes.png", samples.per_class(G, z_dim, num_classes, seed, "cpu"))


def run_job(
    job: JobSpec, run: RunDir, accelerator: Accelerator, data_root: Path, progress: Progress | None = None
) -> str:
    """Train and score one job; returns its final state. Failures are recorded in status.json, then re-raised."""
    if run.state == DONE:
        return "skipped"
    run.write_spec(job)
    run.set_status(RUNNING, started=time.time())
    try:
        data = load_dataset(job.data, data_root)
        check_sizes(job, data, len(subsample(data, job.eval.ref_size)))
        scorer, proto = make_scorer(job, data, accelerator) if job.eval.metrics else (None, None)
        resumed_from = train(job, run, accelerator, sharpen(data, job.data.sharpen), scorer, progress)
        if accelerator.is_main_process:
            final_samples(job, run, len(data.class_names))
            run.write_final({**summarise(job, run, proto, str(accelerator.device)), "resumed_from_epoch": resumed_from})
            run.set_status(DONE, finished=time.time())
        return DONE
    except HarnessError as e:
        run.set_status(FAILED, error=str(e))
        raise
    except Exception as e:
        run.set_status(FAILED, error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
        raise
    except KeyboardInterrupt:
        run.set_status(FAILED, error="interrupted; run again to resume from the last checkpoint")
        raise
