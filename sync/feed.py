"""The change feed: written at commit time by every transaction that touched a synced record,
read by pull.

Why this shape: a tablet must never miss a committed change, even when PostgreSQL transactions
commit out of order. Each transaction takes its feed positions from one counter row, locked in
``before_commit`` — the last thing it does — and held until its commit. So positions are handed
out in commit order: a reader that sees position N has already been able to see everything
below N. The rows are one per record per scope, replaced on every write, so the feed is also
the current state a first pull needs, and it stays as large as the data, not the history."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

import orjson
import sqlalchemy as sa
from flask import current_app
from sqlalchemy import event
from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.orm import Session, SessionTransaction, object_session

from app import bulk
from app.auth.actor import Actor
from app.auth.models import Device
from app.db import ends_outermost, insert_for, locked_row, table_of, utcnow
from app.errors import DomainError
from app.extensions import db
from sync import documents, registry
from sync.documents import AnySession
from sync.handling import Document, JsonObject
from sync.models import ChangeCounter, SyncRecord

Key = tuple[str, str]  # (entity, record id as text)
Row = dict[str, Any]  # a sync_record row to upsert
Current = dict[tuple[str, str], tuple[str, int, str | None]]  # {(scope kind, scope id): (op, version, doc)}

COUNTER_ID = 1


# --- writing ---------------------------------------------------------------------------------


def _touch(_mapper: object, _connection: object, target: Any, *, mark: str | None = None) -> None:
    """Per flushed row (O(1)), unlike walking ``session.dirty``, which scans the identity map and
    makes a 500-mutation push quadratic. ``mark`` also notes the record under that key: ``sync_new``
    for an insert (first written in this transaction, so it has no feed rows yet: publish runs at
    commit, and need not read them), ``sync_not_new`` for a delete (a row inserted again under the
    id of one deleted in this transaction has the deleted row's feed rows)."""
    session = object_session(target)
    if session is not None and not session.info.get("sync_publishing"):
        entity = registry.ENTITIES[type(target)]
        session.info.setdefault("sync_touched", set()).add((entity, target.id))
        # The identity map holds objects weakly; publish reads these again at commit.
        session.info.setdefault("sync_held", []).append(target)
        documents.forget(session, entity, target)
        if mark is not None:
            session.info.setdefault(mark, set()).add((entity, str(target.id)))


_touch_new = functools.partial(_touch, mark="sync_new")
_touch_gone = functools.partial(_touch, mark="sync_not_new")


def _inserted(entity: str, session: AnySession, rows: list[JsonObject], *, fresh: bool) -> None:
    """Rows written without the ORM (``app.bulk``): noted, and sorted out at commit. Rows known to
    be new in this transaction are marked so, as an ORM insert is (``sync_new``): publish need not
    read their feed rows. New rows the entity's ``scoped_on_insert`` test says no scope can hold
    are not published at all: a booking's new visit, nobody's yet, would be read back and built
    into a document only to find no device to send it to."""
    if fresh:
        session.info.setdefault("sync_new", set()).update((entity, str(row["id"])) for row in rows)
        scoped = registry.DOCUMENTS[entity].scoped_on_insert
        if callable(scoped):
            rows = [row for row in rows if scoped(row)]
    session.info.setdefault("sync_inserted", []).extend((entity, row["id"]) for row in rows)


def _track(kind: registry.DocumentKind[Any]) -> None:
    """Every synced entity's rows, as the domains register them, publish the change feed."""
    event.listen(kind.model, "after_insert", _touch_new)
    event.listen(kind.model, "after_update", _touch)
    event.listen(kind.model, "after_delete", _touch_gone)
    bulk.on_insert(table_of(kind.model), functools.partial(_inserted, kind.entity))


registry.on_document_registered(_track)


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.parent is None:  # the whole transaction is gone, not a savepoint
        for key in ("sync_touched", "sync_inserted", "sync_new", "sync_not_new"):
            session.info.pop(key, None)


@event.listens_for(Session, "after_transaction_end")
def _drop_documents(session: Session, transaction: SessionTransaction) -> None:
    if ends_outermost(transaction):
        for key in (documents.CACHE, "sync_held", "sync_new", "sync_not_new"):
            session.info.pop(key, None)


@event.listens_for(Session, "before_commit")
def _publish(session: Session) -> None:
    # Savepoint commits fire this hook too; only the outermost commit publishes, so the counter
    # lock is always the last lock a transaction takes (after the audit head), never held early.
    if session.info.get("sync_publishing") or session.in_nested_transaction():
        return
    session.flush()  # commit would flush after this hook; the feed must see those writes
    inserted = session.info.pop("sync_inserted", None)
    if inserted:
        session.info.setdefault("sync_touched", set()).update(documents.possibly_scoped(inserted))
    if not session.info.get("sync_touched"):
        return
    session.info["sync_publishing"] = True
    try:
        session.flush()
        touched = session.info.pop("sync_touched", set())
        publish(session, touched)
        session.flush()
    finally:
        session.info["sync_publishing"] = False
        session.info.pop("sync_touched", None)


def publish(session: AnySession, touched: set[tuple[str, object]]) -> None:
    """Feed rows for every record the transaction touched (and the records whose documents
    depend on them): one read of their current rows, one batched upsert."""
    pending: dict[tuple[str, str], object] = {}
    queue = list(touched)
    while queue:
        entity, record_id = queue.pop()
        if record_id is None or (entity, str(record_id)) in pending:
            continue
        obj = session.get(registry.DOCUMENTS[entity].model, record_id)
        pending[(entity, str(record_id))] = obj
        if obj is not None:
            queue.extend(documents.related(entity, obj))
    # A record first inserted in this transaction has no feed rows to compare with.
    fresh = session.info.get("sync_new", set()) - session.info.get("sync_not_new", set())
    current = _current_rows(session, [key for key in pending if key not in fresh])
    built = documents.build_many(session, [(e, o) for (e, _i), o in pending.items() if o is not None])
    rows: list[Row] = []
    for key in sorted(pending):
        rows.extend(_changes(key, built.get(key), current.get(key, {})))
    if not rows:
        return
    counter = locked_row(session, ChangeCounter, {"id": COUNTER_ID}, {"last_seq": 0, "pruned_before": 0})
    now = utcnow()
    for row in rows:
        counter.last_seq += 1
        row.update(seq=counter.last_seq, changed_at=now)
        if row["version"] is None:
            row["version"] = counter.last_seq
    stmt = insert_for(session)(SyncRecord)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["entity", "record_id", "scope_kind", "scope_id"],
            set_={k: stmt.excluded[k] for k in ("seq", "op", "version", "doc", "reason", "changed_at")},
        ),
        rows,
    )


def _current_rows(session: AnySession, keys: list[Key]) -> dict[Key, Current]:
    """{(entity, record_id): {(scope_kind, scope_id): (op, version, doc)}} for the given records."""
    t = SyncRecord.__table__.c
    out: dict[Key, Current] = {}
    for entity in {e for e, _i in keys}:
        ids = [i for e, i in keys if e == entity]
        for chunk in range(0, len(ids), 500):
            rows = session.connection().execute(
                sa.select(t.record_id, t.scope_kind, t.scope_id, t.op, t.version, t.doc).where(
                    t.entity == entity, bulk.id_in(t.record_id, ids[chunk : chunk + 500])
                )
            )
            for record_id, kind, scope_id, op, version, doc in rows:
                out.setdefault((entity, record_id), {})[(kind, scope_id)] = (op, version, doc)
    return out


def _changes(key: Key, document: Document | None, current: Current) -> list[Row]:
    """The rows to write for one record: upserts for its scopes, evicts for scopes it left,
    nothing when neither the document nor the scopes changed."""
    entity, record_id = key
    base = {"entity": entity, "record_id": record_id}
    if document is None:
        return [
            {
                **base,
                "scope_kind": k,
                "scope_id": i,
                "op": "delete",
                "version": version,
                "doc": None,
                "reason": "deleted",
            }
            for (k, i), (op, version, _doc) in current.items()
            if op == "upsert"
        ]
    text = document.doc.decode()
    scopes = document.scopes or set()  # build_many has read every document's scopes
    out: list[Row] = []
    for scope in sorted(scopes):
        row = current.get(scope)
        if row is not None and row[0] == "upsert" and row[2] == text:
            continue
        out.append(
            {
                **base,
                "scope_kind": scope[0],
                "scope_id": scope[1],
                "op": "upsert",
                "version": document.version,
                "doc": text,
                "reason": None,
            }
        )
    for scope, (op, version, _doc) in current.items():
        if scope not in scopes and op == "upsert":
            out.append(
                {
                    **base,
                    "scope_kind": scope[0],
                    "scope_id": scope[1],
                    "op": "evict",
                    "version": version,
                    "doc": None,
                    "reason": _evict_reason(entity),
                }
            )
    return out


def _evict_reason(entity: str) -> str:
    return {
        "visit": "reassigned",
        "delivery": "reassigned",
        "registration": "registration-ended",
        "resident": "left-your-areas",
        "area": "area-closed",
    }.get(entity, "out-of-scope")


def prune(older_than_days: int) -> int:
    """Drop tombstones (evicts, deletes) older than the retention; cursors from before the oldest
    kept tombstone are answered with ``reset``."""
    cutoff = utcnow() - timedelta(days=older_than_days)
    horizon = db.session.execute(
        sa.select(sa.func.max(SyncRecord.seq)).where(SyncRecord.op != "upsert", SyncRecord.changed_at < cutoff)
    ).scalar()
    if horizon is None:
        return 0
    counter = locked_row(db.session, ChangeCounter, {"id": COUNTER_ID}, {"last_seq": 0, "pruned_before": 0})
    counter.pruned_before = max(counter.pruned_before, horizon + 1)
    # A DELETE's result is a CursorResult, which knows its row count.
    deleted = cast(
        CursorResult[Any],
        db.session.execute(sa.delete(SyncRecord).where(SyncRecord.op != "upsert", SyncRecord.seq <= horizon)),
    )
    removed = deleted.rowcount
    db.session.flush()
    return removed


# --- reading ---------------------------------------------------------------------------------


class InvalidCursor(DomainError):
    status, slug, title = 400, "invalid-cursor", "The cursor is not valid"


@dataclass(frozen=True)
class Scope:
    officer_id: str
    station_id: str
    area_ids: tuple[str, ...]

    @property
    def fingerprint(self) -> str:
        raw = "|".join((self.station_id, *self.area_ids)).encode()
        return hashlib.sha256(raw).hexdigest()[:16]


def scope_of(actor: Actor) -> Scope:
    return Scope(str(actor.user_id), str(actor.station_id), tuple(sorted(str(a) for a in actor.area_ids)))


def _cursor_key() -> bytes:
    return hashlib.sha256(b"sync-cursor:" + str(current_app.config["SECRET_KEY"]).encode()).digest()


def encode_cursor(device_id: object, seq: int, scope: Scope) -> str:
    body = orjson.dumps({"d": str(device_id), "s": seq, "f": scope.fingerprint})
    mac = hmac.new(_cursor_key(), body, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(body + mac).rstrip(b"=").decode()


def decode_cursor(cursor: str, device_id: object) -> JsonObject:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body, mac = raw[:-16], raw[-16:]
        if not hmac.compare_digest(mac, hmac.new(_cursor_key(), body, hashlib.sha256).digest()[:16]):
            raise ValueError("signature")
        data = orjson.loads(body)
        if not isinstance(data, dict) or data["d"] != str(device_id) or not isinstance(data["s"], int):
            raise ValueError("device")
        return data
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise InvalidCursor(
            "the cursor is malformed, altered, or belongs to another device", errors={"cursor": ["invalid"]}
        ) from None


def _scope_filter(scope: Scope) -> sa.ColumnElement[bool]:
    t = SyncRecord.__table__.c
    conditions = [
        sa.and_(t.scope_kind == "officer", t.scope_id == scope.officer_id),
        sa.and_(t.scope_kind == "station", t.scope_id == scope.station_id),
    ]
    if scope.area_ids:
        conditions.append(sa.and_(t.scope_kind == "area", t.scope_id.in_(scope.area_ids)))
    return sa.or_(*conditions)


def _scopes(scope: Scope) -> list[tuple[str, str]]:
    return [("officer", scope.officer_id), ("station", scope.station_id)] + [("area", a) for a in scope.area_ids]


_PAGE_SQL: dict[tuple[str, int, bool], sa.Select[Any]] = {}


def _page_sql(dialect: Dialect, scopes: int, first: bool) -> sa.Select[Any]:
    """The page query for a scope shape (how many scopes, first pull or not), compiled once:
    one index range scan per scope (officer, station, each area), each cut at the page size,
    merged by position — a page costs the same in a district-sized feed as in a small one."""
    key = (dialect.name, scopes, first)
    if key not in _PAGE_SQL:
        t = SyncRecord.__table__.c
        branches = []
        for n in range(scopes):
            branch = sa.select(t.seq, t.entity, t.record_id, t.op, t.version, t.doc, t.reason).where(
                t.scope_kind == sa.bindparam(f"k{n}"),
                t.scope_id == sa.bindparam(f"i{n}"),
                t.seq > sa.bindparam("after"),
            )
            if first:
                branch = branch.where(t.op == "upsert")
            branches.append(
                branch.order_by(t.seq)
                .limit(sa.bindparam("cut", type_=sa.Integer, literal_execute=True))
                .subquery()
                .select()
            )
        merged = sa.union_all(*branches).subquery()
        query = (
            sa.select(merged).order_by(merged.c.seq).limit(sa.bindparam("cut", type_=sa.Integer, literal_execute=True))
        )
        _PAGE_SQL[key] = query
    return _PAGE_SQL[key]


def _rows(scope: Scope, after: int, limit: int, first: bool) -> Sequence[tuple[Any, ...]]:
    """Plain tuples straight from the driver's cursor: a page is a thousand rows, and building
    result objects for them would cost more than reading them."""
    scopes = _scopes(scope)
    connection = db.session.connection()
    params: dict[str, object] = {"after": after, "cut": limit + 1}
    for n, (kind, scope_id) in enumerate(scopes):
        params[f"k{n}"], params[f"i{n}"] = kind, scope_id
    result = connection.execute(_page_sql(connection.dialect, len(scopes), first), params)
    rows: Sequence[tuple[Any, ...]] = result.cursor.fetchall()
    return rows


def _still_in_scope(scope: Scope, evicts: list[tuple[Any, ...]]) -> set[Key]:
    """Records evicted from one scope of the device but still held through another (a resident
    with registrations in two of the officer's areas): those evicts are not sent."""
    if not evicts:
        return set()
    keys = {(r[1], r[2]) for r in evicts}
    t = SyncRecord.__table__.c
    rows = (
        db.session.connection()
        .execute(
            sa.select(t.entity, t.record_id).where(
                _scope_filter(scope), t.op == "upsert", sa.tuple_(t.entity, t.record_id).in_(list(keys))
            )
        )
        .all()
    )
    return {(e, i) for e, i in rows}


@dataclass
class Page:
    body: bytes
    served: dict[str, list[str]]  # {entity: [record id]}, of the entities watched (``registry.on_served``)


def _references() -> list[str]:
    """The reference data domains registered (``registry.register_reference``), as change lines."""
    return [
        '{"seq":0,"entity":"reference","id":"%s","op":"upsert","version":1,"data":%s}'  # noqa: UP031 (JSON braces)
        % (name, orjson.dumps(data).decode())
        for name, data in registry.REFERENCES.items()
    ]


def _reset_page(device: Device, scope: Scope) -> Page:
    """The cursor cannot be served: the page says so and carries nothing else, so a client that
    clears its view on ``reset`` cannot lose changes that came with it. It pulls again from null."""
    body = (
        '{"protocol":1,"changes":[],"cursor":"' + encode_cursor(device.id, 0, scope) + '","has_more":true,"reset":true}'
    ).encode()
    return Page(body, {})


def pull(device: Device, scope: Scope, cursor: str | None, limit: int) -> Page:
    """One page of at most ``limit`` changes after the cursor, as ready-to-send JSON bytes; the
    first page's reference data (one line per registered name) counts among them."""
    after, first = 0, cursor is None
    counter = None
    if cursor is not None:
        position = decode_cursor(cursor, device.id)
        counter = db.session.get(ChangeCounter, COUNTER_ID)
        if position["f"] != scope.fingerprint or (counter and position["s"] < counter.pruned_before - 1):
            return _reset_page(device, scope)
        after = position["s"]
    reset = False
    references = _references() if first else []
    take = limit - len(references)
    rows = _rows(scope, after, take, first)
    has_more = len(rows) > take
    rows = rows[:take]
    held = set() if first else _still_in_scope(scope, [r for r in rows if r[3] == "evict"])
    parts = references
    served: dict[str, list[str]] = {}
    watched = registry.SERVED
    for seq, entity, record_id, op, version, doc, reason in rows:
        # Stored documents are spliced in as they are, never parsed; entity, id and op are ASCII
        # names and UUIDs the server wrote, safe to format directly. One encode for the page.
        if op == "upsert":
            parts.append(
                '{"seq":%d,"entity":"%s","id":"%s","op":"upsert","version":%d,"data":%s}'  # noqa: UP031 (JSON braces)
                % (seq, entity, record_id, version, doc)
            )
            if entity in watched:
                served.setdefault(entity, []).append(record_id)
        elif (entity, record_id) not in held:
            parts.append(
                '{"seq":%d,"entity":"%s","id":"%s","op":"%s","version":%d,"reason":%s}'  # noqa: UP031 (JSON braces)
                % (seq, entity, record_id, op, version, orjson.dumps(reason or op).decode())
            )
    if rows:
        last = rows[-1][0]
    elif not first or has_more:
        last = after
    else:
        counter = counter or db.session.get(ChangeCounter, COUNTER_ID)
        last = counter.last_seq if counter else 0
    body = (
        '{"protocol":1,"changes":['
        + ",".join(parts)
        + '],"cursor":"'
        + encode_cursor(device.id, last, scope)
        + '","has_more":'
        + ("true" if has_more else "false")
        + ',"reset":'
        + ("true" if reset else "false")
        + "}"
    ).encode()
    return Page(body, served)
