"""Residents and their residence registrations (居住登记), with the six-month maturity date."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from sqlalchemy.exc import IntegrityError

from app import attachments, audit, bulk, pii, workdays
from app.db import new_id, one_or_404, table_of, utcnow
from app.errors import Conflict, DomainError, field_error
from app.extensions import db
from app.org.models import FIELD_ROLES, Area
from app.org.scoping import areas_visible_to, citizen_phone_bidx
from app.unit_buffer import UnitLog, memo
from doorstep_protocol.identity import mask as mask_identity
from doorstep_protocol.identity import mask_phone
from field_api.residency import resident_fields
from field_api.residency.maturity import cancel_reminders
from field_api.residency.maturity import local_today as local_today  # re-exported: field_api.jobs' day
from field_api.residency.maturity import maturity_key as maturity_key  # re-exported: the maturity panel
from field_api.residency.maturity import prenotice_key as prenotice_key  # re-exported, as above
from field_api.residency.maturity import registration_for_link as registration_for_link  # re-exported for the H5
from field_api.residency.maturity import run as run_maturity_clocks
from field_api.residency.models import Registration as Registration  # re-exported: other features type by it
from field_api.residency.models import Resident as Resident  # re-exported, as above
from field_api.residency.schemas import RegistrationOut, ResidentOut

resident_snapshot = ResidentOut().dump
registration_snapshot = RegistrationOut().dump

# (user id, resident id) of the residents this unit created, kept while their rows are: the
# creator may see them (``in_reach``) with no query, as a tablet's push registers their residence.
created_in_unit = UnitLog("residency.created")


def citizen_resident_ids(actor) -> sa.Select:
    """The residents a citizen's household registered with the phone number they signed in with,
    as a subquery: a citizen sees these people's records, in every field feature."""
    return sa.select(Resident.id).where(Resident.phone_bidx == citizen_phone_bidx(actor))


def registration_ids_in_areas(area_ids) -> sa.Select:
    """The registrations of the given areas, as a subquery: an officer's patch, in the scoping of
    the features that hang off a registration."""
    return sa.select(Registration.id).where(Registration.area_id.in_(area_ids))


def registrations_visible_to(actor):
    """Officers their areas, staff their station, citizens their household's registrations."""
    query = sa.select(Registration).order_by(Registration.start_date.desc(), Registration.created_at.desc())
    if actor.is_admin:
        return query
    if actor.role in FIELD_ROLES:
        return query.where(Registration.area_id.in_(actor.area_ids))
    if actor.role == "citizen":
        return query.where(Registration.resident_id.in_(citizen_resident_ids(actor)))
    return query.where(Registration.station_id == actor.station_id)


def registration_for(actor, registration_id, *, lock: bool = False) -> Registration:
    query = registrations_visible_to(actor).where(Registration.id == registration_id)
    return one_or_404(query.with_for_update() if lock else query, "registration")


def residents_visible_to(actor):
    """A citizen their household; the others the residents of the registrations they see (an
    officer only those still active in their areas)."""
    query = sa.select(Resident).order_by(Resident.name, Resident.id)
    if actor.is_admin:
        return query
    if actor.role == "citizen":
        return query.where(Resident.phone_bidx == citizen_phone_bidx(actor))
    scope = registrations_visible_to(actor).with_only_columns(Registration.resident_id).order_by(None)
    if actor.role in FIELD_ROLES:
        scope = scope.where(Registration.status == "active")
    return query.where(Resident.id.in_(scope))


def resident_for(actor, resident_id, *, lock: bool = False) -> Resident:
    query = residents_visible_to(actor).where(Resident.id == resident_id)
    return one_or_404(query.with_for_update() if lock else query, "resident")


def send_maturity_notices(now: datetime) -> dict:
    """Queue the six-month notices and pre-notices due by ``now`` (field_api.jobs' tick)."""
    return run_maturity_clocks(now)


def maturity_date(start: date) -> date:
    """Six calendar months on, clamped to the month's end: 2026-08-31 → 2027-02-28."""
    return start + relativedelta(months=6)


def normalize(kind: str, raw, field: str, *, today: date | None = None):
    if raw is None:
        return None
    try:
        return pii.normalize_identity(raw, today=today) if kind == pii.IDENTITY else pii.normalize_phone(raw)
    except pii.InvalidPII as exc:
        raise field_error(field, str(exc)) from None


def find_by_identity(identity: str) -> Resident | None:
    return db.session.execute(
        sa.select(Resident).where(Resident.identity_bidx == pii.blind_index(pii.IDENTITY, identity))
    ).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class Registered:
    """One person of ``register_residents``: the resident's id, whether this call created them,
    and, when it did, the resident as ``ResidentOut`` shows them (numbers masked): what the
    audit event records and a tablet is answered with."""

    id: uuid.UUID
    created: bool
    view: dict | None = None
    visible: bool = True  # False: linked to someone outside the caller's scope (only the id is theirs)


def register_resident(actor, data: dict) -> Registered:
    """Create a resident, or link to the one holding this identity number. An existing
    resident's details are not overwritten here: changes go through ``update_resident``."""
    outcome = register_residents(actor, [data])[0]
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


def register_residents(actor, items: list[dict], *, audit_contexts: list | None = None) -> list:
    """``register_resident`` for many people at once — a tablet's push carries hundreds — with one
    look-up, one INSERT and one audit INSERT for all of them, and no ORM object per person.

    Returns, item by item, a ``Registered`` or the ``DomainError`` that item is refused with; one
    refused item never stops the others. Items naming an identity number already known (or
    earlier in ``items``) link to that resident. If the INSERT fails — someone registered one of
    these people between the look-up and the insert — the new ones are inserted one by one, each
    in its own savepoint, as a single registration is. ``audit_contexts`` (a sync push's
    mutation, item by item) goes into each created resident's audit event.

    Rows are written with Core (``app.bulk``), which the change feed follows: a new resident has
    no registration yet, so no tablet's scope holds them until one is made."""
    outcomes: list = [None] * len(items)
    keys, today = pii.keys(), workdays.local_now().date()
    wanted = []  # (index, data, identity, phone, identity blind index)
    for i, data in enumerate(items):
        try:
            identity = normalize(pii.IDENTITY, data["identity_number"], "identity_number", today=today)
            phone = normalize(pii.PHONE, data.get("phone"), "phone")
        except DomainError as exc:
            outcomes[i] = exc
            continue
        wanted.append((i, data, identity, phone, keys.blind_index(pii.IDENTITY, identity)))
    known, taken = _known([w[4] for w in wanted], [w[1]["id"] for w in wanted if w[1].get("id")])
    new, now = [], utcnow()
    for i, data, identity, phone, bidx in wanted:
        if bidx in known:
            outcomes[i] = Registered(known[bidx], False)
        elif data.get("id") in taken:
            outcomes[i] = _id_taken()
        else:
            row = _resident_row(actor, data, identity, phone, bidx, now, keys)
            known[bidx] = row["id"]
            taken.add(row["id"])
            new.append((i, row, identity, phone))
    _mark_out_of_reach(actor, outcomes, {row["id"] for _i, row, *_ in new})
    if new:
        try:
            with db.session.begin_nested():
                bulk.insert_rows(table_of(Resident), [row for _i, row, *_ in new])
        except IntegrityError:
            for i, row, identity, _phone in new:
                outcomes[i] = _insert_one(row, identity)
            # Items that linked to one of these people follow what became of that person.
            became = {row["id"]: outcomes[i] for i, row, *_ in new if outcomes[i] is not None}
            for i, outcome in enumerate(outcomes):
                if isinstance(outcome, Registered) and not outcome.created and outcome.id in became:
                    outcomes[i] = became[outcome.id]
            new = [n for n in new if outcomes[n[0]] is None]
            _mark_out_of_reach(actor, outcomes, {row["id"] for _i, row, *_ in new})
    if actor.user_id is not None:
        for _i, row, *_ in new:
            created_in_unit.note((actor.user_id, row["id"]))
    photos = attachments.stored_among(row["photo_sha256"] for _i, row, *_ in new if row["photo_sha256"])
    for i, row, identity, phone in new:
        outcomes[i] = Registered(row["id"], True, _created_view(row, identity, phone, photos))
    audit.record_many(
        actor,
        "resident.create",
        "resident",
        [(outcomes[i].id, outcomes[i].view, audit_contexts[i] if audit_contexts else None) for i, *_ in new],
    )
    _record_links(actor, outcomes, audit_contexts)
    return outcomes


def in_reach(actor, resident_ids) -> set:
    """Those of ``resident_ids`` the caller may see: in their scope, typed in by them, or matched
    by them before on an identity number they held (a ``resident.link`` event, the logged reason
    for reaching a person another station registered)."""
    ids = list(set(resident_ids))
    if not ids:
        return set()
    # Typed in by them in this very unit (a push's resident, then their residence): no query.
    mine = {i for i in ids if actor.user_id is not None and created_in_unit.holds((actor.user_id, i))}
    ids = [i for i in ids if i not in mine]
    if not ids:
        return mine
    visible = mine | set(
        db.session.execute(
            residents_visible_to(actor)
            .with_only_columns(Resident.id)
            .order_by(None)
            .where(bulk.id_in(Resident.id, ids))
        ).scalars()
    )
    rest = [i for i in ids if i not in visible]
    if rest and actor.user_id is not None:
        visible |= set(
            db.session.execute(
                sa.select(Resident.id).where(bulk.id_in(Resident.id, rest), Resident.created_by_id == actor.user_id)
            ).scalars()
        )
        rest = [i for i in rest if i not in visible]
    if rest and actor.user_id is not None:
        visible |= {
            uuid.UUID(e) for e in audit.recorded_for(actor, "resident.link", "resident", [str(i) for i in rest])
        }
    return visible


def resident_in_reach(actor, resident_id) -> uuid.UUID:
    """A ``resident_id`` a write names, refused as unknown unless the caller may see that person:
    an id alone must not attach anyone to another station's resident."""
    if resident_id not in in_reach(actor, [resident_id]):
        raise field_error("resident_id", "no such resident in your scope")
    return resident_id


def _mark_out_of_reach(actor, outcomes: list, creating: set) -> None:
    """Flag links to people the caller may not see (those this very call creates they may)."""
    linked = [o.id for o in outcomes if isinstance(o, Registered) and not o.created and o.id not in creating]
    if not linked:
        return
    reach = in_reach(actor, linked)
    for i, o in enumerate(outcomes):
        if isinstance(o, Registered) and not o.created and o.id not in reach and o.id not in creating:
            outcomes[i] = Registered(o.id, False, None, False)


def _record_links(actor, outcomes: list, audit_contexts: list | None = None) -> None:
    """A tablet's create matched a person outside its scope by the identity number it held: the
    match is the logged reason that lets the same officer register that person's residence."""
    audit.record_many(
        actor,
        "resident.link",
        "resident",
        [
            (o.id, None, audit_contexts[i] if audit_contexts else None)
            for i, o in enumerate(outcomes)
            if isinstance(o, Registered) and not o.visible
        ],
    )


def _id_taken() -> Conflict:
    return Conflict("a resident with this id already exists", errors={"id": ["already used"]})


class _KnownBefore:
    """What ``look_up_known`` read: the blind indexes and ids asked about, and of those the people
    found ({blind index: id}) and the ids in use. Still true for the rest of the unit (no resident
    is deleted, nor their identity number changed); what was not found yet may be by now, which
    the INSERT's unique keys catch (``_insert_one``), settling as the look-up would have."""

    def __init__(self) -> None:
        self.bidxs: set = set()
        self.ids: set = set()
        self.known: dict = {}
        self.taken: set = set()


def look_up_known(identity_numbers: list, ids: list) -> None:
    """Read, in one query per 500, which of these people (identity numbers as sent: those that are
    no valid number are skipped) and resident ids are known, for the ``register_residents`` calls
    of the rest of the unit: a tablet's push registers a day's people one call each, between
    their residences."""
    keys, today = pii.keys(), workdays.local_now().date()
    bidxs, uuids = [], []
    for raw in identity_numbers:
        if isinstance(raw, str):
            try:
                bidxs.append(keys.blind_index(pii.IDENTITY, normalize(pii.IDENTITY, raw, "", today=today)))
            except DomainError:
                continue
    for raw in ids:
        try:
            uuids.append(raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw)))
        except ValueError:
            continue
    known, taken = _read_known(bidxs, uuids)
    before = memo(_KNOWN_BEFORE, _KnownBefore)
    before.bidxs.update(bidxs)
    before.ids.update(uuids)
    before.known.update(known)
    before.taken |= taken


_KNOWN_BEFORE = "residency.known_before"


def _known(bidxs: list, ids: list) -> tuple[dict, set]:
    """({identity blind index: resident id}, {ids in use}) among ``bidxs`` and ``ids``: what
    ``look_up_known`` read already, and one query per 500 people for the rest."""
    before = memo(_KNOWN_BEFORE, _KnownBefore)
    known = {b: before.known[b] for b in bidxs if b in before.known}
    taken = {i for i in ids if i in before.taken}
    asked_bidxs = [b for b in bidxs if b not in before.bidxs]
    asked_ids = [i for i in ids if i not in before.ids]
    if asked_bidxs or asked_ids:
        more_known, more_taken = _read_known(asked_bidxs, asked_ids)
        known.update(more_known)
        taken |= more_taken
    return known, taken


def _read_known(bidxs: list, ids: list) -> tuple[dict, set]:
    """``_known`` from the database: one query per 500 people."""
    known, taken, step = {}, set(), 500
    wanted = set(bidxs)
    bidxs, ids = list(wanted), list(set(ids))
    for n in range(0, max(len(bidxs), len(ids)), step):
        rows = db.session.execute(
            sa.select(Resident.identity_bidx, Resident.id).where(
                sa.or_(
                    bulk.id_in(Resident.identity_bidx, bidxs[n : n + step], "bidxs"),
                    bulk.id_in(Resident.id, ids[n : n + step]),
                )
            )
        )
        for bidx, resident_id in rows:
            taken.add(resident_id)
            if bidx in wanted:
                known[bidx] = resident_id
    return known, taken


def _resident_row(actor, data: dict, identity: str, phone: str | None, bidx: str | None, now, keys: pii.Keys) -> dict:
    return {
        "id": data.get("id") or new_id(),
        # name and sex are required by the schema; the others take the declared default
        **{name: data.get(name, default) for name, default in resident_fields.PLAIN_DEFAULTS.items()},
        "identity_enc": keys.encrypt(pii.IDENTITY, identity),
        "identity_bidx": bidx,
        "phone_enc": keys.encrypt(pii.PHONE, phone),
        "phone_bidx": keys.blind_index(pii.PHONE, phone),
        "version": 1,
        "field_versions": {},
        "created_by_id": actor.user_id,
        "created_at": now,
        "updated_at": now,
    }


def _created_view(row: dict, identity: str, phone: str | None, photos_stored: set) -> dict:
    """``ResidentOut`` of the new row, from the numbers in plain rather than decrypted again."""
    photo = row["photo_sha256"]
    return {
        "id": str(row["id"]),
        **{name: row[name] for name in resident_fields.PLAIN},
        "identity_number": mask_identity(identity),
        "phone": mask_phone(phone),
        "photo_stored": (photo in photos_stored) if photo else None,
        "version": row["version"],
    }


def _insert_one(row: dict, identity: str):
    """One new resident in its own savepoint: ``None`` once inserted, else linked to whoever
    registered the person meanwhile (or refused, when the id is what clashed)."""
    try:
        with db.session.begin_nested():
            bulk.insert_rows(table_of(Resident), [row])
    except IntegrityError:
        existing = find_by_identity(identity)  # registered concurrently by someone else
        return Registered(existing.id, False) if existing is not None else _id_taken()
    return None


def create_or_link(actor, data: dict) -> tuple[Resident, bool]:
    """Online, a person known outside the caller's scope is refused without a word about them:
    registering their residence (the person inline) is the way to link, and it is audited."""
    outcome = register_resident(actor, data)
    if not outcome.visible:
        raise Conflict(
            "a resident with this identity number is registered elsewhere; register their residence "
            "with the person inline to link them",
            slug="resident-exists-elsewhere",
            errors={"identity_number": ["registered elsewhere"]},
        )
    db.session.flush()
    return db.session.get_one(Resident, outcome.id), outcome.created


def update_resident(actor, resident_id, data: dict) -> Resident:
    resident = resident_for(actor, resident_id, lock=True)
    base = data.pop("base_version", None)
    if base is not None and base != resident.version:
        raise Conflict(
            f"the resident changed since version {base} (now {resident.version}); reload and retry",
            slug="stale-version",
            current_version=resident.version,
        )
    before = resident_snapshot(resident)
    changed = [key for key in resident_fields.PLAIN if key in data and getattr(resident, key) != data[key]]
    for key in changed:
        setattr(resident, key, data[key])
    if "phone" in data:
        phone = normalize(pii.PHONE, data["phone"], "phone")
        if pii.blind_index(pii.PHONE, phone) != resident.phone_bidx:
            changed.append("phone")
            resident.phone_enc = pii.encrypt(pii.PHONE, phone)
            resident.phone_bidx = pii.blind_index(pii.PHONE, phone)
    if not changed:
        return resident
    resident.version += 1
    resident.field_versions = {**(resident.field_versions or {}), **dict.fromkeys(changed, resident.version)}
    db.session.flush()
    audit.record(actor, "resident.update", "resident", resident.id, before=before, after=resident_snapshot(resident))
    db.session.flush()
    return resident


def search(actor, filters: dict):
    query = residents_visible_to(actor)
    if filters.get("identity_number"):
        identity = normalize(pii.IDENTITY, filters["identity_number"], "identity_number")
        query = query.where(Resident.identity_bidx == pii.blind_index(pii.IDENTITY, identity))
    if filters.get("phone"):
        phone = normalize(pii.PHONE, filters["phone"], "phone")
        query = query.where(Resident.phone_bidx == pii.blind_index(pii.PHONE, phone))
    if filters.get("name"):
        query = query.where(Resident.name.like(f"%{filters['name'].strip()}%"))
    return query


def read_pii(actor, resident_id, reason: str | None = None) -> dict:
    """The unmasked numbers, audited as ``pii.read``; the console also records why (its unmask
    form requires a reason)."""
    resident = resident_for(actor, resident_id)
    after: dict = {"fields": ["identity_number", "phone"]}
    if reason is not None:
        after["reason"] = reason
    audit.record(actor, "pii.read", "resident", resident.id, after=after)
    db.session.flush()
    return {
        "id": resident.id,
        "identity_number": pii.decrypt(pii.IDENTITY, resident.identity_enc),
        "phone": pii.decrypt(pii.PHONE, resident.phone_enc),
    }


# --- registrations ---------------------------------------------------------------------------


def _area_in_scope(actor, area_id) -> Area:
    """Read once per unit for each area (a push registers a day's people, mostly in one area)."""
    area = memo(
        ("residency.area_in_scope", actor.user_id, actor.role, actor.station_id, area_id),
        lambda: db.session.execute(areas_visible_to(actor).where(Area.id == area_id)).scalar_one_or_none(),
    )
    if area is None or not area.active:
        raise field_error("area_id", "not an area you register residents in")
    return area


def _housing_details(data: dict) -> dict:
    housing = data["housing"]
    if housing == "rented" and not data.get("landlord_name"):
        raise field_error("landlord_name", "is required for rented housing")
    if housing == "employer" and not data.get("employer_name"):
        raise field_error("employer_name", "is required for employer housing")
    landlord_phone = normalize(pii.PHONE, data.get("landlord_phone"), "landlord_phone")
    return {
        "landlord_name": data.get("landlord_name"),
        "employer_name": data.get("employer_name"),
        "landlord_phone_enc": pii.encrypt(pii.PHONE, landlord_phone),
    }


def register_residence(actor, data: dict) -> Registration:
    """At the door or the window: the resident (new or linked by identity number) lives at an
    address of an area since a date. One active registration per resident per station."""
    if (data.get("resident") is None) == (data.get("resident_id") is None):
        raise field_error("resident_id", "give exactly one of resident_id and resident")
    area = _area_in_scope(actor, data["area_id"])
    today = workdays.local_now().date()
    if data["start_date"] > today:
        raise field_error("start_date", "must not be in the future")
    if data.get("resident") is not None:
        resident_id = register_resident(actor, data["resident"]).id
    else:
        resident_id = resident_in_reach(actor, data["resident_id"])
    registration = Registration(
        resident_id=resident_id,
        station_id=area.station_id,
        area_id=area.id,
        address=data["address"],
        start_date=data["start_date"],
        maturity_date=maturity_date(data["start_date"]),
        reason=data["reason"],
        housing=data["housing"],
        status="active",
        active_key=f"{resident_id}:{area.station_id}",
        registered_by_id=actor.user_id,
        device_id=actor.device_id,
        **_housing_details(data),
    )
    if data.get("id"):
        registration.id = data["id"]
    try:
        with db.session.begin_nested():
            db.session.add(registration)
    except IntegrityError:
        raise Conflict(
            "this resident already has an active registration at this station; end it first",
            slug="active-registration-exists",
            errors={"resident_id": ["active registration exists"]},
        ) from None
    audit.record(
        actor,
        "registration.create",
        "registration",
        registration.id,
        after=registration_snapshot(registration),
        station_id=registration.station_id,
    )
    db.session.flush()
    return registration


REGISTRATION_FIELDS = ("address", "reason", "housing", "landlord_name", "employer_name")


def update_registration(actor, registration_id, data: dict) -> Registration:
    """Correct an active registration's address or housing details (the start date, and so the
    maturity, is not editable: a wrong start is ended and registered again)."""
    registration = registration_for(actor, registration_id, lock=True)
    if registration.status != "active":
        raise Conflict("the registration has ended", slug="registration-ended")
    merged = {**{f: getattr(registration, f) for f in REGISTRATION_FIELDS}, **data}
    details = _housing_details(merged)
    before = registration_snapshot(registration)
    changed = [f for f in REGISTRATION_FIELDS if f in data and getattr(registration, f) != data[f]]
    for f in changed:
        setattr(registration, f, data[f])
    if "landlord_phone" in data:
        registration.landlord_phone_enc = details["landlord_phone_enc"]
        changed.append("landlord_phone")
    if not changed:
        return registration
    registration.version += 1
    registration.field_versions = {
        **(registration.field_versions or {}),
        **dict.fromkeys(changed, registration.version),
    }
    db.session.flush()
    audit.record(
        actor,
        "registration.update",
        "registration",
        registration.id,
        before=before,
        after=registration_snapshot(registration),
        station_id=registration.station_id,
    )
    db.session.flush()
    return registration


def end_registration(actor, registration_id, end_date: date, reason: str) -> Registration:
    """Moving away or cancelling stops the six-month clock; a new registration starts a new one."""
    registration = registration_for(actor, registration_id, lock=True)
    if registration.status != "active":
        raise Conflict("the registration has already ended", slug="registration-ended")
    if end_date < registration.start_date or end_date > workdays.local_now().date():
        raise field_error("end_date", "must be between the start date and today")
    before = registration_snapshot(registration)
    registration.status, registration.end_date, registration.end_reason = "ended", end_date, reason
    registration.active_key = None
    registration.version += 1
    db.session.flush()

    cancel_reminders(registration.id)  # its maturity SMS not yet sent die with it, in this transaction
    audit.record(
        actor,
        "registration.end",
        "registration",
        registration.id,
        before=before,
        after=registration_snapshot(registration),
        station_id=registration.station_id,
    )
    db.session.flush()
    return registration


def registrations(actor, filters: dict):
    query = registrations_visible_to(actor)
    for key, column in (
        ("area_id", Registration.area_id),
        ("status", Registration.status),
        ("resident_id", Registration.resident_id),
    ):
        if filters.get(key) is not None:
            query = query.where(column == filters[key])
    if filters.get("matures_by") is not None:
        query = query.where(Registration.maturity_date <= filters["matures_by"])
    return query
