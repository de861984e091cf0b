"""Sync housekeeping run by the scheduler's leader."""

from __future__ import annotations

from datetime import datetime

from flask import current_app

from app.scheduler import job
from sync import feed


@job("sync.prune_tombstones", every=6 * 3600)
def prune_tombstones(now: datetime) -> dict[str, int]:
    """Evicts and deletes older than the retention are dropped; a tablet whose cursor predates
    them pulls its scope again from scratch (``reset``) instead of missing a removal."""
    return {"pruned": feed.prune(current_app.config["SYNC_TOMBSTONE_DAYS"])}
