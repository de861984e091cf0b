"""Attachments: the catalogue of blobs (photos, signatures, supplementary materials) and who
declared each one. The bytes live in the blob store (``app.storage``), named by their SHA-256."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import mapped_column

from app.db import UTCDateTime, utcnow
from app.extensions import Model

PENDING, STORED = "pending", "stored"
KINDS = ("photo", "signature", "material")


class Attachment(Model):
    """One content-addressed blob. ``pending``: declared, bytes not yet verified; ``stored``: the
    bytes arrived and matched the hash, the size limit and the declared type. Size and type of a
    stored row are facts about the bytes, so they never change afterwards."""

    __tablename__ = "attachment"
    __table_args__ = (
        sa.CheckConstraint("status IN ('pending', 'stored')", name="status"),
        sa.CheckConstraint("kind IN ('photo', 'signature', 'material')", name="kind"),
        sa.CheckConstraint("length(sha256) = 64", name="sha256_length"),
        sa.CheckConstraint("size > 0", name="size_positive"),
        sa.CheckConstraint("status = 'pending' OR stored_at IS NOT NULL", name="stored_at"),
    )
    sha256 = mapped_column(sa.String(64), primary_key=True)
    content_type = mapped_column(sa.String(64), nullable=False)
    size = mapped_column(sa.BigInteger, nullable=False)
    status = mapped_column(sa.String(8), nullable=False, default=PENDING)
    kind = mapped_column(sa.String(16), nullable=False)
    # The first declarer and their station; who may read it is decided by the claims below.
    station_id = mapped_column(sa.Uuid, sa.ForeignKey("station.id"), nullable=True, index=True)
    uploaded_by_id = mapped_column(sa.Uuid, sa.ForeignKey("user_account.id"), nullable=False)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    stored_at = mapped_column(UTCDateTime, nullable=True)


class AttachmentClaim(Model):
    """Each account that declared the hash, with its station at the time. Identical bytes are
    stored once, yet every declarer (a second citizen sending the same form, an officer of
    another station photographing the same document) can read what they declared; reads are
    scoped through these rows, not through the first declarer alone."""

    __tablename__ = "attachment_claim"
    sha256 = mapped_column(sa.String(64), sa.ForeignKey("attachment.sha256", ondelete="CASCADE"), primary_key=True)
    user_id = mapped_column(sa.Uuid, sa.ForeignKey("user_account.id"), primary_key=True)
    station_id = mapped_column(sa.Uuid, sa.ForeignKey("station.id"), nullable=True, index=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
