"""Applying a tablet's mutations: in seq order, each in its own savepoint, each through the same
service function as the online endpoint, each result stored for idempotent replay."""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson
import sqlalchemy as sa
from flask import current_app

from app import bulk, metrics, pii, unit_of_work
from app.auth.actor import Actor
from app.auth.models import Device
from app.context import audit_context
from app.db import new_id, table_of, utcnow
from app.errors import DomainError, field_error, phrase
from app.extensions import db
from app.unit_of_work import is_retryable
from sync import documents, handling, registry
from sync.handling import Answer, JsonObject, Outcome, as_uuid, load
from sync.models import SyncConflict, SyncMutation

MAX_SKEW_SECONDS = 366 * 86400  # what is stored of a device's clock skew, either way

log = logging.getLogger("doorstep.sync")


def _hash(m: JsonObject) -> str:
    keys = ("seq", "entity", "op", "id", "base_version", "data", "occurred_at")
    return hashlib.sha256(orjson.dumps({k: m.get(k) for k in keys}, option=orjson.OPT_SORT_KEYS)).hexdigest()


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


def instant(value: object, field: str) -> datetime:
    """An RFC 3339 instant: a full date and time with its UTC offset, nothing looser (ISO 8601's
    week dates, basic format or a missing offset would each be a guess)."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise field_error(field, "must be an RFC 3339 time with its UTC offset, e.g. 2026-12-04T09:30:00+08:00")
    try:
        return datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
    except ValueError:
        raise field_error(field, "is not a real date and time") from None


# --- the push --------------------------------------------------------------------------------


def _record_doc(outcome: Outcome) -> tuple[JsonObject | None, int | None]:
    kind = registry.DOCUMENTS.get(outcome.entity)
    if kind is None:
        return {"id": str(outcome.record_id)}, None
    obj = db.session.get(kind.model, outcome.record_id)
    if obj is None:
        return None, None
    document = documents.build_cached(db.session, outcome.entity, obj)
    return {"id": str(outcome.record_id), **orjson.loads(document.doc)}, document.version


def _rejected(m: JsonObject, errors: dict[str, Any], slug: str) -> JsonObject:
    return {
        "mutation_id": m["mutation_id"],
        "seq": m["seq"],
        "status": "rejected",
        "replayed": False,
        "version": None,
        "record": None,
        "conflict": None,
        "errors": {**errors, "_type": [slug]},
    }


def _refused(m: JsonObject, exc: DomainError) -> JsonObject:
    return _rejected(m, exc.errors or {"_": [exc.detail]}, exc.slug)


class Stored(NamedTuple):
    """A settled mutation as a replay needs it."""

    device_id: uuid.UUID
    request_hash: str
    result: JsonObject


class Batch:
    """What one push shares across its mutations: the stored results of the mutation ids it
    carries (read in one query rather than one per mutation), the rows settling them, written
    together at the end (``write``) rather than one INSERT each, the creates it applied (what a
    later mutation naming a tablet's id is mapped through, ``handling.known_id``) and the device's
    last settled seq, stored once at the end rather than an UPDATE of the device per mutation."""

    def __init__(self, mutations: list[JsonObject], received_at: datetime, last_seq: int) -> None:
        self.window = Plausible(received_at)
        self.last_seq = last_seq
        self.created: dict[tuple[str, str], JsonObject] = {}
        ids = list({as_uuid(m["mutation_id"], "mutation_id") for m in mutations})
        t = SyncMutation.__table__.c
        self.stored: dict[uuid.UUID, Stored] = {}
        self.pending: list[JsonObject] = []
        self.conflicts: list[JsonObject] = []
        for i in range(0, len(ids), 500):
            for mutation_id, *stored in db.session.execute(
                sa.select(t.mutation_id, t.device_id, t.request_hash, t.result).where(
                    bulk.id_in(t.mutation_id, ids[i : i + 500])
                )
            ):
                self.stored[mutation_id] = Stored(*stored)

    def write(self) -> None:
        """Insert the settled mutations (and then their conflicts, which refer to them)."""
        bulk.insert_rows(table_of(SyncMutation), self.pending)
        bulk.insert_rows(table_of(SyncConflict), self.conflicts)
        self.pending, self.conflicts = [], []


class Plausible:
    """The window a device's ``occurred_at`` must fall in, fixed once per push, and the instants
    already read (a tablet stamps its mutations to the second: a push repeats them)."""

    def __init__(self, received_at: datetime) -> None:
        config = current_app.config
        self.tolerance = config["SYNC_FUTURE_TOLERANCE_SECONDS"]
        self.earliest = datetime(config["SYNC_EARLIEST_YEAR"], 1, 1, tzinfo=UTC)
        self.latest = received_at + timedelta(seconds=self.tolerance)
        self.read: dict[str, datetime] = {}

    def occurred_at(self, m: JsonObject) -> datetime:
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
                raise field_error(
                    "occurred_at",
                    phrase(
                        "must lie between %(earliest)s and the server's clock plus %(seconds)s s: "
                        "is the device's clock right?",
                        earliest=self.earliest.date().isoformat(),
                        seconds=self.tolerance,
                    ),
                )
            self.read[value] = at
        return at


def _audit_extra(m: JsonObject, occurred_at: datetime | None, received: str) -> JsonObject:
    return {
        "mutation_id": str(m["mutation_id"]),
        "seq": m["seq"],
        "occurred_at": occurred_at.isoformat() if occurred_at else None,
        "received_at": received,
    }


def _applied(m: JsonObject, outcome: Outcome) -> JsonObject:
    record, version = _record_doc(outcome)
    return _answer(
        m, "conflict" if outcome.conflict else "applied", record, version, _public_conflict(outcome.conflict)
    )


def _answer(
    m: JsonObject, status: str, record: JsonObject | None, version: int | None, conflict: JsonObject | None = None
) -> JsonObject:
    return {
        "mutation_id": m["mutation_id"],
        "seq": m["seq"],
        "status": status,
        "replayed": False,
        "version": version,
        "record": record,
        "conflict": conflict,
        "errors": None,
    }


def _seq_refusal(device: Device, m: JsonObject, batch: Batch) -> JsonObject | None:
    """The rule for a seq at or below the device's last settled one (see docs/sync-protocol.md):
    a seq an applied (or conflicting) mutation holds is ``seq-reused`` (a tablet restored from a
    backup, a duplicate within one push), any other is ``seq-not-rising``; either settles as
    rejected, kept for staff, and the tablet moves on."""
    if m["seq"] > batch.last_seq:
        return None
    batch.write()  # a seq this push settled already counts
    used = db.session.execute(
        sa.select(SyncMutation.mutation_id).where(  # the partial unique index
            SyncMutation.device_id == device.id, SyncMutation.seq == m["seq"], SyncMutation.status != "rejected"
        )
    ).first()
    if used is not None:
        return _rejected(m, {"seq": [f"already settled for mutation {used[0]}"]}, "seq-reused")
    return _rejected(m, {"seq": [f"not above the last settled seq {batch.last_seq}"]}, "seq-not-rising")


def _unknown(m: JsonObject) -> JsonObject:
    if m["entity"] not in registry.KNOWN_ENTITIES:
        return _rejected(m, {"entity": [f"unknown entity {m['entity']!r}"]}, "unknown-mutation")
    return _rejected(m, {"op": [f"no mutation {m['entity']}.{m['op']}"]}, "unknown-mutation")


def _internal(m: JsonObject, exc: BaseException) -> JsonObject:
    """An unexpected failure settles the one mutation it hit (logged with the request and mutation
    ids, never its data): a push that answered 500 would be rolled back whole and sent again
    forever, stopping the officer's day at one bad mutation. The log line carries the request id
    (``app.logs``)."""
    log.error(
        "mutation failed unexpectedly",
        exc_info=exc,
        extra={
            "mutation_id": str(m["mutation_id"]),
            "seq": m["seq"],
            "entity": m["entity"],
            "op": m["op"],
        },
    )
    return _rejected(m, {"_": ["the server failed to apply this mutation; it has been logged"]}, "internal-error")


def apply_one(actor: Actor, device: Device, m: JsonObject, batch: Batch) -> JsonObject:
    mutation_id = as_uuid(m["mutation_id"], "mutation_id")
    stored = batch.stored.get(mutation_id)
    if stored is not None:
        # Another device's result is never handed out, whatever the content: only the device that
        # pushed a mutation may replay it.
        if stored.device_id == device.id and stored.request_hash == _hash(m):
            return {**stored.result, "replayed": True}
        return _rejected(m, {"mutation_id": ["mutation-id-reused"]}, "mutation-id-reused")
    received_at = utcnow()
    conflict: JsonObject | None = None
    occurred_at: datetime | None = None
    key = (m["entity"], m["op"])
    mutation = registry.MUTATIONS.get(key)
    result = _seq_refusal(device, m, batch)
    if result is None:
        try:
            occurred_at = batch.window.occurred_at(m)
        except DomainError as exc:
            result = _refused(m, exc)
    if result is not None:
        pass
    elif key in registry.BATCHES:
        return apply_run(actor, device, [m], batch)[0]
    elif mutation is None:
        result = _unknown(m)
    else:
        token = audit_context.set(_audit_extra(m, occurred_at, received_at.isoformat()))
        try:
            # One savepoint per pushed mutation: a refused one is undone alone, inside the push's
            # unit of work (the request), which commits them all with their stored results.
            with db.session.begin_nested():
                outcome = mutation.handler(actor, m, load(mutation.schema, m["data"]))
                db.session.flush()
                result = _applied(m, outcome)
            conflict = outcome.conflict
        except DomainError as exc:
            result = _refused(m, exc)
        except Exception as exc:
            if is_retryable(exc):
                raise  # a deadlock or lost connection: the whole push is retried, or answered 503
            result = _internal(m, exc)
        finally:
            audit_context.reset(token)
    batch.last_seq = max(batch.last_seq, m["seq"])
    return _settle(actor, device, m, batch, result, conflict, occurred_at, received_at)


def apply_run(actor: Actor, device: Device, run: list[JsonObject], batch: Batch) -> list[JsonObject]:
    """A run of new mutations of one batched (entity, op) — ``resident.create``: most of what a
    tablet brings back from a day of registering people — through the domain's batch handler, the
    service behind the online endpoint, in one call: one look-up and one INSERT for the run instead
    of a savepoint, a query and a flush per mutation. Each is still on its own: one refused (a bad
    identity number, an id already used) is rejected alone, and if the INSERT fails the service
    falls back to a savepoint per record; if anything else fails, each is tried again on its own."""
    if not run:
        return []
    handling = registry.BATCHES[(run[0]["entity"], run[0]["op"])]
    received_at = utcnow()
    received = received_at.isoformat()
    occurred: list[datetime | None] = [None] * len(run)
    results: dict[int, JsonObject] = {}  # by the mutation's place in the run; every place is filled
    sent: list[int] = []
    items: list[JsonObject] = []
    contexts: list[JsonObject] = []
    for k, m in enumerate(run):
        try:
            occurred[k] = batch.window.occurred_at(m)
            items.append({**load(handling.schema, m["data"]), "id": as_uuid(m["id"], "id")})
        except DomainError as exc:
            results[k] = _refused(m, exc)
            continue
        sent.append(k)
        contexts.append(_audit_extra(m, occurred[k], received))
    try:
        with db.session.begin_nested():
            outcomes = handling.handler(actor, items, contexts)
            for k, outcome in zip(sent, outcomes, strict=True):
                if isinstance(outcome, DomainError):
                    results[k] = _refused(run[k], outcome)
                elif isinstance(outcome, Answer):  # answered from what the service wrote: nothing to read back
                    results[k] = _answer(run[k], "applied", outcome.record, outcome.version)
                else:
                    results[k] = _applied(run[k], outcome)
    except Exception as exc:
        if is_retryable(exc):
            raise
        if len(sent) > 1:  # find the one that failed: each on its own
            tried = set(sent)
            return [
                r
                for k, m in enumerate(run)
                for r in (
                    apply_run(actor, device, [m], batch)
                    if k in tried
                    else [_settle(actor, device, m, batch, results[k], None, occurred[k], received_at)]
                )
            ]
        for k in sent:
            results[k] = _internal(run[k], exc)
    batch.last_seq = max(batch.last_seq, max(m["seq"] for m in run))
    return [_settle(actor, device, m, batch, results[k], None, occurred[k], received_at) for k, m in enumerate(run)]


def _settle(
    actor: Actor,
    device: Device,
    m: JsonObject,
    batch: Batch,
    result: JsonObject,
    conflict: JsonObject | None,
    occurred_at: datetime | None,
    received_at: datetime,
) -> JsonObject:
    """Store the mutation's result (for replay, and for staff when rejected or in conflict). The
    payload is kept only when refused: an applied mutation lives on in its record and its audit
    event."""
    mutation_id = as_uuid(m["mutation_id"], "mutation_id")
    request_hash = _hash(m)
    batch.stored[mutation_id] = Stored(device.id, request_hash, result)
    if m["op"] == "create" and result["status"] == "applied":
        batch.created[(m["entity"], str(m["id"]))] = result
    batch.pending.append(
        {
            "mutation_id": mutation_id,
            "device_id": device.id,
            "user_id": actor.user_id,
            "station_id": actor.station_id,
            "seq": m["seq"],
            "request_hash": request_hash,
            "entity": m["entity"],
            "op": m["op"],
            "record_id": str(m["id"]),
            "payload": _stored_payload(m) if result["status"] == "rejected" else None,
            "status": result["status"],
            "result": result,
            "occurred_at": occurred_at,
            "received_at": received_at,
            "resolved_at": None,
            "resolved_by_id": None,
            "resolution": None,
        }
    )
    if conflict:
        batch.conflicts.append(
            {
                "id": new_id(),
                "mutation_id": mutation_id,
                "device_id": device.id,
                "station_id": actor.station_id,
                "entity": m["entity"],
                "record_id": str(m["id"]),
                "kind": conflict["kind"],
                "fields": conflict["fields"],
                "status": "open",
                "created_at": received_at,
                "resolved_at": None,
                "resolved_by_id": None,
                "resolution": None,
            }
        )
    return result


def measure_skew(sent_at: str | None, received_at: datetime) -> int | None:
    """The device's clock minus the server's, in seconds, from when the push says it was sent and when it
    arrived (network time counts against it, by seconds at most). ``occurred_at`` cannot measure
    it: it tells how long a mutation waited offline. Clamped when stored: a clock off by decades
    is shown as off by a year, which says the same to staff."""
    if sent_at is None:
        return None
    skew = (instant(sent_at, "sent_at") - received_at).total_seconds()
    return int(max(-MAX_SKEW_SECONDS, min(MAX_SKEW_SECONDS, skew)))


def _public_conflict(conflict: JsonObject | None) -> JsonObject | None:
    if not conflict:
        return None
    fields = {
        f: {k: v for k, v in sides.items() if k != "device_enc"} if isinstance(sides, dict) else sides
        for f, sides in conflict["fields"].items()
    }
    return {"kind": conflict["kind"], "fields": fields}


def _stored_payload(m: JsonObject) -> JsonObject:
    """Kept for staff when rejected: identity and phone numbers encrypted, never in plain JSON,
    wherever they sit (a registration carries its resident inline) and whatever their JSON type."""
    return {**{k: v for k, v in m.items() if k != "data"}, "data": _sealed(m.get("data") or {})}


def _sealed(value: object) -> object:
    if isinstance(value, list):
        return [_sealed(v) for v in value]
    if not isinstance(value, dict):
        return value
    out: JsonObject = {}
    for key, v in value.items():
        kind = pii.IDENTITY if key.endswith("identity_number") else pii.PHONE if key.endswith("phone") else None
        if kind is not None and isinstance(v, (str, int, float)) and not isinstance(v, bool):
            out[key] = {"masked": pii.MASKERS[kind](str(v)), "enc": pii.encrypt(kind, str(v)), "kind": kind}
        else:
            out[key] = _sealed(v)
    return out


def locked_device(device_id: uuid.UUID) -> Device:
    """The pushing device's row, locked for the push: two pushes of one tablet (a retry racing its
    own first attempt) take turns, so the second finds the first's stored results and replays
    them, never a second effect nor a unique violation."""
    return db.session.execute(
        sa.select(Device).where(Device.id == device_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one()


def push(actor: Actor, device_id: uuid.UUID, mutations: list[JsonObject], sent_at: str | None = None) -> JsonObject:
    """Settle the mutations in seq order. Consecutive new mutations of one batched (entity, op)
    (resident creates) go to the service together (``apply_run``); everything else, and anything
    that could be a replay, one by one (``apply_one``). Every mutation settles — applied,
    conflict, rejected — whatever it carries; only the database itself failing fails the push.
    The device's row changes once, at the end (its skew, last seq and push time): changed at the
    start, every mutation's flush would write it again."""
    received_at = utcnow()
    skew = measure_skew(sent_at, received_at)
    device = locked_device(device_id)
    batch = Batch(mutations, received_at, device.last_seq)
    last = device.last_seq
    _prepare(actor, mutations, batch)
    with handling.pushed_creates(batch.created):
        results = _apply_all(actor, device, mutations, batch, last)
    batch.write()
    if skew is not None:
        device.clock_skew_seconds = skew
    device.last_seq = batch.last_seq
    device.last_push_at = received_at
    # Counted once the push's unit of work has committed: a rolled-back push settled nothing.
    unit_of_work.on_commit(lambda: metrics.sync_mutations_settled(results))
    return {"protocol": 1, "results": results, "last_seq": device.last_seq}


def _prepare(actor: Actor, mutations: list[JsonObject], batch: Batch) -> None:
    """Each batched (entity, op)'s ``prepare`` with the push's mutations of it not settled before.
    A read-ahead saves statements and decides nothing: one that fails unexpectedly is logged and
    undone to its savepoint, and each mutation then reads for itself. Failing the push instead
    would roll it back whole, and the tablet would send it again forever."""
    for key, kind in registry.BATCHES.items():
        if kind.prepare is not None:
            new = [
                m
                for m in mutations
                if (m["entity"], m["op"]) == key and as_uuid(m["mutation_id"], "mutation_id") not in batch.stored
            ]
            if not new:
                continue
            try:
                with db.session.begin_nested():
                    kind.prepare(actor, new)
            except Exception as exc:
                if is_retryable(exc):
                    raise  # the database's failure: the whole push is retried, or answered 503
                log.error(
                    "a push's read-ahead failed; its mutations read for themselves",
                    exc_info=exc,
                    extra={"entity": key[0], "op": key[1]},
                )


def _apply_all(actor: Actor, device: Device, mutations: list[JsonObject], batch: Batch, last: int) -> list[JsonObject]:
    """Each mutation in seq order, runs of new batched ones together."""
    results: list[JsonObject] = []
    run: list[JsonObject] = []
    in_run: set[uuid.UUID] = set()
    run_key: tuple[str, str] | None = None
    for m in sorted(mutations, key=lambda m: m["seq"]):  # stable: the first of equal seqs leads
        mutation_id = as_uuid(m["mutation_id"], "mutation_id")
        seen = mutation_id in batch.stored or mutation_id in in_run  # a replay, or a reused id
        new = not seen and m["seq"] > last
        key = (m["entity"], m["op"])
        if run and key != run_key:
            results += apply_run(actor, device, run, batch)
            run, in_run = [], set()
        if new and key in registry.BATCHES:
            run.append(m)
            in_run.add(mutation_id)
            run_key = key
        else:
            results += apply_run(actor, device, run, batch)
            run, in_run = [], set()
            results.append(apply_one(actor, device, m, batch))
        if not seen:  # what settling it does to the device's last seq
            last = max(last, m["seq"])
    results += apply_run(actor, device, run, batch)
    return results
