"""Signals that mean "checkpoint and stop": SLURM's warning before the time limit (USR1), preemption (TERM) and
Ctrl-C (INT; a second Ctrl-C interrupts at once)."""

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

STOP_SIGNALS = (signal.SIGUSR1, signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def on_stop_signals(request: Callable[[], None]) -> Iterator[None]:
    """Call `request` on the first stop signal; handlers are restored on exit. Only the main thread can own
    signal handlers, so elsewhere (a test's worker thread) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}

    def handler(signum, frame):
        if signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)  # the second Ctrl-C stops without waiting
        request()

    for sig in STOP_SIGNALS:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
