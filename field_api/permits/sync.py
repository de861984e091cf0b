"""Permit applications from the tablets: submitted at the door, materials supplied later."""

from __future__ import annotations

from app.auth.actor import Actor
from field_api.permits import services as applications
from field_api.permits.schemas import ApplicationIn, MaterialIn
from field_api.residency.services import Resident
from sync import registry
from sync.handling import JsonObject, Outcome, as_uuid, known_id


def application_create(actor: Actor, m: JsonObject, data: JsonObject) -> Outcome:
    data["id"] = as_uuid(m["id"], "id")
    if data.get("resident_id") is not None:
        data["resident_id"] = known_id(actor, Resident, "resident", data["resident_id"], "resident_id")
    application = applications.submit(actor, data)
    return Outcome("application", application.id)


def application_supply(actor: Actor, m: JsonObject, data: JsonObject) -> Outcome:
    application = applications.supply_material(actor, as_uuid(m["id"], "id"), data["kind"], data["attachment_sha256"])
    return Outcome("application", application.id)


def register() -> None:
    registry.register_reference("material_kinds", applications.material_kinds())
    registry.register_handler("application", "create", application_create, ApplicationIn)
    registry.register_handler("application", "supply_material", application_supply, MaterialIn)
