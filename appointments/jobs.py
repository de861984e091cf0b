"""Appointments' scheduled job: the evening-before visit reminder."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app

from app.scheduler import job
from app.workdays import LOCAL_TZ
from appointments.booking.services import enqueue_evening_reminders


@job("appointments.evening_reminders")
def evening_reminders(now: datetime) -> dict | None:
    """From ``DOORSTEP_EVENING_REMINDER_HOUR`` (local) every tick queues the reminders of
    tomorrow's visits that have none: a visit booked at 20:00 for tomorrow is still reminded, and
    the dedupe key (one per visit per date) keeps a repeated tick from doubling any. A scheduler
    down for the whole evening sends no reminder for that night: the next morning, "tomorrow"
    would be wrong."""
    local = now.astimezone(LOCAL_TZ)
    if local.hour < current_app.config["EVENING_REMINDER_HOUR"]:
        return None
    return {"visit_reminders": enqueue_evening_reminders(local.date() + timedelta(days=1))}
