"""Atomic file writes: temp file in the same folder, fsync, os.replace, fsync of the folder. A reader (or a run
resumed after a crash) never sees half a file: it sees the old one or the new one. No write follows a symbolic link:
temp files are new (O_EXCL), os.replace replaces a link rather than its target, and the files opened in place (locks,
appended records) are opened with O_NOFOLLOW, so a link planted in a shared results tree or cache writes nothing
outside it."""

import contextlib
import errno
import fcntl
import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from harness.core import faults
from harness.core.errors import HarnessError


class LinkRefused(HarnessError):
    """A symbolic link (or a FIFO, a device) where the harness keeps a file of its own: never written through."""


def open_own(path: Path, flags: int, mode: int = 0o644) -> int:
    """os.open of a harness file written in place (a lock, an append-only record), never through a link: one
    planted there would make the harness write wherever it points. Raises LinkRefused naming it."""
    try:  # O_NONBLOCK: a FIFO planted there must not hang the open (no effect on a regular file)
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, mode)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENXIO):
            raise _refused(path) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _refused(path)
    return fd


def _refused(path: Path) -> LinkRefused:
    kind = "a symbolic link" if os.path.islink(path) else "not a regular file"
    return LinkRefused(f"{path} is {kind}, where the harness keeps a file of its own; remove it and run again")


def write_atomic(path: Path, write: Callable[[IO[bytes]], None], previous: Path | None = None) -> None:
    """Write `path` whole or not at all. With `previous`, the file it replaces is kept there (one generation back)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            sink = _Sink(f)
            try:
                write(sink)
            except Exception:
                if sink.error is None:
                    raise
                raise sink.error from None  # the disk's own error, which torch.save turns into a RuntimeError
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


class _Sink:
    """The temp file as a writer sees it, keeping the OSError of a failed write: torch.save reports a full disk as
    "RuntimeError: [enforce fail at inline_container.cc...]", naming neither the file nor the errno."""

    def __init__(self, f: IO[bytes]):
        self.f, self.error = f, None

    def write(self, data) -> int:
        try:
            return self.f.write(data)
        except OSError as e:
            self.error = e
            raise

    def __getattr__(self, name: str):
        return getattr(self.f, name)


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


def append(path: Path, data: bytes) -> None:
    """Append `data` in one write(2) with O_APPEND (lines of concurrent appenders do not interleave), fsynced."""
    fd = open_own(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        while data:  # a regular file takes it all at once, short of a full disk
            data = data[os.write(fd, data) :]
        os.fsync(fd)
    except OSError as e:
        e.filename = e.filename or str(path)  # write(2) names no file: a full disk should
        raise
    finally:
        os.close(fd)


def touch(path: Path) -> None:
    """Create `path` if it is not there (a STOP request); an existing file is left as it is."""
    os.close(open_own(path, os.O_WRONLY | os.O_CREAT))


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (jobs, ranks, array tasks) on a shared file system; released on exit or
    when the holder dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = open_own(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
