"""What a tablet receives for each synced record, and who should receive it.

Built once when the record is written (inside the writing transaction) and stored as JSON text,
so pull serves them as they are."""
from __future__ import annotations

from dataclasses import dataclass

import orjson
import sqlalchemy as sa

from app import bulk, pii
from app.extensions import db
from app.org.models import Area
from appointments.dispatch.models import Visit
from field_api.delivery.models import Delivery
from field_api.residency.models import Registration, Resident

ENTITIES = {Visit: "visit", Delivery: "delivery", Resident: "resident", Registration: "registration", Area: "area"}
MODELS = {name: model for model, name in ENTITIES.items()}


@dataclass
class Document:
    doc: bytes
    version: int | None      # None: the feed position serves as the version
    scopes: set[tuple[str, str]] | None   # None: not read yet (see ``resident``)


def _t(value):
    return value.strftime("%H:%M") if value is not None else None


def _d(value):
    return value.isoformat() if value is not None else None


def _dump(data: dict) -> bytes:
    return orjson.dumps(data)


def visit(v: Visit) -> Document:
    booking = v.booking
    data = {"kind": v.kind, "status": v.status, "day": _d(v.day), "window_start": _t(v.window_start),
            "window_end": _t(v.window_end), "address": v.address, "area_id": str(v.area_id),
            "officer_id": str(v.officer_id) if v.officer_id else None,
            "booking_reference": booking.reference if booking else None,
            "purpose": booking.purpose if booking else None,
            "contact_name": booking.contact_name if booking else None,
            "contact_phone": pii.mask_phone(pii.decrypt(pii.PHONE, booking.contact_phone_enc)) if booking else None,
            "outcome_note": v.outcome_note}
    return Document(_dump(data), v.version, {("officer", str(v.officer_id))} if v.officer_id else set())


def delivery(d: Delivery) -> Document:
    from field_api.delivery.services import identity_masked, manifest_claims

    v, permit = d.visit, d.permit
    resident = permit.resident
    data = {"visit_id": str(d.visit_id), "permit_number": permit.number, "resident_name": resident.name,
            "identity_masked": identity_masked(pii.decrypt(pii.IDENTITY, resident.identity_enc)),
            "status": d.status,
            "manifest_entry": manifest_claims(d, v.officer_id) if v.officer_id else None}
    scopes = {("officer", str(v.officer_id))} if v.officer_id and d.status == "pending" else set()
    return Document(_dump(data), None, scopes)


def _active_areas(resident_ids: list) -> dict:
    """{resident id: {area ids of its active registrations}}, in one query per 500 residents."""
    out: dict = {rid: set() for rid in resident_ids}
    for i in range(0, len(resident_ids), 500):
        rows = db.session.execute(sa.select(Registration.resident_id, Registration.area_id).where(
            bulk.id_in(Registration.resident_id, resident_ids[i:i + 500]), Registration.status == "active"))
        for resident_id, area_id in rows:
            out[resident_id].add(area_id)
    return out


RESIDENT_FIELDS = ("name", "sex", "ethnicity", "identity_number", "phone", "hukou_address", "photo_sha256")


def resident_record(view: dict) -> dict:
    """A resident's document from their masked view (``ResidentOut``'s fields): what a push that
    created them answers with, without reading them back."""
    return {k: view[k] for k in RESIDENT_FIELDS}


def resident(r: Resident, areas: set | None = None) -> Document:
    data = resident_record({
        "name": r.name, "sex": r.sex, "ethnicity": r.ethnicity,
        "identity_number": pii.mask_identity(pii.decrypt(pii.IDENTITY, r.identity_enc)),
        "phone": pii.mask_phone(pii.decrypt(pii.PHONE, r.phone_enc)), "hukou_address": r.hukou_address,
        "photo_sha256": r.photo_sha256})
    # Scopes left unknown (None) when not given: a push answer needs only the document, and the
    # feed fills them for all residents of a transaction in one query (``build_many``).
    return Document(_dump(data), r.version, {("area", str(a)) for a in areas} if areas is not None else None)


def registration(g: Registration) -> Document:
    data = {"resident_id": str(g.resident_id), "area_id": str(g.area_id), "station_id": str(g.station_id),
            "address": g.address, "start_date": _d(g.start_date), "maturity_date": _d(g.maturity_date),
            "reason": g.reason, "housing": g.housing, "landlord_name": g.landlord_name,
            "employer_name": g.employer_name, "status": g.status}
    return Document(_dump(data), g.version, {("area", str(g.area_id))} if g.status == "active" else set())


def area(a: Area) -> Document:
    data = {"station_id": str(a.station_id), "code": a.code, "name": a.name, "kind": a.kind}
    return Document(_dump(data), None, {("station", str(a.station_id))} if a.active else set())


BUILDERS = {"visit": visit, "delivery": delivery, "resident": resident, "registration": registration, "area": area}


def build(entity: str, obj) -> Document:
    """One record's document with its scopes."""
    return build_many(db.session, [(entity, obj)])[(entity, str(obj.id))]


# --- documents built earlier in the same transaction ---------------------------------------------
# A push answers each mutation with the record's document, and the feed stores the same document
# at commit: built once, kept in the session until the record (or, for a resident, one of its
# registrations) is flushed again. Only documents that depend on nothing else are kept: a visit's
# shows its booking, a delivery's its permit and holder, and those change without touching them.

CACHE = "sync_documents"
CACHED = {"resident", "registration"}


def forget(session, entity: str, obj) -> None:
    cache = session.info.get(CACHE)
    if cache:
        cache.pop((entity, str(obj.id)), None)
        if entity == "registration":
            cache.pop(("resident", str(obj.resident_id)), None)


def build_cached(session, entity: str, obj) -> Document:
    """The document a push answers with (a resident's scopes may still be unread)."""
    key = (entity, str(obj.id))
    cache = session.info.setdefault(CACHE, {})
    if key not in cache:
        document = BUILDERS[entity](obj)
        if entity not in CACHED:
            return document
        cache[key] = document
    return cache[key]


def build_many(session, items: list[tuple[str, object]]) -> dict:
    """{(entity, id): Document} for many records: kept documents reused, residents' areas read
    in one query."""
    cache = session.info.get(CACHE) or {}
    out, unscoped = {}, {}
    for entity, obj in items:
        key = (entity, str(obj.id))
        out[key] = cache.get(key) or BUILDERS[entity](obj)
        if out[key].scopes is None:
            unscoped[obj.id] = out[key]
    if unscoped:
        for resident_id, areas in _active_areas(list(unscoped)).items():
            unscoped[resident_id].scopes = {("area", str(a)) for a in areas}
    return out


def possibly_scoped(inserted: list[tuple[str, object]]) -> set[tuple[str, object]]:
    """Of records just inserted, those a device's scope may hold. A resident is held only through
    an active registration, and one inserted in this transaction can have one only if the
    registration was inserted after it — which publishes the resident itself (``related``). So the
    hundreds of people a push registers are skipped without reading anything."""
    return {(entity, record_id) for entity, record_id in inserted if entity != "resident"}


def related(entity: str, obj) -> list[tuple[str, object]]:
    """Records whose document or scope depends on this one."""
    if entity == "registration":
        return [("resident", obj.resident_id)]
    if entity == "visit" and obj.kind == "delivery":
        delivery_id = db.session.execute(sa.select(Delivery.id).where(Delivery.visit_id == obj.id)).scalar()
        return [("delivery", delivery_id)] if delivery_id else []
    return []
