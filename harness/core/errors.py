"""Errors a user can act on: each carries one line of explanation and the exit code the CLI returns."""

import errno


class HarnessError(Exception):
    """A failure with a one-line, user-facing message. Runtime problems exit 1."""

    exit_code = 1


class ConfigError(HarnessError):
    """The suite or the command line is wrong (usage error, exit 2)."""

    exit_code = 2


class DataError(HarnessError):
    """Images are missing or unreadable."""


class EvalError(HarnessError):
    """Scoring cannot run (e.g. no Inception weights)."""


class Damaged(HarnessError):
    """A run record that is not what the harness writes (unreadable, edited, another job's): that job is left out
    and named; every other job goes on."""

    def __init__(self, path, problem: str, fix: str):
        super().__init__(f"{path}: {problem}; {fix}")
        self.path, self.problem, self.fix = path, problem, fix


class DiskError(HarnessError):
    """The disk refused a write or a read: full, over quota, read-only, not permitted."""


DISK_FULL = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}
PATH_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR, errno.ENOENT, errno.EEXIST}


def explain_os_error(e: OSError) -> DiskError | None:
    """An OSError from the file system as one line naming the file and the fix; None for anything else (a bug)."""
    if e.errno in DISK_FULL:
        where = f" writing {e.filename}" if e.filename else ""
        return DiskError(f"{DISK_FULL[e.errno]}{where}; free space and run again (jobs resume from their checkpoints)")
    if e.errno in PATH_ERRNOS and e.filename:
        return DiskError(f"{e.strerror}: {e.filename}; check the path and its permissions (--results, --data-root)")
    return None
