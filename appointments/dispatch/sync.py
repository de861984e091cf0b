"""Visits on the tablets: each visit's document, and what an officer pushes from the door
(setting out, the outcome), through the same services as the online endpoints."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from flask_babel import lazy_gettext as _l

from app import pii
from app.auth.actor import Actor
from app.errors import NotFound
from appointments.dispatch import services as visits
from appointments.dispatch import states as visit_states
from appointments.dispatch.models import Visit
from appointments.dispatch.schemas import OutcomeIn
from doorstep_protocol.identity import mask_phone
from sync import registry
from sync.handling import Document, EmptyIn, JsonObject, Outcome, as_uuid, clock_time, encode, iso_date, not_ahead


def visit_document(v: Visit) -> Document:
    booking = v.booking
    data = {
        "kind": v.kind,
        "status": v.status,
        "day": iso_date(v.day),
        "window_start": clock_time(v.window_start),
        "window_end": clock_time(v.window_end),
        "address": v.address,
        "area_id": str(v.area_id),
        "officer_id": str(v.officer_id) if v.officer_id else None,
        "booking_reference": booking.reference if booking else None,
        "purpose": booking.purpose if booking else None,
        "contact_name": booking.contact_name if booking else None,
        "contact_phone": mask_phone(pii.decrypt(pii.PHONE, booking.contact_phone_enc)) if booking else None,
        "outcome_note": v.outcome_note,
    }
    return Document(encode(data), v.version, {("officer", str(v.officer_id))} if v.officer_id else set())


def _assigned(row: Mapping[str, Any]) -> bool:
    """A visit is on a tablet only once an officer holds it (``visit_document``'s scopes); its
    assignment, a later write, publishes it."""
    return row["officer_id"] is not None


def _visit_not_ahead(actor: Actor, visit_id: uuid.UUID, m: JsonObject) -> None:
    """Only a visit still in the officer's hands is compared: one reassigned away is a late fact."""
    if m.get("base_version") is not None:
        try:
            not_ahead(visits.visit_for(actor, visit_id), m)
        except NotFound:
            pass


def visit_start(actor: Actor, m: JsonObject, _data: JsonObject) -> Outcome:
    visit_id = as_uuid(m["id"], "id")
    _visit_not_ahead(actor, visit_id, m)
    try:
        visits.start(actor, visit_id)
        return Outcome("visit", visit_id)
    except (NotFound, visit_states.InvalidTransition) as exc:
        # Setting out is a fact too, but it changes nothing once staff moved the visit on.
        return Outcome("visit", visit_id, {"kind": "fact-after-change", "fields": {"start": exc.detail}})


def visit_outcome(actor: Actor, m: JsonObject, data: JsonObject) -> Outcome:
    _visit_not_ahead(actor, as_uuid(m["id"], "id"), m)
    visit, flagged = visits.record_outcome_fact(actor, as_uuid(m["id"], "id"), data["outcome"], data["note"])
    return Outcome(
        "visit", visit.id, {"kind": "fact-after-change", "fields": {"outcome": data["outcome"]}} if flagged else None
    )


def register() -> None:
    registry.register_document(registry.DocumentKind("visit", Visit, visit_document, scoped_on_insert=_assigned))
    registry.register_handler("visit", "start", visit_start, EmptyIn)
    registry.register_handler("visit", "outcome", visit_outcome, OutcomeIn)
    registry.register_labels(
        "visit",
        _l("Visit"),
        {"start": _l("Setting out"), "outcome": _l("Outcome")},
        {"start": _l("Set out"), "outcome": _l("Record the outcome")},
        {"outcome": {"completed": _l("Completed"), "not_home": _l("Nobody at home")}},
    )
