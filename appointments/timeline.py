"""The progress timeline of a booking and its visit, written by booking and dispatch alike."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import mapped_column

from app.db import UTCDateTime, utcnow
from app.extensions import Model


class TimelineEvent(Model):
    """What the citizen sees in 进度查询: each step of a booking and its visit, in order."""

    __tablename__ = "timeline_event"
    id = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True)
    booking_id = mapped_column(sa.Uuid, sa.ForeignKey("booking.id"), nullable=False, index=True)
    at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    action = mapped_column(sa.String(32), nullable=False)
    status = mapped_column(sa.String(16), nullable=False)
    detail = mapped_column(sa.JSON, nullable=False, default=dict)
    actor_role = mapped_column(sa.String(16), nullable=True)
