"""The outbox's side of the scheduler: queueing messages in bulk for the jobs that select what is
due, and the job that sends what is due through the configured sender
(``app.notify.dispatcher.dispatch_due``: claims, quiet hours, rate limit, opt-outs, back-off)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from flask import current_app

from app.bulk import insert_ignoring
from app.db import table_of
from app.notify.dispatcher import dispatch_due
from app.notify.models import Notification
from app.scheduler import job

# One tick drains a backlog batch after batch for at most this long, then leaves the rest to the
# next tick: a long outage's catch-up goes out at the sender's pace, and the scheduler's other
# jobs and its shutdown never wait on one endless run.
TICK_BUDGET_SECONDS = 50
# What ``dispatch_due`` did with the rows it took from the queue (the sweep's counts are not rows taken).
TAKEN = ("sent", "failed", "dead", "skipped", "deferred_quiet", "deferred_rate", "released")


# --- queueing in bulk, for the jobs that select what is due ---------------------------------------


def enqueue_absent(rows: list[dict[str, Any]]) -> int:
    """Insert outbox rows whose dedupe key is not there yet; returns how many were new."""
    return insert_ignoring(table_of(Notification), rows, ["dedupe_key"])


# --- sending ---------------------------------------------------------------------------------------


@job("notify.dispatch", every="DISPATCH_INTERVAL_SECONDS")
def dispatch(now: datetime) -> dict[str, Any]:
    batch = current_app.config["DISPATCH_BATCH"]
    totals: dict[str, int] = {}
    stop = time.monotonic() + TICK_BUDGET_SECONDS
    while True:
        result = dispatch_due(batch=batch) or {}
        for key, value in result.items():
            if isinstance(value, int) and not isinstance(value, bool) and value:
                totals[key] = totals.get(key, 0) + value
        taken = sum(int(result.get(key, 0)) for key in TAKEN)
        # A short batch means the queue is empty; ``released`` means the claim ran out of time.
        if taken < batch or result.get("released") or time.monotonic() > stop:
            return totals
