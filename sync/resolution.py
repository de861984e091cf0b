"""Staff work through what sync could not settle alone: conflicts and rejected mutations."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from app import audit, pii
from app.auth.actor import Actor
from app.db import one_or_404, utcnow
from app.errors import Conflict, Unprocessable, field_error, phrase
from app.extensions import db
from sync import registry
from sync.models import SyncConflict, SyncMutation
from sync.schemas import opened


def conflicts_visible_to(actor: Actor, filters: Mapping[str, Any]) -> sa.Select[SyncConflict]:
    query = sa.select(SyncConflict).order_by(SyncConflict.created_at.desc())
    if not actor.is_admin:
        query = query.where(SyncConflict.station_id == actor.station_id)
    if filters.get("status", "open") != "any":
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


def conflict_for(actor: Actor, conflict_id: uuid.UUID) -> SyncConflict:
    """One conflict of the actor's station, open or settled; another station's is not found."""
    found: SyncConflict = one_or_404(
        conflicts_visible_to(actor, {"status": "any"}).where(SyncConflict.id == conflict_id), "conflict"
    )
    return found


def rejection_for(actor: Actor, mutation_id: uuid.UUID) -> SyncMutation:
    """One rejected mutation of the actor's station, open or settled; another station's is not found."""
    found: SyncMutation = one_or_404(
        rejections_visible_to(actor, {"status": "any"}).where(SyncMutation.mutation_id == mutation_id), "rejection"
    )
    return found


def _device_value(field: str, sides: dict[str, Any]) -> object:
    return pii.decrypt(pii.PHONE, sides["device_enc"]) if "device_enc" in sides else sides["device"]


UNCHOSEN = "choose the server's or the device's value"


def _choices(conflict: SyncConflict, choice: str | None, per_field: Mapping[str, str] | None) -> dict[str, str]:
    """Each field of a field conflict with the side kept: named in ``per_field``, else ``choice``.
    A field the conflict does not hold, or one left without a side, is refused by name."""
    per_field = dict(per_field or {})
    errors = {f"fields.{name}": ["not a field of this conflict"] for name in per_field if name not in conflict.fields}
    chosen = {name: per_field.get(name, choice) or "" for name in conflict.fields}
    errors.update({f"fields.{name}": [UNCHOSEN] for name, side in chosen.items() if side not in ("server", "device")})
    if errors:
        raise Unprocessable("; ".join(f"{k}: {v[0]}" for k, v in errors.items()), errors=errors)
    return chosen


def _overall(chosen: Mapping[str, str]) -> str:
    sides = set(chosen.values())
    return sides.pop() if len(sides) == 1 else "mixed"


def resolve_conflict(
    actor: Actor,
    conflict_id: uuid.UUID,
    choice: str | None,
    note: str,
    fields: Mapping[str, str] | None = None,
) -> SyncConflict:
    """Settle a conflict. A field conflict keeps, field by field, the server's value or the
    device's (``fields`` names a side per field; ``choice`` is the side of every field not named),
    the device's values applied through the domain's own update service; a fact recorded after a
    change is acknowledged. The API and the console both come here."""
    conflict: SyncConflict = one_or_404(
        conflicts_visible_to(actor, {"status": "open"}).where(SyncConflict.id == conflict_id).with_for_update(),
        "conflict",
    )
    chosen: dict[str, str] = {}
    if conflict.kind == "fields":
        if choice == "acknowledge":
            raise field_error("choice", "a field conflict is settled by choosing the server's or the device's value")
        chosen = _choices(conflict, choice, fields)
        choice = _overall(chosen)
    else:
        if choice != "acknowledge" or fields:
            raise field_error("choice", "a fact recorded after a change is acknowledged")
    values = {f: _device_value(f, conflict.fields[f]) for f, side in chosen.items() if side == "device"}
    if values:
        apply = registry.RESOLVERS.get(conflict.entity)
        if apply is None:
            raise Conflict(phrase("no way to apply a device value to a %(entity)s", entity=conflict.entity))
        apply(actor, uuid.UUID(conflict.record_id), values)
    conflict.status, conflict.resolved_at, conflict.resolved_by_id = "resolved", utcnow(), actor.user_id
    conflict.resolution = f"{choice}: {note}".strip(": ")
    after: dict[str, Any] = {"choice": choice, "note": note, "entity": conflict.entity, "record_id": conflict.record_id}
    if chosen:
        after["fields"] = chosen
    audit.record(
        actor, "sync.conflict_resolved", "sync_conflict", conflict.id, after=after, station_id=conflict.station_id
    )
    db.session.flush()
    return conflict


def read_rejection_pii(actor: Actor, mutation_id: uuid.UUID, reason: str | None = None) -> dict[str, Any]:
    """The numbers of a rejected payload in plain, for staff re-entering it by hand: the same
    audited step as unmasking a resident (the console also records why: its form asks)."""
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
        after={"entity": mutation.entity, "op": mutation.op, **({"reason": reason} if reason is not None else {})},
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
