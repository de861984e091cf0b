"""Credential tables. Secrets are stored only as hashes or encrypted."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import mapped_column, relationship

from app.db import UTCDateTime, new_id, utcnow
from app.extensions import Model

DEVICE_STATUSES = ("pending", "active", "retired", "lost")


class SigningKey(Model):
    """ES256 keys for access tokens and server credentials; private halves wrapped by the secret key."""

    __tablename__ = "signing_key"
    kid = mapped_column(sa.String(32), primary_key=True)
    private_key_enc = mapped_column(sa.Text, nullable=False)
    public_jwk = mapped_column(sa.JSON, nullable=False)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    retired_at = mapped_column(UTCDateTime, nullable=True)


class RefreshToken(Model):
    """One link of a rotation chain; ``family_id`` ties every token descended from one login."""

    __tablename__ = "refresh_token"
    id = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    family_id = mapped_column(sa.Uuid, nullable=False, index=True)
    user_id = mapped_column(sa.Uuid, sa.ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False, index=True)
    device_id = mapped_column(sa.Uuid, sa.ForeignKey("device.id"), nullable=True)
    token_hash = mapped_column(sa.String(64), unique=True, nullable=False)
    issued_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    expires_at = mapped_column(UTCDateTime, nullable=False)
    used_at = mapped_column(UTCDateTime, nullable=True)
    revoked_at = mapped_column(UTCDateTime, nullable=True)


class Device(Model):
    """A field tablet of one station. Enrolled with a one-time code and its own ES256 public key."""

    __tablename__ = "device"
    __table_args__ = (sa.CheckConstraint("status IN ('pending', 'active', 'retired', 'lost')", name="status"),)
    id = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    station_id = mapped_column(sa.Uuid, sa.ForeignKey("station.id"), nullable=False, index=True)
    label = mapped_column(sa.String(100), nullable=False)
    status = mapped_column(sa.String(16), nullable=False, default="pending")
    enrollment_code_hash = mapped_column(sa.String(64), unique=True, nullable=True)
    enrollment_expires_at = mapped_column(UTCDateTime, nullable=True)
    public_jwk = mapped_column(sa.JSON, nullable=True)
    enrolled_at = mapped_column(UTCDateTime, nullable=True)
    revoked_at = mapped_column(UTCDateTime, nullable=True)
    created_by_id = mapped_column(sa.Uuid, sa.ForeignKey("user_account.id"), nullable=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    # what staff see of a tablet's sync: last contact, the highest settled mutation seq, clock skew
    last_push_at = mapped_column(UTCDateTime, nullable=True)
    last_pull_at = mapped_column(UTCDateTime, nullable=True)
    last_seq = mapped_column(sa.BigInteger, nullable=False, default=0, server_default="0")
    clock_skew_seconds = mapped_column(sa.Integer, nullable=True)

    station = relationship("Station")


class OtpChallenge(Model):
    """A citizen's one-time code, kept only as a keyed hash."""

    __tablename__ = "otp_challenge"
    id = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    phone_bidx = mapped_column(sa.String(64), nullable=False, index=True)
    code_hash = mapped_column(sa.String(64), nullable=False)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    expires_at = mapped_column(UTCDateTime, nullable=False)
    attempts = mapped_column(sa.Integer, nullable=False, default=0)
    consumed_at = mapped_column(UTCDateTime, nullable=True)


class Throttle(Model):
    """Counters behind login lock-out and OTP rate limits, shared by every app node."""

    __tablename__ = "throttle"
    key = mapped_column(sa.String(160), primary_key=True)
    count = mapped_column(sa.Integer, nullable=False, default=0)
    window_started_at = mapped_column(UTCDateTime, nullable=False)
    last_at = mapped_column(UTCDateTime, nullable=False)
    locked_until = mapped_column(UTCDateTime, nullable=True)
