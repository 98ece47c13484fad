"""The results layout: results/<suite>/<job_id>/ holds spec.json, status.json, metrics.jsonl, final.json,
samples/ and checkpoint.pt. Every file is written atomically; metrics.jsonl is append-only."""

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness import atomic
from harness.errors import ConfigError
from harness.specs import JobSpec, is_safe_name

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
INTERRUPTED = "interrupted"  # stopped on request (SLURM's warning signal, preemption, Ctrl-C) after a checkpoint


class RunDir:
    def __init__(self, path: Path):
        self.path = Path(path)

    spec_path = property(lambda self: self.path / "spec.json")
    status_path = property(lambda self: self.path / "status.json")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    final_path = property(lambda self: self.path / "final.json")
    checkpoint_path = property(lambda self: self.path / "checkpoint.pt")
    samples_dir = property(lambda self: self.path / "samples")
    scores_path = property(lambda self: self.path / "scores.jsonl")
    snapshots_dir = property(lambda self: self.path / "snapshots")
    stop_path = property(lambda self: self.path / "STOP")  # a launcher asks the job's ranks to checkpoint and stop
    log_path = property(lambda self: self.path / "run.log")  # output of a job run in its own process

    def write_spec(self, spec: JobSpec) -> None:
        atomic.write_json(self.spec_path, {"job_id": spec.job_id, **spec.to_dict()})

    def spec(self) -> JobSpec:
        d = read_json(self.spec_path)
        d.pop("job_id", None)
        return JobSpec.from_dict(d)

    def status(self) -> dict[str, Any]:
        return read_json(self.status_path) if self.status_path.exists() else {"state": PENDING}

    @property
    def state(self) -> str:
        return self.status().get("state", PENDING)

    def set_status(self, state: str, **extra: Any) -> None:
        record = {"state": state, "time": time.time(), "host": socket.gethostname(), "pid": os.getpid(), **extra}
        atomic.write_json(self.status_path, record)

    def append_metrics(self, record: dict[str, Any]) -> None:
        append_jsonl(self.metrics_path, record)

    def metrics(self) -> list[dict[str, Any]]:
        return read_jsonl(self.metrics_path)

    def append_scores(self, record: dict[str, Any]) -> None:
        """Re-scores (`harness score`) go to their own append-only file: training records are never rewritten."""
        append_jsonl(self.scores_path, record)

    def scores(self) -> list[dict[str, Any]]:
        return read_jsonl(self.scores_path)

    def keep_metrics_through(self, epoch: int) -> None:
        """On resume: drop records of epochs past the checkpoint, which the resumed run will write again."""
        kept = [r for r in self.metrics() if r.get("epoch", 0) <= epoch]
        atomic.write_bytes(self.metrics_path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept).encode())

    def write_final(self, record: dict[str, Any]) -> None:
        atomic.write_json(self.final_path, record)

    def final(self) -> dict[str, Any] | None:
        return read_json(self.final_path) if self.final_path.exists() else None


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """One JSON line per record, fsynced: a crash leaves at most a torn last line, which read_jsonl skips."""
    line = json.dumps(record, sort_keys=True, allow_nan=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    if _ends_torn(path):
        line = "\n" + line  # a torn last line stays alone: it must not swallow this record
    with open(path, "a") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def _ends_torn(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return False
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) != b"\n"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line torn by a crash
    return out


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def job_dir(results: Path, suite: str, job_id: str) -> RunDir:
    for name in (suite, job_id):
        if not is_safe_name(name):
            raise ConfigError(f"{name!r} cannot be a results folder name; use letters, digits, '.', '_', '+', '-'")
    return RunDir(Path(results) / suite / job_id)


def iter_runs(root: Path) -> Iterator[RunDir]:
    """Every run directory (one holding spec.json) under root, in a stable order; any number of suites."""
    for spec in sorted(Path(root).rglob("spec.json")):
        yield RunDir(spec.parent)
