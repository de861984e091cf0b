"""gunicorn.conf.py's worker hook: what a worker built at start-up leaves the collector's sight,
and what it makes afterwards is still collected."""

from __future__ import annotations

import gc
import runpy
import weakref
from pathlib import Path

CONF = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_a_worker_freezes_what_it_built_at_start_up():
    hooks = runpy.run_path(str(CONF))
    assert gc.get_freeze_count() == 0
    try:
        hooks["post_worker_init"](None)
        assert gc.get_freeze_count() > 0
        later = Node()
        gone = weakref.ref(later)
        del later
        gc.collect()
        assert gone() is None  # a request's garbage is collected as before
    finally:
        gc.unfreeze()
