"""Deliveries on the tablets: each delivery's document (with its signed manifest entry), the
handover a tablet pushes, and the manifest a pull hands to the device."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app import pii
from app.auth.actor import Actor
from app.extensions import db
from appointments.dispatch.services import Visit
from field_api.delivery import services as deliveries
from field_api.delivery.models import Delivery
from field_api.delivery.schemas import HandoverIn
from sync import registry
from sync.handling import Document, JsonObject, Outcome, as_uuid, encode


def delivery_document(d: Delivery) -> Document:
    v, permit = d.visit, d.permit
    resident = permit.resident
    data = {
        "visit_id": str(d.visit_id),
        "permit_number": permit.number,
        "resident_name": resident.name,
        "identity_masked": deliveries.identity_masked(pii.decrypt(pii.IDENTITY, resident.identity_enc)),
        "status": d.status,
        "manifest_entry": deliveries.manifest_claims(d, v.officer_id) if v.officer_id else None,
    }
    scopes = {("officer", str(v.officer_id))} if v.officer_id and d.status == "pending" else set()
    return Document(encode(data), None, scopes)


def delivery_of_visit(visit: Visit) -> list[tuple[str, object]]:
    """A delivery's document shows its visit's officer: the visit changing publishes it again."""
    if visit.kind != "delivery":
        return []
    delivery_id = db.session.execute(sa.select(Delivery.id).where(Delivery.visit_id == visit.id)).scalar()
    return [("delivery", delivery_id)] if delivery_id else []


def served(record_ids: list[str], device_id: uuid.UUID) -> None:
    """The deliveries a pull page carried are on that device's manifest."""
    deliveries.record_manifest([uuid.UUID(d) for d in record_ids], device_id)


def delivery_handover(actor: Actor, m: JsonObject, data: JsonObject) -> Outcome:
    delivery, flagged = deliveries.handover_fact(actor, as_uuid(m["id"], "id"), data)
    return Outcome(
        "delivery", delivery.id, {"kind": "fact-after-change", "fields": {"handover": "recorded"}} if flagged else None
    )


def register() -> None:
    registry.register_document(registry.DocumentKind("delivery", Delivery, delivery_document))
    registry.register_related("visit", delivery_of_visit)
    registry.on_served("delivery", served)
    registry.register_handler("delivery", "handover", delivery_handover, HandoverIn)
    registry.register_labels("delivery", _l("Delivery"), {"handover": _l("Handover")}, {"handover": _l("Handover")})
