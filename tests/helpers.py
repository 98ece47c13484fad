"""Tiny jobs and suites for tests: CPU-sized so a training epoch takes well under a second."""

import contextlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.config.specs import DataSpec, EvalSpec, JobSpec, ModelSpec, TrainSpec
from harness.models import ARCHS
from harness.store.runs import DONE, FAILED, job_dir


def tiny_job(
    epochs: int = 2, seed: int = 0, n_images: int = 64, metrics: tuple[str, ...] = (), arch: str = "dcgan", **eval_kw
) -> JobSpec:
    """A tiny job of `arch`, with its objective and recipe version as a suite resolves them (not its defaults)."""
    recipe = ARCHS.get(arch)
    return JobSpec(
        model=ModelSpec(arch=arch, z_dim=16, ngf=8, ndf=8, arch_version=recipe.version),
        data=DataSpec(source="synthetic", label="synthetic", resolution=32, n_images=n_images),
        train=TrainSpec(epochs=epochs, seed=seed, batch_size=16, objective=recipe.objective),
        eval=EvalSpec(metrics=metrics, **eval_kw),
    )


REPO = Path(__file__).resolve().parents[1]


def harness(*args: str, cwd: Path = REPO, timeout: float = 300, env=None) -> subprocess.CompletedProcess:
    """The CLI as a user runs it: a real process, its exit code and output."""
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


def tiny_suite(
    path: Path, name: str = "tiny", epochs: int = 2, seeds=(0,), n_images: int = 64, defaults=None, **eval_kw
) -> Path:
    """A suite file of tiny synthetic DCGAN jobs; scoring off unless eval settings are given."""
    suite = {
        "name": name,
        "matrix": {
            "arch": ["dcgan"],
            "dataset": ["synthetic"],
            "resolution": [32],
            "epochs": [epochs],
            "seed": list(seeds),
        },
        "defaults": {
            "batch_size": 16,
            "z_dim": 16,
            "ngf": 8,
            "ndf": 8,
            "n_images": n_images,
            "eval": {"metrics": [], **eval_kw},
            **(defaults or {}),
        },  # fmt: skip
    }
    path.write_text(yaml.safe_dump(suite))
    return path


def protocol(n_samples: int) -> dict:
    """The protocol record a training-time score carries (harness/config/protocols.py describe())."""
    reference = {"dataset": "synthetic", "classes": [], "split": "train", "resolution": 32, "n": 64}
    name = {64: "fid64-train"}.get(n_samples, "custom-1")
    return {"name": name, "reference": reference, "n_samples": n_samples, "extractor": "inception-v3-compat:abc"}


def fake_run(
    root, seed, fid, n_samples=64, state=DONE, suite="s", health=None, epochs=None, arch="dcgan", final=None
) -> JobSpec:
    """The records a finished (or failed) tiny job of `arch` leaves in root/suite/<job_id>, without training it;
    `health`: the health metrics of its final score; `epochs`: its metrics.jsonl records instead of two plain ones;
    `final`: more fields of its final.json (e.g. repeats)."""
    job = tiny_job(seed=seed, metrics=("fid", "kid"), n_samples=n_samples, kid_subset_size=8, arch=arch)
    run = job_dir(root, suite, job.job_id)
    run.write_spec(job)
    plain = [{"epoch": epoch, "d_loss": 1.0, "g_loss": 2.0, "seconds": 1.0, "images_per_s": 64.0,
              "fid": fid + 10 * (2 - epoch), "kid": 0.1} for epoch in (1, 2)]  # fmt: skip
    for record in epochs or plain:
        run.append_metrics(record)
    if state == DONE:
        run.write_final({"fid": fid, "kid": 0.1, "train_seconds": 2.0, "images_per_s": 64.0,
                         "protocol": protocol(n_samples), **(health or {}), **(final or {})})  # fmt: skip
        run.set_status(DONE)
    else:
        run.set_status(FAILED, error="boom: out of memory")
    return job


class StopAt:
    """Progress that requests a stop after `batches` steps of `epoch`, as SLURM's warning signal would."""

    def __init__(self, stop, epoch, batches):
        self.stop, self.epoch, self.batches, self.current, self.seen = stop, epoch, batches, 0, 0

    def epoch_started(self, epoch, steps):
        self.current, self.seen = epoch, 0

    def step(self):
        self.seen += 1
        if self.current == self.epoch and self.seen == self.batches:
            self.stop.set()

    def epoch_ended(self, record):
        pass


@contextlib.contextmanager
def tmpfs(folder: Path, options: str):
    """A real small file system mounted at `folder` (e.g. "size=300k", "ro,size=64k"): a full or read-only disk
    as the harness meets one. Skips where mounting needs a root this process is not."""
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'mount failed'}); needs root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)
