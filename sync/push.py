"""Applying a tablet's mutations: in seq order, each in its own savepoint, each through the same
service function as the online endpoint, each result stored for idempotent replay."""
from __future__ import annotations

import hashlib
import logging
import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

import orjson
import sqlalchemy as sa
from flask import current_app
from marshmallow import ValidationError

from app import bulk, fastload, metrics, pii
from app.auth.models import Device
from app.context import audit_context, current_meta
from app.db import deferred_commits, new_id, utcnow
from app.errors import Conflict, DomainError, NotFound, Unprocessable, field_error
from app.extensions import db
from app.schemas import In
from app.unit_of_work import is_retryable
from appointments.dispatch import services as visits
from appointments.dispatch import states as visit_states
from appointments.dispatch.schemas import OutcomeIn
from doorstep_protocol.limits import MAX_MUTATIONS_PER_PUSH as MAX_MUTATIONS
from doorstep_protocol.merge import merge_fields
from field_api.delivery import services as deliveries
from field_api.delivery.schemas import HandoverIn
from field_api.permits import services as applications
from field_api.permits.schemas import ApplicationIn, MaterialIn
from field_api.residency import services as residents
from field_api.residency.models import Resident
from field_api.residency.schemas import EndRegistrationIn, RegistrationIn, RegistrationPatch, ResidentIn, ResidentPatch
from field_api.scoping import registration_for, resident_for
from sync import documents
from sync.models import SyncConflict, SyncMutation

MAX_SKEW_SECONDS = 366 * 86400  # what is stored of a device's clock skew, either way

log = logging.getLogger("doorstep.sync")


class EmptyIn(In):
    """visit.start carries no data."""


class Outcome:
    """What one mutation did: the record (entity, id) to send back, and any conflict."""

    def __init__(self, entity: str, record_id, conflict: dict | None = None):
        self.entity, self.record_id, self.conflict = entity, record_id, conflict


def _hash(m: dict) -> str:
    keys = ("seq", "entity", "op", "id", "base_version", "data", "occurred_at")
    return hashlib.sha256(orjson.dumps({k: m.get(k) for k in keys}, option=orjson.OPT_SORT_KEYS)).hexdigest()


# --- field-by-field merge --------------------------------------------------------------------

def _merge(record, base_version, data: dict, current: dict) -> tuple[dict, dict]:
    """Fields the server has not changed since ``base_version`` take the device's value; a field
    both changed keeps the server's value and goes into the conflict."""
    return merge_fields(record.field_versions or {}, base_version, data, current)


def _mask_conflict(clashes: dict) -> dict:
    """Conflicts are stored for staff: phone numbers masked, the device's value kept encrypted."""
    out = {}
    for field, sides in clashes.items():
        if field.endswith("phone"):
            out[field] = {"server": pii.mask_phone(sides["server"]), "device": pii.mask_phone(sides["device"]),
                          "device_enc": pii.encrypt(pii.PHONE, sides["device"])}
        else:
            out[field] = sides
    return out


def _resident_values(r: Resident) -> dict:
    return {"name": r.name, "sex": r.sex, "ethnicity": r.ethnicity, "hukou_address": r.hukou_address,
            "photo_sha256": r.photo_sha256, "phone": pii.decrypt(pii.PHONE, r.phone_enc)}


def _normalized_phone(data: dict, field: str) -> dict:
    if data.get(field) is not None:
        try:
            data = {**data, field: pii.normalize_phone(data[field])}
        except pii.InvalidPII as exc:
            raise field_error(field, str(exc)) from None
    return data


# --- ids the device made up for records the server already had --------------------------------

def _resident_id(actor, value, field: str):
    """A tablet that registered someone the server already knew used its own uuid; the create
    answered with the existing resident's id. Later mutations of that device may still name the
    tablet's uuid (sent before the answer came): map it, so the officer's work does not fail."""
    client_id = _uuid(value, field)
    if db.session.get(Resident, client_id) is not None:
        return client_id
    linked = db.session.execute(sa.select(SyncMutation.result).where(
        SyncMutation.device_id == actor.device_id, SyncMutation.entity == "resident", SyncMutation.op == "create",
        SyncMutation.record_id == str(client_id), SyncMutation.status == "applied")).scalar_one_or_none()
    if linked and linked.get("record"):
        return uuid.UUID(linked["record"]["id"])
    return client_id


# --- handlers: one per (entity, op), each calling the online service ---------------------------
# Each loads the mutation's data through the input schema of the online endpoint for the same
# action, so a tablet's malformed mutation is rejected naming the field, exactly as online.

def _load(schema, data: dict) -> dict:
    try:
        return fastload.loader(schema)(data)
    except ValidationError as exc:
        raise Unprocessable("; ".join(f"{k}: {v}" for k, v in exc.messages.items()), errors=exc.messages) from None


class VersionAhead(Conflict):
    slug, title = "version-ahead", "The device names a version the server never had"


def _not_ahead(record, m) -> None:
    """A ``base_version`` above the record's version is no edit of anything the server holds (a
    tablet restored from a backup of another server, a client bug): merging it would overwrite
    staff's edits as if the device had seen them. Refused, and kept for a person."""
    base = m.get("base_version")
    if record is not None and base is not None and base > record.version:
        raise VersionAhead(f"base_version {base} is ahead of the server's version {record.version}",
                           errors={"base_version": [f"ahead of the server's version {record.version}"]})


def resident_update(actor, m):
    data = _normalized_phone(_load(ResidentPatch, m["data"]), "phone")
    data.pop("base_version", None)  # the envelope's base_version is the one that counts
    resident = resident_for(actor, _resident_id(actor, m["id"], "id"), lock=True)
    _not_ahead(resident, m)
    apply, clashes = _merge(resident, m.get("base_version"), data, _resident_values(resident))
    if apply:
        residents.update_resident(actor, resident.id, apply)
    return Outcome("resident", resident.id, {"kind": "fields", "fields": _mask_conflict(clashes)} if clashes else None)


def registration_create(actor, m):
    data = _load(RegistrationIn, m["data"])
    data["id"] = _uuid(m["id"], "id")
    if data.get("resident_id") is not None:
        data["resident_id"] = _resident_id(actor, data["resident_id"], "resident_id")
    registration = residents.register_residence(actor, data)
    return Outcome("registration", registration.id)


def registration_update(actor, m):
    data = _normalized_phone(_load(RegistrationPatch, m["data"]), "landlord_phone")
    registration = registration_for(actor, _uuid(m["id"], "id"), lock=True)
    _not_ahead(registration, m)
    current = {f: getattr(registration, f) for f in residents.REGISTRATION_FIELDS}
    current["landlord_phone"] = pii.decrypt(pii.PHONE, registration.landlord_phone_enc)
    apply, clashes = _merge(registration, m.get("base_version"), data, current)
    if apply:
        residents.update_registration(actor, registration.id, apply)
    return Outcome("registration", registration.id,
                   {"kind": "fields", "fields": _mask_conflict(clashes)} if clashes else None)


def registration_end(actor, m):
    data = _load(EndRegistrationIn, m["data"])
    _not_ahead(registration_for(actor, _uuid(m["id"], "id")), m)
    registration = residents.end_registration(actor, _uuid(m["id"], "id"), data["end_date"], data["reason"])
    return Outcome("registration", registration.id)


def _visit_not_ahead(actor, visit_id, m) -> None:
    """Only a visit still in the officer's hands is compared: one reassigned away is a late fact."""
    if m.get("base_version") is not None:
        try:
            _not_ahead(visits.visit_for(actor, visit_id), m)
        except NotFound:
            pass


def visit_start(actor, m):
    _load(EmptyIn, m["data"])
    visit_id = _uuid(m["id"], "id")
    _visit_not_ahead(actor, visit_id, m)
    try:
        visits.start(actor, visit_id)
        return Outcome("visit", visit_id)
    except (NotFound, visit_states.InvalidTransition) as exc:
        # Setting out is a fact too, but it changes nothing once staff moved the visit on.
        return Outcome("visit", visit_id, {"kind": "fact-after-change", "fields": {"start": exc.detail}})


def visit_outcome(actor, m):
    data = _load(OutcomeIn, m["data"])
    _visit_not_ahead(actor, _uuid(m["id"], "id"), m)
    visit, flagged = visits.record_outcome_fact(actor, _uuid(m["id"], "id"), data["outcome"], data["note"])
    return Outcome("visit", visit.id, {"kind": "fact-after-change", "fields": {"outcome": data["outcome"]}}
                   if flagged else None)


def application_create(actor, m):
    data = _load(ApplicationIn, m["data"])
    data["id"] = _uuid(m["id"], "id")
    if data.get("resident_id") is not None:
        data["resident_id"] = _resident_id(actor, data["resident_id"], "resident_id")
    application = applications.submit(actor, data)
    return Outcome("application", application.id)


def application_supply(actor, m):
    data = _load(MaterialIn, m["data"])
    application = applications.supply_material(actor, _uuid(m["id"], "id"), data["kind"], data["attachment_sha256"])
    return Outcome("application", application.id)


def delivery_handover(actor, m):
    data = _load(HandoverIn, m["data"])
    delivery, flagged = deliveries.handover_fact(actor, _uuid(m["id"], "id"), data)
    return Outcome("delivery", delivery.id, {"kind": "fact-after-change", "fields": {"handover": "recorded"}}
                   if flagged else None)


# resident.create is settled by ``apply_creates`` (many at once), never through this table.
BATCHED = ("resident", "create")
HANDLERS = {
    ("resident", "update"): resident_update,
    ("registration", "create"): registration_create, ("registration", "update"): registration_update,
    ("registration", "end"): registration_end, ("visit", "start"): visit_start,
    ("visit", "outcome"): visit_outcome, ("application", "create"): application_create,
    ("application", "supply_material"): application_supply, ("delivery", "handover"): delivery_handover,
}




def _uuid(value, field: str):
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise field_error(field, "must be a UUID") from None



_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


def instant(value, field: str) -> datetime:
    """An RFC 3339 instant: a full date and time with its UTC offset, nothing looser (ISO 8601's
    week dates, basic format or a missing offset would each be a guess)."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise field_error(field, "must be an RFC 3339 time with its UTC offset, e.g. 2026-12-04T09:30:00+08:00")
    try:
        return datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
    except ValueError:
        raise field_error(field, "is not a real date and time") from None


# --- the push --------------------------------------------------------------------------------

def _record_doc(outcome: Outcome) -> tuple[dict | None, int | None]:
    if outcome.entity not in documents.MODELS:
        return {"id": str(outcome.record_id)}, None
    obj = db.session.get(documents.MODELS[outcome.entity], outcome.record_id)
    if obj is None:
        return None, None
    document = documents.build_cached(db.session, outcome.entity, obj)
    return {"id": str(outcome.record_id), **orjson.loads(document.doc)}, document.version


def _rejected(m: dict, errors: dict, slug: str) -> dict:
    return {"mutation_id": m["mutation_id"], "seq": m["seq"], "status": "rejected", "replayed": False,
            "version": None, "record": None, "conflict": None, "errors": {**errors, "_type": [slug]}}


def _refused(m: dict, exc: DomainError) -> dict:
    return _rejected(m, exc.errors or {"_": [exc.detail]}, exc.slug)


class Stored(NamedTuple):
    """A settled mutation as a replay needs it."""

    device_id: uuid.UUID
    request_hash: str
    result: dict


class Batch:
    """What one push shares across its mutations: the stored results of the mutation ids it
    carries (read in one query rather than one per mutation), and the rows settling them, written
    together (``write``) rather than one INSERT each."""

    def __init__(self, mutations: list[dict], received_at: datetime):
        self.window = Plausible(received_at)
        ids = list({_uuid(m["mutation_id"], "mutation_id") for m in mutations})
        t = SyncMutation.__table__.c
        self.stored: dict = {}
        self.pending: list[dict] = []
        self.conflicts: list[dict] = []
        for i in range(0, len(ids), 500):
            for mutation_id, *stored in db.session.execute(sa.select(
                    t.mutation_id, t.device_id, t.request_hash, t.result).where(bulk.id_in(t.mutation_id, ids[i:i + 500]))):
                self.stored[mutation_id] = Stored(*stored)

    def write(self) -> None:
        """Insert the settled mutations (and then their conflicts, which refer to them)."""
        bulk.insert_rows(SyncMutation.__table__, self.pending)
        bulk.insert_rows(SyncConflict.__table__, self.conflicts)
        self.pending, self.conflicts = [], []


class Plausible:
    """The window a device's ``occurred_at`` must fall in, fixed once per push, and the instants
    already read (a tablet stamps its mutations to the second: a push repeats them)."""

    def __init__(self, received_at: datetime):
        config = current_app.config
        self.tolerance = config["SYNC_FUTURE_TOLERANCE_SECONDS"]
        self.earliest = datetime(config["SYNC_EARLIEST_YEAR"], 1, 1, tzinfo=timezone.utc)
        self.latest = received_at + timedelta(seconds=self.tolerance)
        self.read: dict[str, datetime] = {}

    def occurred_at(self, m: dict) -> datetime:
        """When the device says it happened: kept as told, never used for ordering, but it must
        be an instant at all and a plausible one, or the mutation is refused naming it (a tablet
        whose clock reads 1970 or 2100 should be looked at, not believed)."""
        value = m.get("occurred_at")
        at = self.read.get(value) if value is not None else None
        if at is None:
            if value is None:
                raise field_error("occurred_at", "required: when it happened, by the device's clock")
            at = instant(value, "occurred_at")
            if not self.earliest <= at <= self.latest:
                raise field_error("occurred_at", f"must lie between {self.earliest.date().isoformat()} and the "
                                                 f"server's clock plus {self.tolerance} s: is the device's clock right?")
            self.read[value] = at
        return at


def _audit_extra(m: dict, occurred_at, received: str) -> dict:
    return {"mutation_id": str(m["mutation_id"]), "seq": m["seq"],
            "occurred_at": occurred_at.isoformat() if occurred_at else None, "received_at": received}


def _applied(m: dict, outcome: Outcome) -> dict:
    record, version = _record_doc(outcome)
    return _answer(m, "conflict" if outcome.conflict else "applied", record, version, _public_conflict(outcome.conflict))


def _answer(m: dict, status: str, record: dict | None, version: int | None, conflict: dict | None = None) -> dict:
    return {"mutation_id": m["mutation_id"], "seq": m["seq"], "status": status, "replayed": False,
            "version": version, "record": record, "conflict": conflict, "errors": None}


KNOWN_ENTITIES = frozenset(entity for entity, _op in HANDLERS) | {BATCHED[0]}


def _seq_refusal(device, m: dict) -> dict | None:
    """The rule for a seq at or below the device's last settled one (see docs/sync-protocol.md):
    a seq an applied (or conflicting) mutation holds is ``seq-reused`` (a tablet restored from a
    backup, a duplicate within one push), any other is ``seq-not-rising``; either settles as
    rejected, kept for staff, and the tablet moves on."""
    if m["seq"] > device.last_seq:
        return None
    used = db.session.execute(sa.select(SyncMutation.mutation_id).where(  # the partial unique index
        SyncMutation.device_id == device.id, SyncMutation.seq == m["seq"], SyncMutation.status != "rejected")).first()
    if used is not None:
        return _rejected(m, {"seq": [f"already settled for mutation {used[0]}"]}, "seq-reused")
    return _rejected(m, {"seq": [f"not above the last settled seq {device.last_seq}"]}, "seq-not-rising")


def _unknown(m: dict) -> dict:
    if m["entity"] not in KNOWN_ENTITIES:
        return _rejected(m, {"entity": [f"unknown entity {m['entity']!r}"]}, "unknown-mutation")
    return _rejected(m, {"op": [f"no mutation {m['entity']}.{m['op']}"]}, "unknown-mutation")


def _internal(m: dict, exc: BaseException) -> dict:
    """An unexpected failure settles the one mutation it hit (logged with the request and mutation
    ids, never its data): a push that answered 500 would be rolled back whole and sent again
    forever, stopping the officer's day at one bad mutation."""
    meta = current_meta()
    log.error("mutation failed unexpectedly", exc_info=exc, extra={
        "mutation_id": str(m["mutation_id"]), "seq": m["seq"], "entity": m["entity"], "op": m["op"],
        "request_id": meta.request_id if meta else None})
    return _rejected(m, {"_": ["the server failed to apply this mutation; it has been logged"]}, "internal-error")


def apply_one(actor, device, m: dict, batch: Batch) -> dict:
    mutation_id = _uuid(m["mutation_id"], "mutation_id")
    stored = batch.stored.get(mutation_id)
    if stored is not None:
        # Another device's result is never handed out, whatever the content: only the device that
        # pushed a mutation may replay it.
        if stored.device_id == device.id and stored.request_hash == _hash(m):
            return {**stored.result, "replayed": True}
        return _rejected(m, {"mutation_id": ["mutation-id-reused"]}, "mutation-id-reused")
    batch.write()  # a handler may read what earlier mutations settled (``_resident_id``)
    received_at = utcnow()
    conflict = occurred_at = None
    handler = HANDLERS.get((m["entity"], m["op"]))
    result = _seq_refusal(device, m)
    if result is None:
        try:
            occurred_at = batch.window.occurred_at(m)
        except DomainError as exc:
            result = _refused(m, exc)
    if result is not None:
        pass
    elif (m["entity"], m["op"]) == BATCHED:
        return apply_creates(actor, device, [m], batch)[0]
    elif handler is None:
        result = _unknown(m)
    else:
        savepoint = db.session.begin_nested()
        token = audit_context.set(_audit_extra(m, occurred_at, received_at.isoformat()))
        try:
            outcome = handler(actor, m)
            db.session.flush()
            result = _applied(m, outcome)
            savepoint.commit()
            conflict = outcome.conflict
        except DomainError as exc:
            savepoint.rollback()
            result = _refused(m, exc)
        except Exception as exc:
            savepoint.rollback()
            if is_retryable(exc):
                raise  # a deadlock or lost connection: the whole push is retried, or answered 503
            result = _internal(m, exc)
        finally:
            audit_context.reset(token)
    device.last_seq = max(device.last_seq, m["seq"])
    return _settle(actor, device, m, batch, result, conflict, occurred_at, received_at)


def apply_creates(actor, device, run: list[dict], batch: Batch) -> list[dict]:
    """A run of new ``resident.create`` mutations — most of what a tablet brings back from a day
    of registering people — through ``residents.register_residents``, the service behind the
    online endpoint, in one call: one look-up and one INSERT for the run instead of a savepoint,
    a query and a flush per mutation. Each is still on its own: one refused (a bad identity
    number, an id already used) is rejected alone, and if the INSERT fails the service falls back
    to a savepoint per person; if anything else fails, each is tried again on its own."""
    if not run:
        return []
    received_at = utcnow()
    received = received_at.isoformat()
    occurred: list = [None] * len(run)
    results: list = [None] * len(run)
    sent, items, contexts = [], [], []
    for k, m in enumerate(run):
        try:
            occurred[k] = batch.window.occurred_at(m)
            items.append({**_load(ResidentIn, m["data"]), "id": _uuid(m["id"], "id")})
        except DomainError as exc:
            results[k] = _refused(m, exc)
            continue
        sent.append(k)
        contexts.append(_audit_extra(m, occurred[k], received))
    savepoint = db.session.begin_nested()
    try:
        outcomes = residents.register_residents(actor, items, audit_contexts=contexts)
        for k, outcome in zip(sent, outcomes):
            if isinstance(outcome, DomainError):
                results[k] = _refused(run[k], outcome)
            elif outcome.created:  # answered from what the service wrote: nothing to read back
                results[k] = _answer(run[k], "applied",
                                     {"id": outcome.view["id"], **documents.resident_record(outcome.view)},
                                     outcome.view["version"])
            elif not outcome.visible:  # matched someone outside the device's scope: their id, nothing more
                results[k] = _answer(run[k], "applied", {"id": str(outcome.id)}, None)
            else:
                results[k] = _applied(run[k], Outcome("resident", outcome.id))
        savepoint.commit()
    except Exception as exc:
        savepoint.rollback()
        if is_retryable(exc):
            raise
        if len(sent) > 1:  # find the one that failed: each on its own
            tried = set(sent)
            return [r for k, m in enumerate(run)
                    for r in (apply_creates(actor, device, [m], batch) if k in tried else
                              [_settle(actor, device, m, batch, results[k], None, occurred[k], received_at)])]
        for k in sent:
            results[k] = _internal(run[k], exc)
    device.last_seq = max(device.last_seq, max(m["seq"] for m in run))
    return [_settle(actor, device, m, batch, results[k], None, occurred[k], received_at) for k, m in enumerate(run)]


def _settle(actor, device, m: dict, batch: Batch, result: dict, conflict, occurred_at, received_at) -> dict:
    """Store the mutation's result (for replay, and for staff when rejected or in conflict). The
    payload is kept only when refused: an applied mutation lives on in its record and its audit
    event."""
    mutation_id = _uuid(m["mutation_id"], "mutation_id")
    request_hash = _hash(m)
    batch.stored[mutation_id] = Stored(device.id, request_hash, result)
    batch.pending.append({
        "mutation_id": mutation_id, "device_id": device.id, "user_id": actor.user_id, "station_id": actor.station_id,
        "seq": m["seq"], "request_hash": request_hash, "entity": m["entity"], "op": m["op"],
        "record_id": str(m["id"]), "payload": _stored_payload(m) if result["status"] == "rejected" else None,
        "status": result["status"], "result": result, "occurred_at": occurred_at, "received_at": received_at,
        "resolved_at": None, "resolved_by_id": None, "resolution": None})
    if conflict:
        batch.conflicts.append({
            "id": new_id(), "mutation_id": mutation_id, "device_id": device.id, "station_id": actor.station_id,
            "entity": m["entity"], "record_id": str(m["id"]), "kind": conflict["kind"], "fields": conflict["fields"],
            "status": "open", "created_at": received_at, "resolved_at": None, "resolved_by_id": None,
            "resolution": None})
    return result


def measure_skew(device, sent_at: str | None, received_at: datetime) -> None:
    """The device's clock minus the server's, from when the push says it was sent and when it
    arrived (network time counts against it, by seconds at most). ``occurred_at`` cannot measure
    it: it tells how long a mutation waited offline. Clamped when stored: a clock off by decades
    is shown as off by a year, which says the same to staff."""
    if sent_at is None:
        return
    skew = (instant(sent_at, "sent_at") - received_at).total_seconds()
    device.clock_skew_seconds = int(max(-MAX_SKEW_SECONDS, min(MAX_SKEW_SECONDS, skew)))


def _public_conflict(conflict):
    if not conflict:
        return None
    fields = {f: {k: v for k, v in sides.items() if k != "device_enc"} if isinstance(sides, dict) else sides
              for f, sides in conflict["fields"].items()}
    return {"kind": conflict["kind"], "fields": fields}


def _stored_payload(m: dict) -> dict:
    """Kept for staff when rejected: identity and phone numbers encrypted, never in plain JSON,
    wherever they sit (a registration carries its resident inline) and whatever their JSON type."""
    return {**{k: v for k, v in m.items() if k != "data"}, "data": _sealed(m.get("data") or {})}


def _sealed(value):
    if isinstance(value, list):
        return [_sealed(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, v in value.items():
        kind = pii.IDENTITY if key.endswith("identity_number") else pii.PHONE if key.endswith("phone") else None
        if kind is not None and isinstance(v, (str, int, float)) and not isinstance(v, bool):
            out[key] = {"masked": pii.MASKERS[kind](str(v)), "enc": pii.encrypt(kind, str(v)), "kind": kind}
        else:
            out[key] = _sealed(v)
    return out


def locked_device(device_id) -> Device:
    """The pushing device's row, locked for the push: two pushes of one tablet (a retry racing its
    own first attempt) take turns, so the second finds the first's stored results and replays
    them, never a second effect nor a unique violation."""
    return db.session.execute(sa.select(Device).where(Device.id == device_id).with_for_update()
                              .execution_options(populate_existing=True)).scalar_one()


def push(actor, device_id, mutations: list[dict], sent_at: str | None = None) -> dict:
    """Settle the mutations in seq order. Consecutive new resident creates go to the service
    together (``apply_creates``); everything else, and anything that could be a replay, one by
    one (``apply_one``). Every mutation settles — applied, conflict, rejected — whatever it
    carries; only the database itself failing fails the push."""
    received_at = utcnow()
    device = locked_device(device_id)
    measure_skew(device, sent_at, received_at)
    results, run, in_run = [], [], set()
    batch = Batch(mutations, received_at)
    with deferred_commits():
        last = device.last_seq
        for m in sorted(mutations, key=lambda m: m["seq"]):  # stable: the first of equal seqs leads
            mutation_id = _uuid(m["mutation_id"], "mutation_id")
            seen = mutation_id in batch.stored or mutation_id in in_run  # a replay, or a reused id
            new = not seen and m["seq"] > last
            if new and (m["entity"], m["op"]) == BATCHED:
                run.append(m)
                in_run.add(mutation_id)
            else:
                results += apply_creates(actor, device, run, batch)
                run, in_run = [], set()
                results.append(apply_one(actor, device, m, batch))
            if not seen:  # what settling it does to the device's last seq
                last = max(last, m["seq"])
        results += apply_creates(actor, device, run, batch)
        batch.write()
    device.last_push_at = received_at
    db.session.commit()
    metrics.sync_mutations_settled(results)  # counted once committed: a rolled-back push settled nothing
    return {"protocol": 1, "results": results, "last_seq": device.last_seq}
