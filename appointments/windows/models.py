"""Weekly visit windows, their date exceptions, and the seats taken in each window on a date."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import mapped_column

from app.db import new_id
from app.extensions import Model


class WindowTemplate(Model):
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


class WindowException(Model):
    """A date-specific change: the whole day closed (no start), one window closed, or a window
    added or re-sized (``open`` with start, end and capacity)."""

    __tablename__ = "window_exception"
    __table_args__ = (
        sa.UniqueConstraint("area_id", "day", "start_time", name="uq_window_exception_area_day_start"),
        sa.CheckConstraint("kind IN ('closed', 'open')", name="kind"),
        sa.CheckConstraint(
            "kind = 'closed' OR (start_time IS NOT NULL AND end_time > start_time AND capacity >= 0)",
            name="open_window",
        ),
    )
    id = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    area_id = mapped_column(sa.Uuid, sa.ForeignKey("area.id", ondelete="CASCADE"), nullable=False, index=True)
    day = mapped_column(sa.Date, nullable=False)
    kind = mapped_column(sa.String(8), nullable=False)
    start_time = mapped_column(sa.Time, nullable=True)
    end_time = mapped_column(sa.Time, nullable=True)
    capacity = mapped_column(sa.Integer, nullable=True)
    note = mapped_column(sa.String(200), nullable=False, default="")


class Slot(Model):
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
