"""Where a suite stands: each job's state in the results folder, with runs whose process has died marked stale."""

import os
import socket
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import Damaged
from harness.plan.suite import Suite
from harness.store.runs import DAMAGED, FINISHED, PENDING, RUNNING, job_dir, run_folders

ORDER = ("done", "running", "stale", "interrupted", "diverged", "failed", "damaged", "pending")
STALE = "stale"  # status says running, but its process on this host is gone (killed, node lost): rerun resumes it


@dataclass(frozen=True)
class JobState:
    job_id: str
    state: str
    detail: str


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def job_state(run) -> JobState:
    """The job's state and a detail line; a job whose records are damaged says which file and what to do."""
    try:
        return _job_state(run)
    except Damaged as e:
        return JobState(run.path.name, DAMAGED, str(e))


def _job_state(run) -> JobState:
    status = run.status()
    state, detail = status.get("state", PENDING), status.get("error", "")
    # a finished job is what the report shows: all its records must be intact (read once, here)
    record = run.read() if state in FINISHED else None
    epochs = len(record.metrics if record else run.metrics())
    if state == RUNNING:
        here = status.get("host") == socket.gethostname()
        if here and not _alive(int(status.get("pid", -1))):
            state, detail = STALE, f"pid {status.get('pid')} is gone"
        else:
            detail = f"on {status.get('host')} pid {status.get('pid')}"
    if record is not None and record.final is None:
        state, detail = PENDING, "final.json missing: `harness run` re-finishes it from its checkpoint"
    if epochs and state != "done":
        detail = f"{epochs} epochs done; {detail}".rstrip("; ")
    return JobState(run.path.name, state, detail)


def suite_status(suite: Suite, results: Path) -> tuple[Counter, list[JobState]]:
    folders = run_folders(results, suite.name)
    states = [_listed_state(results, suite.name, job.job_id, folders) for job in suite.jobs]
    return Counter(s.state for s in states), states


def _listed_state(results: Path, suite: str, job_id: str, folders: set[str]) -> JobState:
    if job_id not in folders:  # never started: what job_state says of it, without two failed reads per job
        return JobState(job_id, PENDING, "")
    return job_state(job_dir(results, suite, job_id))
