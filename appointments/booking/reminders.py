"""The evening-before reminder, one per visit per date. The scheduler calls this each tick;
the dedupe key makes a repeated or overlapping run harmless."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from app.extensions import db
from app.notify.models import Notification
from appointments.booking.models import Booking
from appointments.dispatch import services as dispatch
from appointments.notices import notify, reminder_dedupe_key


def enqueue_evening_reminders(day: date) -> int:
    """Queue reminders for the open booked visits of ``day`` that have none yet; returns how many."""
    visits = dispatch.open_visits_on(day).subquery()
    rows = db.session.execute(
        sa.select(visits.c.id, Booking)
        .join(Booking, Booking.id == visits.c.booking_id)
        .where(Booking.status == "confirmed")
    ).all()
    keys = {reminder_dedupe_key(visit_id, day): b for visit_id, b in rows}
    existing = (
        set(
            db.session.execute(
                sa.select(Notification.dedupe_key).where(Notification.dedupe_key.in_(list(keys)))
            ).scalars()
        )
        if keys
        else set()
    )
    queued = 0
    for key, booking in keys.items():
        if key not in existing:
            notify("visit_reminder", booking, key)  # written with the others at commit
            queued += 1
    db.session.flush()
    return queued
