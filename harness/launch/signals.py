"""Signals that mean "checkpoint and stop": SLURM's warning before the time limit (USR1), preemption (TERM) and
Ctrl-C (INT; a second Ctrl-C interrupts at once, as a KeyboardInterrupt)."""

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


def by_ctrl_c(e: BaseException | None) -> bool:
    """Whether an exception is a KeyboardInterrupt or was raised while one was handled: Typer turns Ctrl-C into a
    silent SystemExit(130), and a Ctrl-C while the first one unwinds raises inside its handling."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False
