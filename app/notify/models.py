"""Outgoing messages: an outbox table written with the change that causes it, and its senders."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import mapped_column

from app.db import UTCDateTime, new_id, utcnow
from app.extensions import Model

# pending → sending → sent; sending → failed → (retried) … → dead after the last attempt;
# sending whose lease ran out with no answer → unknown (the provider may or may not have sent it);
# skipped: deliberately not sent (``skip_reason`` says why, e.g. the recipient opted out).
STATUSES = ("pending", "sending", "sent", "failed", "dead", "unknown", "skipped")
CLAIMABLE = ("pending", "failed")
# Why a row is waiting or was not sent; kept on the row so the outbox shows it.
SKIP_REASONS = ("quiet-hours", "rate-limited", "opted-out")


class Notification(Model):
    """One message to one recipient. ``dedupe_key`` makes "send this once" a database fact."""

    __tablename__ = "notification"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed', 'dead', 'unknown', 'skipped')", name="status"
        ),
        sa.CheckConstraint("status != 'sending' OR lease_until IS NOT NULL", name="sending_has_lease"),
        # The dispatcher's claim: due rows by when they may go next (``next_attempt_at`` starts at
        # ``due_at`` and only moves later, so no index on ``due_at`` is needed).
        sa.Index("ix_notification_ready", "status", "next_attempt_at"),
        # The station's outbox, newest first.
        sa.Index("ix_notification_station_created", "station_id", "created_at"),
        # The per-recipient rate limit counts claims (``claimed_at > now - window``), so only claimed
        # messages are indexed: queueing one (a bulk job queues thousands) writes nothing here.
        sa.Index(
            "ix_notification_recipient_claimed",
            "recipient_bidx",
            "claimed_at",
            sqlite_where=sa.text("claimed_at IS NOT NULL"),
            postgresql_where=sa.text("claimed_at IS NOT NULL"),
        ),
    )
    id = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    kind = mapped_column(sa.String(32), nullable=False)
    # Not foreign keys: stations and accounts are deactivated, never deleted, so the constraint
    # would guard nothing, and on PostgreSQL it costs every queued row a locking look-up of its
    # station — a third of a bulk job's queueing time (docs/decisions.md #46).
    station_id = mapped_column(sa.Uuid, nullable=True)
    recipient_user_id = mapped_column(sa.Uuid, nullable=True)
    recipient_phone_enc = mapped_column(sa.Text, nullable=True)
    # Blind index of the recipient's phone: opt-outs and the per-recipient rate limit are looked
    # up by it, so deciding whether to send never decrypts a number.
    recipient_bidx = mapped_column(sa.String(64), nullable=True)
    template = mapped_column(sa.String(64), nullable=False)
    params = mapped_column(sa.JSON, nullable=False, default=dict)
    locale = mapped_column(sa.String(8), nullable=False, default="zh")
    due_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    status = mapped_column(sa.String(16), nullable=False, default="pending")
    attempts = mapped_column(sa.Integer, nullable=False, default=0)
    # Not before this time: the back-off after a failure, the end of quiet hours, a rate-limit wait.
    next_attempt_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    # The current claim: who holds the row (a random token per dispatcher batch) and until when.
    claim_token = mapped_column(sa.String(32), nullable=True)
    claimed_at = mapped_column(UTCDateTime, nullable=True)
    lease_until = mapped_column(UTCDateTime, nullable=True)
    skip_reason = mapped_column(sa.String(16), nullable=True)
    sender = mapped_column(sa.String(32), nullable=True)
    provider_message_id = mapped_column(sa.String(128), nullable=True)
    last_error = mapped_column(sa.Text, nullable=True)
    dedupe_key = mapped_column(sa.String(160), unique=True, nullable=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    sent_at = mapped_column(UTCDateTime, nullable=True)


class SmsOptOut(Model):
    """A phone number that receives no notices (one-time codes still go: the person asked).

    Keyed by the phone's blind index, so the list holds no number in any form."""

    __tablename__ = "sms_opt_out"
    __table_args__ = (sa.CheckConstraint("source IN ('citizen', 'staff')", name="source"),)
    phone_bidx = mapped_column(sa.String(64), primary_key=True)
    source = mapped_column(sa.String(16), nullable=False)
    created_by_id = mapped_column(sa.Uuid, sa.ForeignKey("user_account.id"), nullable=True)
    station_id = mapped_column(sa.Uuid, sa.ForeignKey("station.id"), nullable=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
