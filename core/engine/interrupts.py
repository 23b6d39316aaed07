"""Ctrl-C between two chunks of MD, not in the middle of one: the stage driver commits a checkpoint where the run
stands and then stops, so an interrupted stage resumes from that step rather than from its last periodic checkpoint
(or its start). A second Ctrl-C stops at once, as Ctrl-C always does.

Only the main thread can receive signals; elsewhere (a Dask worker's thread, a test's) nothing changes."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class InterruptRequest:
    """Set by the first Ctrl-C while a :func:`deferred_interrupt` block runs."""

    def __init__(self) -> None:
        self.requested = False


@contextmanager
def deferred_interrupt() -> Iterator[InterruptRequest]:
    request = InterruptRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: FrameType | None) -> None:
        if request.requested:  # the second Ctrl-C: stop now
            raise KeyboardInterrupt
        request.requested = True

    signal.signal(signal.SIGINT, handler)
    try:
        yield request
    finally:
        signal.signal(signal.SIGINT, previous)
