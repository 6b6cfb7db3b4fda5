"""Ctrl-C, seen even where a library turns it into an exit of its own.

Lightning catches ``KeyboardInterrupt`` in ``Trainer.fit`` / ``predict``, tears down and calls
``exit(1)``; :func:`recording_interrupts` notes the SIGINT first, so the command can still end
with exit 130 and ``interrupted`` like every other.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Iterator

_seen = threading.Event()


def interrupted() -> bool:
    """Whether a SIGINT arrived while :func:`recording_interrupts` was active."""
    return _seen.is_set()


@contextlib.contextmanager
def recording_interrupts() -> Iterator[None]:
    """Note every SIGINT, then handle it as before (a ``KeyboardInterrupt``)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def record(signum: int, frame: Any) -> None:
        _seen.set()
        if previous == signal.SIG_IGN:
            return
        if callable(previous):
            previous(signum, frame)
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, record)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
