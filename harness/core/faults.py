"""Fault injection for the crash tests. HARNESS_FAULT=<point>:<n> kills this process with SIGKILL (no cleanup, no
atexit, like the OOM killer or a lost node) the n-th time it passes <point>. Unset, `point` is a dictionary lookup."""

import os
import signal
from collections import Counter

_passed: Counter = Counter()


def armed(name: str) -> bool:
    """Whether HARNESS_FAULT names this point (writers split a write in two only then, to die in its middle)."""
    fault = os.environ.get("HARNESS_FAULT")
    return bool(fault) and fault.rpartition(":")[0] == name


def point(name: str) -> None:
    """Die here if HARNESS_FAULT names this point and this is the n-th pass. Points: `step` (after a training
    step), `eval` (scores computed, not yet recorded), `write:<file>` (half the bytes written), `append:<file>`."""
    if not armed(name):
        return
    _passed[name] += 1
    if _passed[name] == int(os.environ["HARNESS_FAULT"].rpartition(":")[2]):
        os.kill(os.getpid(), signal.SIGKILL)
