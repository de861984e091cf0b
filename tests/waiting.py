"""Waiting for another thread or process without assuming how fast it is."""

from __future__ import annotations

import threading
import time


def eventually(predicate, timeout: float = 10.0, step: float = 0.05):
    """``predicate()``'s first truthy value within ``timeout`` seconds, else its last value.

    For state another process owns (a database row, a lock file, a child's exit) no event can
    reach this one, so it is looked at every ``step`` seconds; the wait ends as soon as the state
    is there, and a slow machine only makes it longer, never wrong. Waits are timed on the
    monotonic clock, which neither a pinned test clock nor time-machine moves."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()  # never set: a timed wait that no clock travel can shorten
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        pause.wait(min(step, max(0.0, deadline - time.monotonic())))
