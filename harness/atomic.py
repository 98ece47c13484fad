"""Atomic file writes: temp file in the same folder, fsync, os.replace, fsync of the folder. A reader (or a run
resumed after a crash) never sees half a file: it sees the old one or the new one."""

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from harness import faults


def write_atomic(path: Path, write: Callable[[IO[bytes]], None], previous: Path | None = None) -> None:
    """Write `path` whole or not at all. With `previous`, the file it replaces is kept there (one generation back)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if previous is not None and path.exists():
            os.replace(path, previous)  # a crash right after this leaves `previous` as the newest complete file
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and e.filename is None:
            e.filename = str(path)  # write(2) errors (a full disk) name no file: the message should
        raise


def fsync_dir(folder: Path) -> None:
    """Make a rename durable: without it a power loss can bring back the old name (ext4, XFS)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(path: Path, data: bytes, previous: Path | None = None) -> None:
    def write(f: IO[bytes]) -> None:
        half = len(data) // 2
        f.write(data[:half])
        f.flush()
        faults.point(f"write:{path.name}")  # the crash tests kill the process here, mid-file
        f.write(data[half:])

    write_atomic(path, write, previous)


def remove_stale_temps(folder: Path) -> None:
    """Temp files a killed writer left behind; never read, only removed (by the one process holding the job)."""
    for tmp in Path(folder).rglob(".*.tmp"):  # snapshots/ and samples/ too
        tmp.unlink(missing_ok=True)


def write_json(path: Path, obj: Any) -> None:
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n").encode())


def save_torch(path: Path, obj: Any) -> None:
    import torch

    write_atomic(path, lambda f: torch.save(obj, f))


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (jobs, ranks, array tasks) on a shared file system; released on exit or
    when the holder dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
