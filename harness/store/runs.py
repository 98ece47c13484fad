"""The results layout: results/<suite>/<job_id>/ holds spec.json, status.json, metrics.jsonl, scores.jsonl
(re-scores), final.json, samples/, snapshots/ (G at scored epochs), checkpoint.pt (with checkpoint.prev.pt, the one
before), run.log and, while a stop is asked for, STOP. Every file is written atomically; the .jsonl files are
appended to, and a resume moves records past its checkpoint to metrics.dropped.jsonl. One process
at a time holds a job (RunDir.claim)."""

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config.specs import JobSpec, is_safe_name
from harness.core import atomic, faults
from harness.core.errors import ConfigError, Damaged, DiskError, HarnessError
from harness.store import records

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
INTERRUPTED = "interrupted"  # stopped on request (SLURM's warning signal, preemption, Ctrl-C) after a checkpoint
DIVERGED = "diverged"  # stopped early on a NaN/Inf loss or exploding D outputs: a result, not a failure to rerun
FINISHED = (DONE, DIVERGED)  # states a rerun leaves alone
DAMAGED = "damaged"  # not a recorded state: a run whose records cannot be read or are not its job's (records.py)

log = logging.getLogger(__name__)


class JobBusy(HarnessError):
    """Another live process holds this job (two array tasks or two `harness run`s given the same job)."""

    exit_code = 73  # EX_CANTCREAT: the run folder is another process's; `harness run-job` exits with it


class RunDir:
    """A run folder. Every record is read back through it, validated (harness/store/records.py): a file the harness did
    not write as it stands raises Damaged naming it. With `job_id` (the folder of that job in a results tree), the
    records must also be that job's."""

    def __init__(self, path: Path, job_id: str | None = None):
        self.path = Path(path)
        self.job_id = job_id

    spec_path = property(lambda self: self.path / "spec.json")
    status_path = property(lambda self: self.path / "status.json")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    final_path = property(lambda self: self.path / "final.json")
    checkpoint_path = property(lambda self: self.path / "checkpoint.pt")
    previous_checkpoint_path = property(lambda self: self.path / "checkpoint.prev.pt")  # fallback if the newest is bad
    samples_dir = property(lambda self: self.path / "samples")
    scores_path = property(lambda self: self.path / "scores.jsonl")
    snapshots_dir = property(lambda self: self.path / "snapshots")
    stop_path = property(lambda self: self.path / "STOP")  # a launcher asks the job's ranks to checkpoint and stop
    log_path = property(lambda self: self.path / "run.log")  # output of a job run in its own process
    lock_path = property(lambda self: self.path / ".lock")

    @contextlib.contextmanager
    def claim(self) -> Iterator[None]:
        """Hold this job for this process, or raise JobBusy naming the holder. An flock: the kernel drops it when
        the holder exits or dies (SIGKILL, OOM), so a dead holder never leaves a stale lock; on NFS the server
        frees it when the dead client's lease expires. Temp files a killed writer left are cleared on taking it.
        A link planted as .lock is refused (atomic.LinkRefused): the holder's name is written into the lock."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd = atomic.open_own(self.lock_path, os.O_RDWR | os.O_CREAT)
        try:
            if _lock(fd, self.lock_path):
                os.ftruncate(fd, 0)
                os.write(
                    fd, json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}).encode()
                )
                atomic.remove_stale_temps(self.path)
            else:
                raise JobBusy(f"{self.path.name} is already running ({_holder(fd)}); not started twice")
            yield
        finally:
            os.close(fd)  # releases the lock; the file stays (unlinking a lock file races with the next taker)

    def write_spec(self, spec: JobSpec) -> None:
        atomic.write_json(self.spec_path, {"job_id": spec.job_id, **spec.to_dict()})

    def spec(self) -> JobSpec:
        if (data := self._bytes(self.spec_path)) is None:
            raise Damaged(self.spec_path, "missing", "`harness run` writes it again from the suite")
        raw = records.parse_json(self.spec_path, data)
        d = records.check_spec(self.spec_path, raw, self.job_id or raw.get("job_id"))
        try:
            return JobSpec.from_dict(d)
        except (KeyError, TypeError, ValueError) as e:  # a spec of another harness version, or hand-made
            problem = f"not a job spec this version reads ({type(e).__name__}: {e})"
            raise records.damaged(self.spec_path, problem) from None

    def status(self) -> dict[str, Any]:
        data = self._bytes(self.status_path)
        if data is None:
            return {"state": PENDING}
        return records.check_status(self.status_path, records.parse_json(self.status_path, data))

    @property
    def state(self) -> str:
        return self.status()["state"]

    def _bytes(self, path: Path, missing: bytes | None = None) -> bytes | None:
        """A record's bytes; `missing` when there is none. A file that cannot be read (a folder in its place, a link
        loop, an I/O error) damages this job alone."""
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return missing
        except OSError as e:
            if e.errno in (errno.ENOTDIR, errno.EACCES, errno.EPERM):  # the results path, not this record
                raise
            raise records.damaged(path, f"unreadable ({e.strerror})") from None

    def set_status(self, state: str, **extra: Any) -> None:
        record = {"state": state, "time": time.time(), "host": socket.gethostname(), "pid": os.getpid(), **extra}
        atomic.write_json(self.status_path, record)

    def append_metrics(self, record: dict[str, Any]) -> None:
        append_jsonl(self.metrics_path, record)

    def metrics(self) -> list[dict[str, Any]]:
        return records.parse_jsonl(self.metrics_path, self._bytes(self.metrics_path, b""), records.check_metric)

    def append_scores(self, record: dict[str, Any]) -> None:
        """Re-scores (`harness score`) go to their own append-only file: training records are never rewritten."""
        append_jsonl(self.scores_path, record)

    def scores(self) -> list[dict[str, Any]]:
        return records.parse_jsonl(self.scores_path, self._bytes(self.scores_path, b""), records.check_scores)

    def keep_metrics_through(self, epoch: int) -> None:
        """On resume: drop records of epochs past the checkpoint, which the resumed run will write again. What is
        dropped is kept in metrics.dropped.jsonl (all of it, when no checkpoint was usable and training restarts)."""
        records = self.metrics()
        kept = [r for r in records if r.get("epoch", 0) <= epoch]
        for record in (r for r in records if r.get("epoch", 0) > epoch):
            append_jsonl(self.path / "metrics.dropped.jsonl", {**record, "dropped_at": time.time()})
        # rewritten even when nothing is dropped: that also clears a line torn by the crash being recovered from
        atomic.write_bytes(self.metrics_path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept).encode())

    def write_final(self, record: dict[str, Any]) -> None:
        atomic.write_json(self.final_path, record)

    def final(self) -> dict[str, Any] | None:
        data = self._bytes(self.final_path)
        if data is None:
            return None
        final = records.parse_json(self.final_path, data)
        return records.check_final(self.final_path, final, self.job_id or final.get("job_id"))

    def read(self) -> "Record":
        """Every record of the run, validated; raises Damaged for the first file that fails."""
        return Record(self, self.spec(), self.status(), self.final(), self.metrics(), self.scores())

    @property
    def finished(self) -> bool:
        """Done or diverged, with the final record that says so (a status without it is re-finished)."""
        return self.state in FINISHED and self.final_path.exists()


@dataclass(frozen=True)
class Record:
    """One run's records as read and validated, for the report and the status view."""

    run: RunDir
    spec: JobSpec
    status: dict[str, Any]
    final: dict[str, Any] | None
    metrics: list[dict[str, Any]]
    scores: list[dict[str, Any]]


def _lock(fd: int, path: Path) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as e:  # a file system without locks (NFS without lockd, Lustre without -o flock)
        if e.errno not in (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP):
            raise
        log.warning("%s: this file system has no file locks; two processes given this job would both run it", path)
    return True


def _holder(fd: int) -> str:
    try:
        who = json.loads(os.pread(fd, 4096, 0))
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(who["since"]))
        return f"on {who['host']}, pid {who['pid']}, since {since}"
    except (ValueError, KeyError, TypeError):
        return "by another process"  # it has the lock but has not written its name yet


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """One JSON line per record, fsynced: a crash leaves at most a torn last line, which read_jsonl skips."""
    line = json.dumps(record, sort_keys=True, allow_nan=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    if _ends_torn(path):
        line = "\n" + line  # a torn last line stays alone: it must not swallow this record
    if faults.armed(point := f"append:{path.name}"):  # the crash tests kill the process mid-line
        atomic.append(path, line[: len(line) // 2].encode())
        faults.point(point)
        line = line[len(line) // 2 :]
    atomic.append(path, line.encode())  # never through a link; one write(2) with O_APPEND, fsynced


def _ends_torn(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return False
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) != b"\n"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """A JSONL file the harness keeps outside run folders (the SLURM submissions); torn lines skipped."""
    return records.parse_jsonl(path, path.read_bytes()) if path.exists() else []


def check_writable(folder: Path) -> None:
    """Refuse, in one line, a results folder that cannot take a run's records (under a file, read-only, not
    ours). Creates nothing: the nearest folder that exists is tried."""
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    try:
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"{existing} is a file, not a folder")
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as e:
        raise DiskError(f"cannot write results to {folder}: {e.strerror}; pass a writable --results") from None


RESOLVED_GLOB = "suite.resolved.*.yaml"


def write_resolved(results: Path, suite: str, text: str) -> Path:
    """RESULTS/<suite>/suite.resolved.<hash>.yaml: a suite run with --set, as run. Named by its content, so runs
    with other overrides keep theirs beside it and the same overrides twice write one file."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    path = Path(results) / suite / RESOLVED_GLOB.replace("*", digest)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(path, text.encode())
    return path


def state_of(run: RunDir) -> str:
    """The job's state for a listing (plan, dry runs): DAMAGED instead of an error when its status is unreadable."""
    try:
        return run.state
    except Damaged:
        return DAMAGED


def run_folders(results: Path, suite: str) -> set[str]:
    """The names in a suite's results folder, listed once: in a large suite, the jobs never started need no reads
    (a job without a folder is pending)."""
    try:
        return set(os.listdir(Path(results) / suite))
    except FileNotFoundError:
        return set()


def job_dir(results: Path, suite: str, job_id: str) -> RunDir:
    for name in (suite, job_id):
        if not is_safe_name(name):
            raise ConfigError(f"{name!r} cannot be a results folder name; use letters, digits, '.', '_', '+', '-'")
    return RunDir(Path(results) / suite / job_id, job_id)


def iter_runs(root: Path) -> Iterator[RunDir]:
    """Every run directory (one holding spec.json) under root, in a stable order; any number of suites. In a
    results tree a run folder is named by its job's id, and its records must be that job's."""
    for spec in sorted(Path(root).rglob("spec.json")):
        yield RunDir(spec.parent, spec.parent.name)


def read_runs(root: Path) -> tuple[list[Record], list[tuple[RunDir, Damaged]]]:
    """Every run under root, read and validated: the intact ones, and the damaged ones with what is wrong."""
    intact, damaged = [], []
    for run in iter_runs(root):
        try:
            intact.append(run.read())
        except Damaged as e:
            damaged.append((run, e))
    return intact, damaged
