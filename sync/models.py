"""The change feed, and what pushes left behind: stored results, conflicts and rejections."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import mapped_column

from app.db import UTCDateTime, new_id, utcnow
from app.extensions import Model

BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class SyncRecord(Model):
    """The latest change of one record in one scope (an officer, an area, a station, everyone).

    A write replaces the row and gives it a new, higher ``seq``, so the table holds one row per
    record per scope — the current state for a first pull, and the changes after a cursor for the
    next — and the document is stored ready to send, so pull never runs the ORM or marshmallow."""

    __tablename__ = "sync_record"
    __table_args__ = (
        sa.Index("ix_sync_record_scope_seq", "scope_kind", "scope_id", "seq"),
        sa.CheckConstraint("op IN ('upsert', 'delete', 'evict')", name="op"),
    )
    entity = mapped_column(sa.String(16), primary_key=True)
    record_id = mapped_column(sa.String(40), primary_key=True)
    scope_kind = mapped_column(sa.String(8), primary_key=True)
    scope_id = mapped_column(sa.String(40), primary_key=True)
    seq = mapped_column(BIGINT, nullable=False, index=True)
    op = mapped_column(sa.String(8), nullable=False)
    version = mapped_column(sa.Integer, nullable=False)
    doc = mapped_column(sa.Text, nullable=True)
    reason = mapped_column(sa.String(40), nullable=True)
    changed_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class ChangeCounter(Model):
    """One row. Locked at the very end of each writing transaction: positions in the feed are
    handed out in commit order, so a reader never sees a later position before an earlier one."""

    __tablename__ = "sync_counter"
    id = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    last_seq = mapped_column(BIGINT, nullable=False)
    pruned_before = mapped_column(BIGINT, nullable=False, default=0)


class SyncMutation(Model):
    """Every mutation a device pushed, with the result it got: the replay answer, and — when
    rejected — the payload kept for staff to resolve."""

    __tablename__ = "sync_mutation"
    __table_args__ = (
        # A seq is settled once; refusals of a reused one (``seq-reused``) are kept beside it.
        sa.Index(
            "uq_sync_mutation_device_seq",
            "device_id",
            "seq",
            unique=True,
            sqlite_where=sa.text("status <> 'rejected'"),
            postgresql_where=sa.text("status <> 'rejected'"),
        ),
        sa.CheckConstraint("status IN ('applied', 'conflict', 'rejected')", name="status"),
        sa.Index("ix_sync_mutation_station_status", "station_id", "status"),
    )
    mutation_id = mapped_column(sa.Uuid, primary_key=True)
    device_id = mapped_column(sa.Uuid, sa.ForeignKey("device.id"), nullable=False)
    user_id = mapped_column(sa.Uuid, sa.ForeignKey("user_account.id"), nullable=False)
    station_id = mapped_column(sa.Uuid, sa.ForeignKey("station.id"), nullable=False)
    seq = mapped_column(BIGINT, nullable=False)
    request_hash = mapped_column(sa.String(64), nullable=False)
    entity = mapped_column(sa.String(16), nullable=False)
    op = mapped_column(sa.String(24), nullable=False)
    record_id = mapped_column(sa.String(40), nullable=False)
    payload = mapped_column(sa.JSON(none_as_null=True), nullable=True)  # kept when refused, for staff
    status = mapped_column(sa.String(8), nullable=False)
    result = mapped_column(sa.JSON, nullable=False)
    occurred_at = mapped_column(UTCDateTime, nullable=True)
    received_at = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    resolved_at = mapped_column(UTCDateTime, nullable=True)
    resolved_by_id = mapped_column(sa.Uuid, sa.ForeignKey("user_account.id"), nullable=True)
    resolution = mapped_column(sa.String(500), nullable=True)


class SyncConflict(Model):
    """A field both sides changed (the server's value kept, the device's here), or a field fact
    recorded after staff had changed the record."""

    __tablename__ = "sync_conflict"
    __table_args__ = (sa.Index("ix_sync_conflict_station_status", "station_id", "status"),)
    id = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    mutation_id = mapped_column(sa.Uuid, sa.ForeignKey("sync_mutation.mutation_id"), nullable=False)
    device_id = mapped_column(sa.Uuid, sa.ForeignKey("device.id"), nullable=False)
    station_id = mapped_column(sa.Uuid, sa.ForeignKey("station.id"), nullable=False)
    entity = mapped_column(sa.String(16), nullable=False)
    record_id = mapped_column(sa.String(40), nullable=False)
    kind = mapped_column(sa.String(24), nullable=False)
    fields = mapped_column(sa.JSON, nullable=False)
    status = mapped_column(sa.String(8), nullable=False, default="open")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    resolved_at = mapped_column(UTCDateTime, nullable=True)
    resolved_by_id = mapped_column(sa.Uuid, sa.ForeignKey("user_account.id"), nullable=True)
    resolution = mapped_column(sa.String(500), nullable=True)
