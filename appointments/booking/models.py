"""Bookings: a citizen's (or a caller's) seat in a visit window."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import mapped_column, relationship

from app.db import UTCDateTime, new_id, one_of, utcnow
from app.extensions import Model

PURPOSES = ("registration", "permit_application", "permit_delivery", "other")
CHANNELS = ("mini_program", "phone")
BOOKING_STATUSES = ("confirmed", "cancelled", "completed", "not_home")


class Booking(Model):
    __tablename__ = "booking"
    __table_args__ = (
        sa.UniqueConstraint("created_by_id", "idempotency_key", name="uq_booking_idempotency"),
        sa.CheckConstraint(one_of("purpose", PURPOSES), name="purpose"),
        sa.CheckConstraint(one_of("channel", CHANNELS), name="channel"),
        sa.CheckConstraint(one_of("status", BOOKING_STATUSES), name="status"),
        sa.Index("ix_booking_station_day", "station_id", "day"),
    )
    id = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    reference = mapped_column(sa.String(8), unique=True, nullable=False)
    station_id = mapped_column(sa.Uuid, sa.ForeignKey("station.id"), nullable=False)
    area_id = mapped_column(sa.Uuid, sa.ForeignKey("area.id"), nullable=False)
    slot_id = mapped_column(sa.Uuid, sa.ForeignKey("slot.id"), nullable=False, index=True)
    day = mapped_column(sa.Date, nullable=False)
    window_start = mapped_column(sa.Time, nullable=False)
    window_end = mapped_column(sa.Time, nullable=False)
    purpose = mapped_column(sa.String(24), nullable=False)
    channel = mapped_column(sa.String(16), nullable=False)
    citizen_id = mapped_column(sa.Uuid, sa.ForeignKey("user_account.id"), nullable=True, index=True)
    created_by_id = mapped_column(sa.Uuid, sa.ForeignKey("user_account.id"), nullable=False)
    address = mapped_column(sa.String(200), nullable=False)
    contact_name = mapped_column(sa.String(50), nullable=False)
    contact_phone_enc = mapped_column(sa.Text, nullable=False)
    caller_name = mapped_column(sa.String(50), nullable=True)
    caller_phone_enc = mapped_column(sa.Text, nullable=True)
    notes = mapped_column(sa.String(500), nullable=False, default="")
    locale = mapped_column(sa.String(8), nullable=False, default="zh")
    status = mapped_column(sa.String(16), nullable=False, default="confirmed")
    # "<citizen>:<purpose>" while the booking is open, NULL after: one open booking per purpose.
    active_key = mapped_column(sa.String(80), unique=True, nullable=True)
    idempotency_key = mapped_column(sa.String(100), nullable=False)
    request_hash = mapped_column(sa.String(64), nullable=False)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)

    visit = relationship("Visit", back_populates="booking", uselist=False)
    events = relationship("TimelineEvent", order_by="TimelineEvent.id", viewonly=True)
