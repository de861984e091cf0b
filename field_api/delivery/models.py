"""Permit deliveries, the devices each delivery's manifest went to, and signed receipts."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import mapped_column, relationship

from app.db import UTCDateTime, new_id, utcnow
from app.extensions import Model


class Delivery(Model):
    """送证上门: a permit carried to the door, as a dispatched visit of kind ``delivery``."""

    __tablename__ = "delivery"
    __table_args__ = (
        sa.CheckConstraint("status IN ('pending', 'delivered')", name="status"),
        sa.CheckConstraint("recipient_kind IS NULL OR recipient_kind IN ('self', 'proxy')", name="recipient_kind"),
        sa.Index("ix_delivery_status", "status"),
    )  # the pending few, for the scheduler
    id = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    permit_id = mapped_column(sa.Uuid, sa.ForeignKey("permit.id"), unique=True, nullable=False)
    visit_id = mapped_column(sa.Uuid, sa.ForeignKey("visit.id"), unique=True, nullable=False)
    station_id = mapped_column(sa.Uuid, sa.ForeignKey("station.id"), nullable=False, index=True)
    status = mapped_column(sa.String(16), nullable=False, default="pending")
    recipient_kind = mapped_column(sa.String(8), nullable=True)
    recipient_name = mapped_column(sa.String(50), nullable=True)
    proxy_relation = mapped_column(sa.String(20), nullable=True)
    proxy_identity_enc = mapped_column(sa.Text, nullable=True)
    signature_sha256 = mapped_column(sa.String(64), nullable=True)
    handed_over_at = mapped_column(UTCDateTime, nullable=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    permit = relationship("Permit")
    visit = relationship("Visit")
    receipt = relationship("Receipt", uselist=False, viewonly=True)


class ManifestEntry(Model):
    """A delivery handed to a device (server-signed): only permits on a device's manifest can be
    receipted by it."""

    __tablename__ = "manifest_entry"
    delivery_id = mapped_column(sa.Uuid, sa.ForeignKey("delivery.id"), primary_key=True)
    device_id = mapped_column(sa.Uuid, sa.ForeignKey("device.id"), primary_key=True)
    issued_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class Receipt(Model):
    """A device-signed handover receipt the server accepted, and its countersignature."""

    __tablename__ = "receipt"
    __table_args__ = (sa.UniqueConstraint("device_id", "seq", name="uq_receipt_device_seq"),)
    id = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    jti = mapped_column(sa.String(32), unique=True, nullable=False)
    delivery_id = mapped_column(sa.Uuid, sa.ForeignKey("delivery.id"), unique=True, nullable=False)
    device_id = mapped_column(sa.Uuid, sa.ForeignKey("device.id"), nullable=False)
    seq = mapped_column(sa.Integer, nullable=False)
    token = mapped_column(sa.Text, nullable=False)
    countersignature = mapped_column(sa.Text, nullable=False)
    signed_at = mapped_column(UTCDateTime, nullable=False)
    received_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    delivery = relationship("Delivery")
