"""The outbox's side of the scheduler: queueing messages in bulk for the jobs that select what is
due, and the job that sends what is due through the configured sender
(``app.notify.dispatcher.dispatch_due``: claims, quiet hours, rate limit, opt-outs, back-off)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from uuid import UUID

from flask import current_app

from app.bulk import insert_ignoring
from app.db import new_id, table_of
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


def outbox_row(
    kind: str,
    params: dict[str, Any],
    phone_enc: str,
    phone_bidx: str | None,
    *,
    station_id: UUID,
    dedupe_key: str,
    now: datetime,
    user_id: UUID | None = None,
    locale: str = "zh",
) -> dict[str, Any]:
    """The values of one outbox row, for a bulk insert (``outbox.enqueue`` adds one ORM object at a
    time). The ciphertext and blind index are the stored ones of the resident or account."""
    return {
        "id": new_id(),
        "kind": kind,
        "template": kind,
        "params": params,
        "locale": locale,
        "recipient_phone_enc": phone_enc,
        "recipient_bidx": phone_bidx,
        "recipient_user_id": user_id,
        "station_id": station_id,
        "due_at": now,
        "next_attempt_at": now,
        "status": "pending",
        "attempts": 0,
        "dedupe_key": dedupe_key,
        "created_at": now,
    }


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
