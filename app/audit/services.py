"""Writing and checking the audit chain.

``record`` joins the caller's transaction: the event commits or rolls back with the change
it describes. Appends are serialised by locking the single ``audit_head`` row, which is what
makes the chain linear when many processes write at once; the transaction's events are chained
and written, and the head locked and moved, in one step at commit (see ``_append_to_chain``).
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from app import bulk
from app.audit.models import AuditEvent, AuditHead
from app.auth.actor import Actor
from app.context import RequestMeta, audit_context, current_meta
from app.db import ends_outermost, locked_row, table_of, utcnow
from app.extensions import db
from app.prepared import Prepared

GENESIS = "0" * 64
HEAD_ID = 1

# An event row waiting for its place in the chain, with the hashed fields its batch shares (or None).
Pending = tuple[dict[str, Any], dict[str, Any] | None]

# Every writing unit reads and moves the head: two statements built once and run on the driver's
# cursor (``app.prepared``: a statement built per call costs more in SQLAlchemy's construction
# and cache key, and its execution more in SQLAlchemy's machinery, than SQLite spends running it).
_HEAD = table_of(AuditHead)
_READ_HEAD = Prepared(sa.select(_HEAD.c.last_id, _HEAD.c.last_hash).where(_HEAD.c.id == HEAD_ID).with_for_update())
_MOVE_HEAD = Prepared(
    sa.update(_HEAD)
    .where(_HEAD.c.id == HEAD_ID)
    .values(last_id=sa.bindparam("new_last_id"), last_hash=sa.bindparam("new_last_hash"))
)


def _digest(prev_hash: str, event_id: int, fields: dict[str, Any]) -> str:
    body = orjson.dumps({"id": event_id, "prev": prev_hash, **fields}, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(body).hexdigest()


def _text(value: object) -> str | None:
    return str(value) if value is not None else None


def _hashed_fields(ev: dict[str, Any] | AuditEvent, common: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the hash covers, from an event row (a dict) or a loaded event; ``common`` is
    ``_hashed_common`` of it, when a batch of events shares it."""
    get: Callable[[str], Any] = ev.get if isinstance(ev, dict) else ev.__getattribute__
    return {
        **(common or _hashed_common(get)),
        "entity_id": get("entity_id"),
        "before": get("before"),
        "after": get("after"),
    }


def _hashed_common(get: Callable[[str], Any]) -> dict[str, Any]:
    """The hashed fields that say who, what and when: the same for every event of one call."""
    return {
        "at": get("at").isoformat(),
        "actor_id": _text(get("actor_id")),
        "actor_role": get("actor_role"),
        "device_id": _text(get("device_id")),
        "station_id": _text(get("station_id")),
        "action": get("action"),
        "entity": get("entity"),
        "request_id": get("request_id"),
        "client_addr": get("client_addr"),
    }


def _pending(session: Session) -> list[Pending]:
    """Events this transaction recorded, waiting for their place in the chain at commit."""
    pending: list[Pending] = session.info.setdefault("audit_pending", [])
    return pending


_savepoint_marks: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


@event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        _savepoint_marks[transaction] = len(session.info.get("audit_pending") or ())


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    """A rolled-back savepoint (a refused sync mutation) takes its events with it."""
    if previous_transaction.nested and previous_transaction in _savepoint_marks:
        mark = _savepoint_marks.pop(previous_transaction)
        pending = session.info.get("audit_pending")
        if pending is not None:
            del pending[mark:]


@event.listens_for(Session, "before_commit")
def _append_to_chain(session: Session) -> None:
    """Give the transaction's events their places in the chain: lock the head, hash, insert, move
    the head — the last lock the transaction takes before the change feed's counter, whatever the
    transaction did before. Taking the head at the first ``record`` instead held it while the rest
    of the work locked entity rows, and two writers taking rows and head in opposite orders
    deadlocked (a push updating residents against a clerk editing one of them)."""
    if session.in_nested_transaction():
        return
    session.flush()  # anything flush-time hooks record joins this commit
    pending = session.info.pop("audit_pending", None)
    if not pending:
        return
    head = _READ_HEAD.first(session=session)
    if head is None:  # the first event of a new database: create the head, locked
        created = locked_row(session, AuditHead, {"id": HEAD_ID}, {"last_id": 0, "last_hash": GENESIS})
        last_id, last_hash = created.last_id, created.last_hash
    else:
        last_id, last_hash = head
    rows = []
    for row, common in pending:
        last_id += 1
        row.update(id=last_id, prev_hash=last_hash)
        row["hash"] = last_hash = _digest(last_hash, last_id, _hashed_fields(row, common))
        rows.append(row)
    bulk.insert_rows(table_of(AuditEvent), rows)
    _MOVE_HEAD.run({"new_last_id": last_id, "new_last_hash": last_hash}, session=session)


@event.listens_for(Session, "after_transaction_end")
def _forget_pending(session: Session, transaction: SessionTransaction) -> None:
    if ends_outermost(transaction):
        session.info.pop("audit_pending", None)


def recorded_for(actor: Actor, action: str, entity: str, entity_ids: list[str]) -> set[str]:
    """Those of ``entity_ids`` this actor has an ``action`` event for: written ones, and those this
    transaction recorded and chains only at commit (a push links a person, then registers them,
    in one transaction)."""
    wanted = set(entity_ids)
    pending = {
        row["entity_id"]
        for row, _common in db.session().info.get("audit_pending") or ()
        if row["entity_id"] in wanted
        and row["action"] == action
        and row["entity"] == entity
        and row["actor_id"] == actor.user_id
    }
    written = (
        set(
            db.session.execute(
                sa.select(AuditEvent.entity_id).where(
                    AuditEvent.entity == entity,
                    AuditEvent.action == action,
                    AuditEvent.actor_id == actor.user_id,
                    AuditEvent.entity_id.in_(list(wanted - pending)),
                )
            ).scalars()
        )
        if wanted - pending
        else set()
    )
    return pending | written


def record(
    actor: Actor | None,
    action: str,
    entity: str,
    entity_id: object = None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    station_id: UUID | None = None,
) -> dict[str, Any]:
    """Append one event. ``before``/``after`` must already be masked (use output schemas)."""
    row = _event(actor, action, entity, station_id, current_meta(), utcnow())
    row.update(
        entity_id=_text(entity_id), before=_jsonable(before), after=_with_context(_jsonable(after), audit_context.get())
    )
    _pending(db.session()).append((row, None))
    return row


def record_many(
    actor: Actor, action: str, entity: str, events: list[tuple[Any, ...]], *, station_id: UUID | None = None
) -> None:
    """Append one event per ``(entity_id, after, sync_context)``, in order: a push of 500
    registrations audits each person without building 500 ORM objects. ``after`` must be masked
    and JSON already (strings, numbers, lists, dicts); ``sync_context`` is what ``audit_context``
    would hold for that event (the mutation it applies), or None."""
    if not events:
        return
    base = _event(actor, action, entity, station_id, current_meta(), utcnow())
    common = _hashed_common(base.get)
    _pending(db.session()).extend(
        ({**base, "entity_id": _text(entity_id), "before": None, "after": _with_context(after, extra)}, common)
        for entity_id, after, extra in events
    )


def _event(
    actor: Actor | None, action: str, entity: str, station_id: UUID | None, meta: RequestMeta | None, at: datetime
) -> dict[str, Any]:
    """An event's who, what and where."""
    return {
        "at": at,
        "actor_id": getattr(actor, "user_id", None),
        "actor_role": getattr(actor, "role", None),
        "device_id": getattr(actor, "device_id", None),
        "station_id": station_id if station_id is not None else getattr(actor, "station_id", None),
        "action": action,
        "entity": entity,
        "request_id": meta.request_id if meta else None,
        "client_addr": meta.client_addr if meta else None,
    }


def _with_context(after: dict[str, Any] | None, extra: dict[str, Any] | None) -> dict[str, Any] | None:
    return {**(after or {}), "_sync": extra} if extra else after


def _jsonable(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    loaded: dict[str, Any] = orjson.loads(orjson.dumps(value, default=str))
    return loaded


@dataclass
class ChainReport:
    ok: bool
    checked: int
    problem: str | None = None
    at_id: int | None = None


def verify_chain(batch: int = 5000) -> ChainReport:
    """Walk the chain in id order; report the first gap, edit or broken link."""
    expected_prev, expected_id, checked = GENESIS, 1, 0
    last = 0
    while True:
        rows = (
            db.session.execute(sa.select(AuditEvent).where(AuditEvent.id > last).order_by(AuditEvent.id).limit(batch))
            .scalars()
            .all()
        )
        if not rows:
            break
        for ev in rows:
            if ev.id != expected_id:
                return ChainReport(False, checked, f"event {expected_id} is missing", expected_id)
            if ev.prev_hash != expected_prev:
                return ChainReport(False, checked, f"event {ev.id} does not link to event {ev.id - 1}", ev.id)
            if _digest(ev.prev_hash, ev.id, _hashed_fields(ev)) != ev.hash:
                return ChainReport(False, checked, f"event {ev.id} was altered", ev.id)
            expected_prev, expected_id, checked = ev.hash, ev.id + 1, checked + 1
        last = rows[-1].id
        db.session.expunge_all()
    head = db.session.get(AuditHead, HEAD_ID)
    if head is not None and (head.last_id != expected_id - 1 or head.last_hash != expected_prev):
        return ChainReport(False, checked, f"events after {expected_id - 1} were removed", expected_id)
    return ChainReport(True, checked)


def events_visible_to(actor: Actor, filters: dict[str, Any]) -> Sequence[AuditEvent]:
    """Newest first. Staff see their station's events; administrators everything."""
    query = sa.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(filters.get("limit", 100))
    if not actor.is_admin:
        query = query.where(AuditEvent.station_id == actor.station_id)
    conditions: dict[str, Callable[[Any], sa.ColumnElement[bool]]] = {
        "entity": lambda v: AuditEvent.entity == v,
        "entity_id": lambda v: AuditEvent.entity_id == v,
        "actor_id": lambda v: AuditEvent.actor_id == v,
        "action": lambda v: AuditEvent.action == v,
        "since": lambda v: AuditEvent.at >= v,
        "until": lambda v: AuditEvent.at < v,
        "before_id": lambda v: AuditEvent.id < v,
    }
    for key, condition in conditions.items():
        if filters.get(key) is not None:
            query = query.where(condition(filters[key]))
    return db.session.execute(query).scalars().all()
