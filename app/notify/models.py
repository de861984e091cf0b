from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import mapped_column

from app.db import UTCDateTime, new_id, utcnow
from app.extensions import db

STATUSES = ("pending", "sending", "sent", "failed", "dead", "unknown")


class Notification(db.Model):
    """One message to one recipient. ``dedupe_key`` makes "send this once" a database fact."""

    __tablename__ = "notification"
    __table_args__ = (
        sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed', 'dead', 'unknown')", name="status"),
        sa.Index("ix_notification_due", "status", "due_at"),
    )
    id = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    kind = mapped_column(sa.String(32), nullable=False)
    station_id = mapped_column(sa.Uuid, sa.ForeignKey("station.id"), nullable=True, index=True)
    recipient_user_id = mapped_column(sa.Uuid, sa.ForeignKey("user_account.id"), nullable=True)
    recipient_phone_enc = mapped_column(sa.Text, nullable=True)
    template = mapped_column(sa.String(64), nullable=False)
    params = mapped_column(sa.JSON, nullable=False, default=dict)
    locale = mapped_column(sa.String(8), nullable=False, default="zh")
    due_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    status = mapped_column(sa.String(16), nullable=False, default="pending")
    attempts = mapped_column(sa.Integer, nullable=False, default=0)
    sender = mapped_column(sa.String(32), nullable=True)
    provider_message_id = mapped_column(sa.String(128), nullable=True)
    last_error = mapped_column(sa.Text, nullable=True)
    dedupe_key = mapped_column(sa.String(160), unique=True, nullable=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    sent_at = mapped_column(UTCDateTime, nullable=True)
