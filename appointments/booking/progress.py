"""进度查询 of a booking for someone holding only its reference (no account session): the booking
a reference names, the phone on file a code goes to, and its progress with nothing personal in it
(no name, address, phone or officer), for the citizens' H5 (citizen/progress.py)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app import pii
from app.extensions import db
from appointments.booking import reference as references
from appointments.booking.models import Booking
from appointments.timeline import TimelineEvent


def find(stored: str) -> Booking | None:
    """The booking with this stored (eight-character) reference, if any."""
    return db.session.execute(sa.select(Booking).where(Booking.reference == stored)).scalar_one_or_none()


def phone_on_file(booking: Booking) -> str | None:
    """The contact number given with the booking: the phone a progress code is sent to."""
    return pii.decrypt(pii.PHONE, booking.contact_phone_enc)


def progress(booking: Booking) -> dict[str, Any]:
    """Where the booking stands and each step so far, oldest first."""
    events = db.session.execute(
        sa.select(TimelineEvent.at, TimelineEvent.status)
        .where(TimelineEvent.booking_id == booking.id)
        .order_by(TimelineEvent.id)
    ).all()
    visit = booking.visit
    return {
        "kind": "booking",
        "reference": references.display(booking.reference),
        "status": visit.status if visit is not None and booking.status == "confirmed" else booking.status,
        "day": booking.day,
        "window_start": booking.window_start,
        "window_end": booking.window_end,
        "steps": [{"at": at, "status": status} for at, status in events],
    }
