"""Visits, the officers' work items, and officers' leave."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import mapped_column, relationship

from app.db import UTCDateTime, new_id, one_of, utcnow
from app.extensions import Model

VISIT_KINDS = ("booking", "delivery", "follow_up")
VISIT_STATUSES = ("requested", "assigned", "en_route", "completed", "not_home", "cancelled", "rescheduled")


class Visit(Model):
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


class OfficerLeave(Model):
    __tablename__ = "officer_leave"
    __table_args__ = (sa.CheckConstraint("end_day >= start_day", name="order"),)
    id = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    officer_id = mapped_column(
        sa.Uuid, sa.ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False, index=True
    )
    start_day = mapped_column(sa.Date, nullable=False)
    end_day = mapped_column(sa.Date, nullable=False)
    reason = mapped_column(sa.String(200), nullable=False, default="")
    created_by_id = mapped_column(sa.Uuid, sa.ForeignKey("user_account.id"), nullable=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
