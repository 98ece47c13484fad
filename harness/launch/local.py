"""Run a suite's jobs one after another in this process, on the CPU or one GPU, through one Accelerator."""

from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator

from harness.errors import ConfigError, HarnessError
from harness.progress import SuiteProgress
from harness.runner import run_job
from harness.specs import JobSpec
from harness.store import DONE, job_dir
from harness.suite import Suite


@dataclass
class Outcome:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def accelerator_for(device: str) -> Accelerator:
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is visible; use --device cpu")
    if device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"--device {device!r}: valid: auto, cpu, cuda")
    return Accelerator(cpu=device == "cpu")


def run_suite(suite: Suite, jobs: list[JobSpec], results: Path, device: str, data_root: Path) -> Outcome:
    outcome = Outcome()
    runs = [(job, job_dir(results, suite.name, job.job_id)) for job in jobs]
    outcome.skipped = [job.job_id for job, run in runs if run.state == DONE]
    pending = [(job, run) for job, run in runs if run.state != DONE]
    if not pending:
        return outcome
    accelerator = accelerator_for(device)
    with SuiteProgress(len(pending)) as progress:
        for job, run in pending:
            progress.job_started(job.job_id, job.train.epochs)
            try:
                state = run_job(job, run, accelerator, data_root, progress)
                outcome.done.append(job.job_id)
            except HarnessError as e:
                state = f"failed: {e}"
                outcome.failed.append((job.job_id, str(e)))
            except Exception as e:  # the suite goes on; status.json holds the traceback
                state = f"failed: {type(e).__name__}: {e}"
                outcome.failed.append((job.job_id, f"{type(e).__name__}: {e} (traceback in {run.status_path})"))
            progress.job_ended(job.job_id, state)
    return outcome


def rescore_all(target: Path, protocol: str, data_root: Path, device: str, epoch: int | None):
    """Re-score every finished-or-interrupted job under target (a run folder or a suite's results folder)."""
    from harness.scoring import rescore
    from harness.store import iter_runs

    runs = list(iter_runs(target))
    if not runs:
        raise ConfigError(f"{target}: no runs here (no spec.json); pass a run folder or a suite's results folder")
    for run in runs:
        if not run.checkpoint_path.exists():
            continue  # never trained past its first epoch: nothing to score
        yield run.path.name, rescore(run, protocol, data_root, device, epoch)
