from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import mapped_column

from app.db import UTCDateTime, utcnow
from app.extensions import Model


class CalendarDay(Model):
    """A date staff declared: a holiday, or a working day (an adjusted weekend)."""

    __tablename__ = "calendar_day"
    day = mapped_column(sa.Date, primary_key=True)
    is_workday = mapped_column(sa.Boolean, nullable=False)
    name = mapped_column(sa.String(64), nullable=False, default="")
    created_by_id = mapped_column(sa.Uuid, sa.ForeignKey("user_account.id"), nullable=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
