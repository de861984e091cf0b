"""Windows, slots, bookings, visits, leave."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import mapped_column, relationship

from app.db import UTCDateTime, new_id, one_of, utcnow
from app.extensions import db

PURPOSES = ("registration", "permit_application", "permit_delivery", "other")
CHANNELS = ("mini_program", "phone")
BOOKING_STATUSES = ("confirmed", "cancelled", "completed", "not_home")
VISIT_KINDS = ("booking", "delivery", "follow_up")
VISIT_STATUSES = ("requested", "assigned", "en_route", "completed", "not_home", "cancelled", "rescheduled")



class WindowTemplate(db.Model):
    """A weekly visit window of an area: weekday 0 = Monday."""

    __tablename__ = "window_template"
    __table_args__ = (
        sa.UniqueConstraint("area_id", "weekday", "start_time", name="uq_window_template_area_day_start"),
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        sa.CheckConstraint("capacity >= 0", name="capacity"),
        sa.CheckConstraint("end_time > start_time", name="order"),
    )
    id = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    area_id = mapped_column(sa.Uuid, sa.ForeignKey("area.id", ondelete="CASCADE"), nullable=False, index=True)
    weekday = mapped_column(sa.SmallInteger, nullable=False)
    start_time = mapped_column(sa.Time, nullable=False)
    end_time = mapped_column(sa.Time, nullable=False)
    capacity = mapped_column(sa.Integer, nullable=False)


class WindowException(db.Model):
    """A date-specific change: the whole day closed (no start), one window closed, or a window
    added or re-sized (``open`` with start, end and capacity)."""

    __tablename__ = "window_exception"
    __table_args__ = (
        sa.UniqueConstraint("area_id", "day", "start_time", name="uq_window_exception_area_day_start"),
        sa.CheckConstraint("kind IN ('closed', 'open')", name="kind"),
        sa.CheckConstraint("kind = 'closed' OR (start_time IS NOT NULL AND end_time > start_time AND capacity >= 0)",
                           name="open_window"),
    )
    id = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    area_id = mapped_column(sa.Uuid, sa.ForeignKey("area.id", ondelete="CASCADE"), nullable=False, index=True)
    day = mapped_column(sa.Date, nullable=False)
    kind = mapped_column(sa.String(8), nullable=False)
    start_time = mapped_column(sa.Time, nullable=True)
    end_time = mapped_column(sa.Time, nullable=True)
    capacity = mapped_column(sa.Integer, nullable=True)
    note = mapped_column(sa.String(200), nullable=False, default="")


class Slot(db.Model):
    """One window on one date, created when first booked. The database refuses ``booked`` above
    ``capacity``: that CHECK, with a conditional increment, is the overbooking guard."""

    __tablename__ = "slot"
    __table_args__ = (
        sa.UniqueConstraint("area_id", "day", "start_time", name="uq_slot_area_day_start"),
        sa.CheckConstraint("booked >= 0 AND booked <= capacity", name="within_capacity"),
    )
    id = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    area_id = mapped_column(sa.Uuid, sa.ForeignKey("area.id", ondelete="CASCADE"), nullable=False)
    day = mapped_column(sa.Date, nullable=False)
    start_time = mapped_column(sa.Time, nullable=False)
    end_time = mapped_column(sa.Time, nullable=False)
    capacity = mapped_column(sa.Integer, nullable=False)
    booked = mapped_column(sa.Integer, nullable=False, default=0)


class Booking(db.Model):
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


class Visit(db.Model):
    """An officer's work item at an address in a window: a booked visit, a delivery, a follow-up."""

    __tablename__ = "visit"
    __table_args__ = (
        sa.CheckConstraint(one_of("kind", VISIT_KINDS), name="kind"),
        sa.CheckConstraint(one_of("status", VISIT_STATUSES), name="status"),
        sa.Index("ix_visit_station_day", "station_id", "day"),
        sa.Index("ix_visit_officer_day", "officer_id", "day"),
    )
    id = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    kind = mapped_column(sa.String(16), nullable=False, default="booking")
    booking_id = mapped_column(sa.Uuid, sa.ForeignKey("booking.id"), nullable=True, unique=True)
    station_id = mapped_column(sa.Uuid, sa.ForeignKey("station.id"), nullable=False)
    area_id = mapped_column(sa.Uuid, sa.ForeignKey("area.id"), nullable=False)
    day = mapped_column(sa.Date, nullable=False)
    window_start = mapped_column(sa.Time, nullable=False)
    window_end = mapped_column(sa.Time, nullable=False)
    address = mapped_column(sa.String(200), nullable=False)
    status = mapped_column(sa.String(16), nullable=False, default="requested")
    officer_id = mapped_column(sa.Uuid, sa.ForeignKey("user_account.id"), nullable=True)
    assigned_at = mapped_column(UTCDateTime, nullable=True)
    outcome_note = mapped_column(sa.String(500), nullable=True)
    version = mapped_column(sa.Integer, nullable=False, default=1)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)

    booking = relationship("Booking", back_populates="visit")
    officer = relationship("User")


class TimelineEvent(db.Model):
    """What the citizen sees in 进度查询: each step of a booking and its visit, in order."""

    __tablename__ = "timeline_event"
    id = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True)
    booking_id = mapped_column(sa.Uuid, sa.ForeignKey("booking.id"), nullable=False, index=True)
    at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    action = mapped_column(sa.String(32), nullable=False)
    status = mapped_column(sa.String(16), nullable=False)
    detail = mapped_column(sa.JSON, nullable=False, default=dict)
    actor_role = mapped_column(sa.String(16), nullable=True)


class OfficerLeave(db.Model):
    __tablename__ = "officer_leave"
    __table_args__ = (sa.CheckConstraint("end_day >= start_day", name="order"),)
    id = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    officer_id = mapped_column(sa.Uuid, sa.ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False,
                               index=True)
    start_day = mapped_column(sa.Date, nullable=False)
    end_day = mapped_column(sa.Date, nullable=False)
    reason = mapped_column(sa.String(200), nullable=False, default="")
    created_by_id = mapped_column(sa.Uuid, sa.ForeignKey("user_account.id"), nullable=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
