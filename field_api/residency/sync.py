"""Residency on the tablets: the documents of residents and registrations, and the mutations a
tablet pushes for them, each through the same service as the online endpoint."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app import bulk, pii
from app.auth.actor import Actor
from app.errors import DomainError
from app.extensions import db
from field_api.residency import resident_fields
from field_api.residency import services as residents
from field_api.residency.models import Registration, Resident
from field_api.residency.schemas import EndRegistrationIn, RegistrationIn, RegistrationPatch, ResidentIn, ResidentPatch
from field_api.residency.services import registration_for, resident_for
from sync import registry
from sync.handling import (
    Answer,
    Document,
    JsonObject,
    Outcome,
    Scope,
    as_uuid,
    encode,
    field_conflict,
    iso_date,
    known_id,
    merge,
    normalized_phone,
    not_ahead,
)

# The services' reasons a tablet's push most often meets, in the catalogue so that the console's
# rejected changes (and the API's problems) say them in the reader's language.
REFUSALS = (
    _l("not an area you register residents in"),
    _l("is required for rented housing"),
    _l("is required for employer housing"),
    _l("registered elsewhere"),
    _l("active registration exists"),
    _l("already used"),
)

SEX_WORDS = {"male": _l("Male"), "female": _l("Female")}
REASON_WORDS = {"work": _l("Work"), "study": _l("Study"), "family": _l("Family"), "other": _l("Other")}
HOUSING_WORDS = {
    "rented": _l("Rented"),
    "owned": _l("Own home"),
    "employer": _l("Employer's dormitory"),
    "relatives": _l("Relatives' home"),
}

# --- documents -------------------------------------------------------------------------------

RESIDENT_FIELDS = resident_fields.DOCUMENT


def resident_record(view: JsonObject) -> JsonObject:
    """A resident's document from their masked view (``ResidentOut``'s fields): what a push that
    created them answers with, without reading them back."""
    return {k: view[k] for k in RESIDENT_FIELDS}


def resident_document(r: Resident) -> Document:
    masked = {
        name: pii.MASKERS[purpose](pii.decrypt(purpose, getattr(r, f"{purpose}_enc")))
        for name, purpose in resident_fields.PERSONAL_NUMBERS.items()
    }
    data = resident_record({**resident_fields.plain_values(r), **masked})
    # Scopes left unknown (None): a push answer needs only the document, and the feed fills them
    # for all residents of a transaction in one query (``active_areas``).
    return Document(encode(data), r.version, None)


def active_areas(resident_ids: list[uuid.UUID]) -> dict[uuid.UUID, set[Scope]]:
    """{resident id: {("area", id) of its active registrations}}, in one query per 500 residents."""
    out: dict[uuid.UUID, set[Scope]] = {rid: set() for rid in resident_ids}
    for i in range(0, len(resident_ids), 500):
        rows = db.session.execute(
            sa.select(Registration.resident_id, Registration.area_id).where(
                bulk.id_in(Registration.resident_id, resident_ids[i : i + 500]), Registration.status == "active"
            )
        )
        for resident_id, area_id in rows:
            out[resident_id].add(("area", str(area_id)))
    return out


def registration_document(g: Registration) -> Document:
    data = {
        "resident_id": str(g.resident_id),
        "area_id": str(g.area_id),
        "station_id": str(g.station_id),
        "address": g.address,
        "start_date": iso_date(g.start_date),
        "maturity_date": iso_date(g.maturity_date),
        "reason": g.reason,
        "housing": g.housing,
        "landlord_name": g.landlord_name,
        "employer_name": g.employer_name,
        "status": g.status,
    }
    return Document(encode(data), g.version, {("area", str(g.area_id))} if g.status == "active" else set())


def registration_holder(g: Registration) -> tuple[str, str]:
    """A resident's scope is their active registrations' areas."""
    return ("resident", str(g.resident_id))


def holder_of(g: Registration) -> list[tuple[str, object]]:
    return [("resident", g.resident_id)]


# --- mutations -------------------------------------------------------------------------------


def resident_id(actor: Actor, value: object, field: str) -> uuid.UUID:
    return known_id(actor, Resident, "resident", value, field)


def _resident_values(r: Resident) -> JsonObject:
    """The editable fields' current values, what a tablet's edit merges against."""
    return {**resident_fields.plain_values(r), "phone": pii.decrypt(pii.PHONE, r.phone_enc)}


def resident_create_many(
    actor: Actor, items: list[JsonObject], audit_contexts: list[JsonObject]
) -> Sequence[DomainError | Outcome | Answer]:
    """A run of new residents through ``register_residents`` in one call."""
    out: list[DomainError | Outcome | Answer] = []
    for outcome in residents.register_residents(actor, items, audit_contexts=audit_contexts):
        if isinstance(outcome, DomainError):
            out.append(outcome)
        elif outcome.created:  # answered from what the service wrote: nothing to read back
            out.append(Answer({"id": outcome.view["id"], **resident_record(outcome.view)}, outcome.view["version"]))
        elif not outcome.visible:  # matched someone outside the device's scope: their id, nothing more
            out.append(Answer({"id": str(outcome.id)}, None))
        else:
            out.append(Outcome("resident", outcome.id))
    return out


def resident_prepare(actor: Actor, mutations: list[JsonObject]) -> None:
    """The people a push creates, looked up at once (``residents.look_up_known``)."""
    residents.look_up_known(
        [(m.get("data") or {}).get("identity_number") for m in mutations], [m["id"] for m in mutations]
    )


def resident_update(actor: Actor, m: JsonObject, data: JsonObject) -> Outcome:
    data = normalized_phone(data, "phone")
    data.pop("base_version", None)  # the envelope's base_version is the one that counts
    resident = resident_for(actor, resident_id(actor, m["id"], "id"), lock=True)
    not_ahead(resident, m)
    apply, clashes = merge(resident, m.get("base_version"), data, _resident_values(resident))
    if apply:
        residents.update_resident(actor, resident.id, apply)
    return Outcome("resident", resident.id, field_conflict(clashes))


def registration_create(actor: Actor, m: JsonObject, data: JsonObject) -> Outcome:
    data["id"] = as_uuid(m["id"], "id")
    if data.get("resident_id") is not None:
        data["resident_id"] = resident_id(actor, data["resident_id"], "resident_id")
    registration = residents.register_residence(actor, data)
    return Outcome("registration", registration.id)


def registration_update(actor: Actor, m: JsonObject, data: JsonObject) -> Outcome:
    data = normalized_phone(data, "landlord_phone")
    registration = registration_for(actor, as_uuid(m["id"], "id"), lock=True)
    not_ahead(registration, m)
    current = {f: getattr(registration, f) for f in residents.REGISTRATION_FIELDS}
    current["landlord_phone"] = pii.decrypt(pii.PHONE, registration.landlord_phone_enc)
    apply, clashes = merge(registration, m.get("base_version"), data, current)
    if apply:
        residents.update_registration(actor, registration.id, apply)
    return Outcome("registration", registration.id, field_conflict(clashes))


def registration_end(actor: Actor, m: JsonObject, data: JsonObject) -> Outcome:
    not_ahead(registration_for(actor, as_uuid(m["id"], "id")), m)
    registration = residents.end_registration(actor, as_uuid(m["id"], "id"), data["end_date"], data["reason"])
    return Outcome("registration", registration.id)


def register() -> None:
    registry.register_document(
        registry.DocumentKind(
            "resident",
            Resident,
            resident_document,
            cached=True,
            scopes_of_many=active_areas,
            # A resident inserted in a transaction is in a device's scope only through a registration
            # inserted after it, which publishes the resident itself (``holder_of``).
            scoped_on_insert=False,
        )
    )
    registry.register_document(
        registry.DocumentKind(
            "registration", Registration, registration_document, cached=True, also_forget=registration_holder
        )
    )
    registry.register_related("registration", holder_of)
    # resident.create is settled many at once: most of what a tablet brings back from a day.
    registry.register_batch("resident", "create", resident_create_many, ResidentIn, resident_prepare)
    registry.register_handler("resident", "update", resident_update, ResidentPatch)
    registry.register_handler("registration", "create", registration_create, RegistrationIn)
    registry.register_handler("registration", "update", registration_update, RegistrationPatch)
    registry.register_handler("registration", "end", registration_end, EndRegistrationIn)
    registry.register_resolver("resident", residents.update_resident)
    registry.register_resolver("registration", residents.update_registration)
    registry.register_labels(
        "resident",
        _l("Resident"),
        {
            "name": _l("Name"),
            "sex": _l("Sex"),
            "ethnicity": _l("Ethnicity"),
            "identity_number": _l("Identity number"),
            "phone": _l("Phone"),
            "hukou_address": _l("Household registration"),
            "photo_sha256": _l("Photo"),
        },
        {"create": _l("Register"), "update": _l("Edit")},
        {"sex": SEX_WORDS},
    )
    registry.register_labels(
        "registration",
        _l("Residence registration"),
        {
            "address": _l("Address"),
            "reason": _l("Reason"),
            "housing": _l("Housing"),
            "landlord_name": _l("Landlord"),
            "landlord_phone": _l("Landlord's phone"),
            "employer_name": _l("Employer"),
            "resident": _l("Resident"),
            "area_id": _l("Area"),
            "start_date": _l("Since"),
        },
        {"create": _l("Register"), "update": _l("Edit"), "end": _l("End")},
        {"reason": REASON_WORDS, "housing": HOUSING_WORDS},
    )
