"""Tiny jobs and suites for tests: CPU-sized so a training epoch takes well under a second."""

import subprocess
import sys
from pathlib import Path

import yaml

from harness.specs import DataSpec, EvalSpec, JobSpec, ModelSpec, TrainSpec


def tiny_job(epochs: int = 2, seed: int = 0, n_images: int = 64, metrics: tuple[str, ...] = (), **eval_kw) -> JobSpec:
    return JobSpec(
        model=ModelSpec(arch="dcgan", z_dim=16, ngf=8, ndf=8),
        data=DataSpec(source="synthetic", label="synthetic", resolution=32, n_images=n_images),
        train=TrainSpec(epochs=epochs, seed=seed, batch_size=16),
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
