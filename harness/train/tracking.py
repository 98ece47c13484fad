"""Experiment trackers through Accelerate (`trackers: [tensorboard]` in a suite): each job's epoch records as scalars,
its spec as hyper-parameters and its sample grids as images, written beside the run's own records in
<run>/trackers/. The run folder stays the source of truth; a tracker is a view of it, and off by default."""

from typing import Any

import numpy as np
from PIL import Image

from harness.core.errors import ConfigError
from harness.store.runs import RunDir


def names() -> list[str]:
    from accelerate.tracking import LOGGER_TYPE_TO_CLASS

    return sorted(LOGGER_TYPE_TO_CLASS)


def check(wanted: tuple[str, ...], where: str = "trackers") -> None:
    """Known names only (the suite's concern); whether their packages are installed is checked when jobs start."""
    for name in wanted:
        if name not in names():
            raise ConfigError(f"{where}: unknown tracker {name!r}; valid: {', '.join(names())}")


def check_installed(wanted: tuple[str, ...]) -> None:
    from accelerate.tracking import get_available_trackers

    available = {str(t) for t in get_available_trackers()}
    for name in wanted:
        if name not in available:
            raise ConfigError(f"trackers: {name} is not installed here; pip install {name.replace('_', '-')}")


def start(wanted: tuple[str, ...], job_id: str, spec: dict[str, Any], run: RunDir) -> list:
    """One started tracker per name, its hyper-parameters logged. Rank 0 alone writes (Accelerate's trackers run
    their methods on the main process only)."""
    from accelerate.tracking import LOGGER_TYPE_TO_CLASS

    trackers = []
    for name in wanted:
        cls = LOGGER_TYPE_TO_CLASS[name]
        tracker = cls(job_id, run.path / "trackers") if cls.requires_logging_directory else cls(job_id)
        tracker.start()
        tracker.store_init_configuration(hyperparameters(spec))
        trackers.append(tracker)
    return trackers


def hyperparameters(spec: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The nested spec flattened to 'train.lr_g'-style keys with bool/str/int/float values, as trackers take them."""
    flat = {}
    for key, value in spec.items():
        if isinstance(value, dict):
            flat |= hyperparameters(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value if isinstance(value, bool | str | int | float) else str(value)
    return flat


class Tracked:
    """The trainer's Progress, passed through, with each epoch record and sample grid also logged to the trackers."""

    def __init__(self, progress, trackers: list, run: RunDir):
        self.progress, self.trackers, self.run = progress, trackers, run

    def epoch_started(self, epoch: int, steps: int) -> None:
        self.progress.epoch_started(epoch, steps)

    def step(self) -> None:
        self.progress.step()

    def epoch_ended(self, record: dict[str, Any]) -> None:
        self.progress.epoch_ended(record)
        epoch = record["epoch"]
        scalars = {k: v for k, v in record.items() if k != "epoch" and isinstance(v, int | float)}
        grid = self.run.samples_dir / f"epoch_{epoch:04d}.png"
        for tracker in self.trackers:
            tracker.log(scalars, step=epoch)
            if grid.exists() and tracker.name == "tensorboard":  # other trackers take other image arguments
                tracker.log_images({"samples": np.asarray(Image.open(grid).convert("RGB"))[None]}, step=epoch,
                                   dataformats="NHWC")  # fmt: skip

    def finish(self) -> None:
        for tracker in self.trackers:
            tracker.finish()
