"""Staff work through what sync could not settle alone: conflicts and rejected mutations."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from app import audit, pii
from app.auth.actor import Actor
from app.db import one_or_404, utcnow
from app.errors import Conflict, field_error
from app.extensions import db
from sync import registry
from sync.models import SyncConflict, SyncMutation
from sync.schemas import opened


def conflicts_visible_to(actor: Actor, filters: Mapping[str, Any]) -> sa.Select[SyncConflict]:
    query = sa.select(SyncConflict).order_by(SyncConflict.created_at.desc())
    if not actor.is_admin:
        query = query.where(SyncConflict.station_id == actor.station_id)
    query = query.where(SyncConflict.status == filters.get("status", "open"))
    if filters.get("device_id"):
        query = query.where(SyncConflict.device_id == filters["device_id"])
    return query


def rejections_visible_to(actor: Actor, filters: Mapping[str, Any]) -> sa.Select[SyncMutation]:
    query = sa.select(SyncMutation).where(SyncMutation.status == "rejected").order_by(SyncMutation.received_at.desc())
    if not actor.is_admin:
        query = query.where(SyncMutation.station_id == actor.station_id)
    if filters.get("status", "open") != "any":
        query = query.where(
            SyncMutation.resolved_at.is_(None)
            if filters.get("status", "open") == "open"
            else SyncMutation.resolved_at.is_not(None)
        )
    if filters.get("device_id"):
        query = query.where(SyncMutation.device_id == filters["device_id"])
    return query


def _device_value(field: str, sides: dict[str, Any]) -> object:
    return pii.decrypt(pii.PHONE, sides["device_enc"]) if "device_enc" in sides else sides["device"]


def resolve_conflict(actor: Actor, conflict_id: uuid.UUID, choice: str, note: str) -> SyncConflict:
    conflict: SyncConflict = one_or_404(
        conflicts_visible_to(actor, {"status": "open"}).where(SyncConflict.id == conflict_id).with_for_update(),
        "conflict",
    )
    if conflict.kind == "fields" and choice == "acknowledge":
        raise field_error("choice", "a field conflict is settled by choosing the server's or the device's value")
    if conflict.kind != "fields" and choice != "acknowledge":
        raise field_error("choice", "a fact recorded after a change is acknowledged")
    if choice == "device":
        values = {f: _device_value(f, sides) for f, sides in conflict.fields.items()}
        apply = registry.RESOLVERS.get(conflict.entity)
        if apply is None:
            raise Conflict(f"no way to apply a device value to a {conflict.entity}")
        apply(actor, uuid.UUID(conflict.record_id), values)
    conflict.status, conflict.resolved_at, conflict.resolved_by_id = "resolved", utcnow(), actor.user_id
    conflict.resolution = f"{choice}: {note}".strip(": ")
    audit.record(
        actor,
        "sync.conflict_resolved",
        "sync_conflict",
        conflict.id,
        after={"choice": choice, "note": note, "entity": conflict.entity, "record_id": conflict.record_id},
        station_id=conflict.station_id,
    )
    db.session.flush()
    return conflict


def read_rejection_pii(actor: Actor, mutation_id: uuid.UUID) -> dict[str, Any]:
    """The numbers of a rejected payload in plain, for staff re-entering it by hand: the same
    audited step as unmasking a resident."""
    mutation: SyncMutation = one_or_404(
        rejections_visible_to(actor, {"status": "any"}).where(SyncMutation.mutation_id == mutation_id), "rejection"
    )
    data = opened(
        (mutation.payload or {}).get("data") or {},
        lambda sealed: pii.decrypt(
            sealed.get("kind") or (pii.IDENTITY if "*" * 10 in sealed["masked"] else pii.PHONE), sealed["enc"]
        ),
    )
    audit.record(
        actor,
        "pii.read",
        "sync_mutation",
        mutation.mutation_id,
        after={"entity": mutation.entity, "op": mutation.op},
        station_id=mutation.station_id,
    )
    db.session.flush()
    return {"mutation_id": mutation.mutation_id, "data": data}


def resolve_rejection(actor: Actor, mutation_id: uuid.UUID, resolution: str, note: str) -> SyncMutation:
    mutation: SyncMutation = one_or_404(
        rejections_visible_to(actor, {"status": "open"})
        .where(SyncMutation.mutation_id == mutation_id)
        .with_for_update(),
        "rejection",
    )
    mutation.resolved_at, mutation.resolved_by_id = utcnow(), actor.user_id
    mutation.resolution = f"{resolution}: {note}".strip(": ")
    audit.record(
        actor,
        "sync.rejection_resolved",
        "sync_mutation",
        mutation.mutation_id,
        after={"resolution": resolution, "note": note, "entity": mutation.entity, "op": mutation.op},
        station_id=mutation.station_id,
    )
    db.session.flush()
    return mutation
