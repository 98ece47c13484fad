"""Tiny jobs and suites for tests: CPU-sized so a training epoch takes well under a second."""

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


def tiny_suite(path: Path, name: str = "tiny", epochs: int = 2, seeds=(0,), n_images: int = 64, **eval_kw) -> Path:
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
        },  # fmt: skip
    }
    path.write_text(yaml.safe_dump(suite))
    return path
