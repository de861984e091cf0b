"""Reference data (an area, its weekly windows) cached in the process, checked by a version read.

Every booking and every availability page read the area and its whole weekly template as ORM
objects, though they change a few times a year. This cache keeps an immutable snapshot (frozen
dataclasses, tuples: never ORM objects, which belong to one session) per ``(kind, scope)`` in the
app object, that is per process, tagged with the version it was loaded at.

The version is the ``reference_version`` row of ``(kind, scope)``: a random token replaced by any
ORM write to a watched model (``watch``), in the writer's own transaction (at its flush), so the
new token commits or rolls back with the data. A read first reads the token (one primary-key
look-up, several keys in one statement with ``prefetch``) and serves the snapshot only if it was
loaded at that token; otherwise it loads again. So several processes stay coherent with no
message between them, and once a write has committed no unit that starts afterwards is served
what it replaced. A token is random, never a counter: a rolled-back write's token is never seen
again, so a snapshot its own transaction loaded cannot be mistaken for a committed one.

Tokens read in a unit are kept for the rest of it (a unit sees reference data as of its first
read, as a transaction would), across the end of its read transaction when it begins its write
section (``unit_of_work.writing``); the unit's own writes replace them at once."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction, mapped_column

from app.db import connection as db_connection
from app.db import ends_outermost, insert_for
from app.extensions import Model, db
from app.prepared import Prepared
from app.unit_of_work import ending_reads

T = TypeVar("T")
Key = tuple[str, str]
_TOKENS = "refcache_tokens"
_MISSING = "-"  # the token of a key never written through the ORM since the table was made
_watched: dict[type[Any], tuple[str, Callable[[Any], object]]] = {}


class ReferenceVersion(Model):
    """The version of one kind of reference data in one scope (``window_template`` of an area)."""

    __tablename__ = "reference_version"
    kind = mapped_column(sa.String(32), primary_key=True)
    scope = mapped_column(sa.String(64), primary_key=True)
    token = mapped_column(sa.String(32), nullable=False)


@functools.cache
def _read_tokens(count: int) -> Prepared:
    """The versions of ``count`` keys, read by nearly every request: built once per number of keys
    (parameters ``kind0``, ``scope0``…) and run on the driver's cursor (``app.prepared``), as an
    OR of primary-key look-ups (an expanding ``IN`` is rewritten per call)."""
    v = ReferenceVersion
    return Prepared(
        sa.select(v.kind, v.scope, v.token).where(
            sa.or_(
                *(
                    sa.and_(v.kind == sa.bindparam(f"kind{i}"), v.scope == sa.bindparam(f"scope{i}"))
                    for i in range(count)
                )
            )
        )
    )


def watch(model: type[Any], kind: str, scope: Callable[[Any], object]) -> None:
    """ORM writes to ``model`` (insert, update, delete) replace the version of ``(kind,
    scope(row))``."""
    _watched[model] = (kind, scope)


def cached(kind: str, scope: object, load: Callable[[], T]) -> T:
    """The snapshot of ``(kind, scope)``: ``load()``'s answer, loaded again when the version moved.
    ``load`` must return something immutable."""
    key = (kind, str(scope))
    token = _tokens_for([key])[key]
    store: dict[Key, tuple[str, Any]] = current_app.extensions.setdefault("refcache", {})
    hit = store.get(key)
    if hit is not None and hit[0] == token:
        value: T = hit[1]
        return value
    value = load()
    store[key] = (token, value)
    return value


def peek(kind: str, scope: object) -> Any:
    """The snapshot last loaded for ``(kind, scope)`` in this process, whatever its version, or
    None: a hint of which other keys to read ahead, never an answer."""
    hit = current_app.extensions.get("refcache", {}).get((kind, str(scope)))
    return None if hit is None else hit[1]


def prefetch(keys: Iterable[tuple[str, object]]) -> None:
    """Read the versions of several keys this unit is about to use in one statement."""
    _tokens_for([(kind, str(scope)) for kind, scope in keys])


def _tokens_for(keys: list[Key]) -> dict[Key, str]:
    session = db.session()
    known: dict[Key, str] = session.info.setdefault(_TOKENS, {})
    wanted = [k for k in keys if k not in known]
    if wanted:
        # On the session's connection, not through the ORM's execute (more Python than the
        # look-up itself); what the unit has pending is flushed first, as the autoflush would, so
        # its own writes have replaced their versions before they are read.
        if session.autoflush:
            session.flush()
        params: dict[str, str] = {}
        for i, (kind, scope) in enumerate(wanted):
            params[f"kind{i}"], params[f"scope{i}"] = kind, scope
        found = {(kind, scope): token for kind, scope, token in _read_tokens(len(wanted)).all(params, session)}
        for k in wanted:
            known[k] = found.get(k, _MISSING)
    return {k: known[k] for k in keys}


@event.listens_for(Session, "after_flush")
def _bump_written(session: Session, context: Any) -> None:
    """Replace the versions of what this flush wrote, in its transaction."""
    if not _watched:
        return
    keys: set[Key] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        watched = _watched.get(type(obj))
        if watched is not None:
            kind, scope = watched
            keys.add((kind, str(scope(obj))))
    if keys:
        bump(session, keys)


def bump(session: Session, keys: Iterable[Key]) -> None:
    """New versions for ``keys``, for a write the ORM does not see (a Core statement)."""
    known: dict[Key, str] = session.info.setdefault(_TOKENS, {})
    insert = insert_for(session)
    for kind, scope in sorted(keys):  # one order, so two writers lock version rows alike
        token = secrets.token_hex(16)
        db_connection(session).execute(
            insert(ReferenceVersion)
            .values(kind=kind, scope=scope, token=token)
            .on_conflict_do_update(index_elements=["kind", "scope"], set_={"token": token})
        )
        known[(kind, scope)] = token


@event.listens_for(Session, "after_soft_rollback")
def _forget_on_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    """A rolled-back savepoint may have taken a bump with it: read the versions again."""
    session.info.pop(_TOKENS, None)


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    if ends_outermost(transaction) and not ending_reads(session):
        session.info.pop(_TOKENS, None)
