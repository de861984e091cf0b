from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import mapped_column

from app.db import UTCDateTime
from app.extensions import Model


class AuditEvent(Model):
    """``id`` is the position in the chain; ``hash`` covers the row and the previous row's hash."""

    __tablename__ = "audit_event"
    __table_args__ = (sa.Index("ix_audit_event_entity", "entity", "entity_id"),)
    id = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=False)
    at = mapped_column(UTCDateTime, nullable=False, index=True)
    actor_id = mapped_column(sa.Uuid, nullable=True, index=True)
    actor_role = mapped_column(sa.String(16), nullable=True)
    device_id = mapped_column(sa.Uuid, nullable=True)
    station_id = mapped_column(sa.Uuid, nullable=True, index=True)
    action = mapped_column(sa.String(64), nullable=False)
    entity = mapped_column(sa.String(32), nullable=False)
    entity_id = mapped_column(sa.String(64), nullable=True)
    before = mapped_column(sa.JSON, nullable=True)
    after = mapped_column(sa.JSON, nullable=True)
    request_id = mapped_column(sa.String(64), nullable=True)
    client_addr = mapped_column(sa.String(64), nullable=True)
    prev_hash = mapped_column(sa.String(64), nullable=False)
    hash = mapped_column(sa.String(64), nullable=False)


class AuditHead(Model):
    """One row: the chain's tip. Locking it serialises appends across processes."""

    __tablename__ = "audit_head"
    id = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    last_id = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), nullable=False)
    last_hash = mapped_column(sa.String(64), nullable=False)
