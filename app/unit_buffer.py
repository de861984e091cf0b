"""Side-effect rows a unit of work collects and writes at its commit, one statement per kind.

A request that assigns a day's visits queues one message per visit; written as it went, each was
an ORM object, a flush and an INSERT of its own. A ``UnitBuffer`` keeps the rows as plain dicts in
the session and writes them all with one executemany ``INSERT`` as the unit commits
(``unit_of_work.before_commit``): inside the same transaction, so they still commit or roll back
with the change that caused them, in the order they were added. A savepoint that rolls back (a
refused sync mutation, a booking attempt that lost a race) drops the rows added inside it.

Nothing reads a buffered row before the commit: a feature whose own unit must see its rows in the
database (the one-time code, sent before the unit ends) writes them directly instead, or calls
``write_now`` first (the demo seed, which marks some of its own messages as failed).

A ``UnitLog`` follows the same savepoint rule for values a unit notes for its own later steps
and never writes.

``memo`` keeps what every row of a unit would otherwise look up again (a station's name, a phone
number decrypted and encrypted for the outbox) for the rest of the unit."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from app import bulk
from app.db import ends_outermost
from app.extensions import db
from app.unit_of_work import before_commit

T = TypeVar("T")
_MEMO = "unit_memo"
_tracked: list[_UnitRows] = []  # every buffer and log: what a rolled-back savepoint trims
_buffers: list[UnitBuffer] = []  # the ones written at the commit
# For each open savepoint, how many rows each buffer and log held when it began.
_marks: weakref.WeakKeyDictionary[SessionTransaction, dict[_UnitRows, int]] = weakref.WeakKeyDictionary()


class _UnitRows:
    """A list of rows kept in the session for one unit of work: a rolled-back savepoint drops
    what was added inside it (``_drop_rolled_back``); the unit's end drops them all (``_forget``)."""

    def __init__(self, name: str, kind: str) -> None:
        self.key = f"{kind}:{name}"
        self.index_key = f"{self.key}:index"  # what a subclass derives from the rows, dropped with them
        _tracked.append(self)

    def pending(self, session: Session) -> list[Any]:
        rows: list[Any] = session.info.setdefault(self.key, [])
        return rows


class UnitBuffer(_UnitRows):
    """Rows for ``table``, added during a unit and inserted at its commit. Every row of a buffer
    has the same keys (the INSERT's columns)."""

    def __init__(self, name: str, table: Callable[[], sa.Table]) -> None:
        super().__init__(name, "unit_buffer")
        self._table = table
        _buffers.append(self)
        before_commit(self.key, self.write)

    def add(self, row: dict[str, Any]) -> None:
        self.pending(db.session()).append(row)

    def write(self, session: Session) -> None:
        """The unit's rows in one bulk write (called as the unit commits): ``app.bulk``'s INSERT,
        compiled once, through the driver's executemany on SQLite, COPY on PostgreSQL. A Core
        ``insert()`` built and run per unit cost more than the statement itself."""
        rows = session.info.pop(self.key, None)
        if rows:
            bulk.insert_rows(self._table(), rows)


class UnitLog(_UnitRows):
    """Values a unit notes for its own later steps and never writes: like a buffer's rows, those
    noted inside a savepoint that rolls back are dropped with it, so what the log holds is what
    the unit's transaction holds (the residents a push created, which its later registrations
    may name without asking the database whether the officer may see them)."""

    def __init__(self, name: str) -> None:
        super().__init__(name, "unit_log")
        # Nothing to write; but what it holds keeps the unit's commit due, and the end of that
        # transaction forgets it (``_forget``): a unit that only noted values must not hand them on.
        before_commit(self.key, _nothing_to_write)

    def note(self, value: Hashable) -> None:
        self.pending(db.session()).append(value)

    def holds(self, value: Hashable) -> bool:
        """Whether the unit noted ``value`` (and kept it): a set kept beside the log, extended with
        what was noted since the last look and rebuilt when a savepoint dropped some."""
        session = db.session()
        noted: list[Any] = session.info.get(self.key) or []
        index: tuple[int, set[Any]] = session.info.get(self.index_key) or (0, set())
        seen = index[1]
        seen.update(noted[index[0] :])
        session.info[self.index_key] = (len(noted), seen)
        return value in seen


def _nothing_to_write(_session: Session) -> None:
    return None


def write_now(session: Session) -> None:
    """Write every buffer's rows at once, in the unit's open transaction, for a unit that goes on
    to read them. Not inside a savepoint: a savepoint's marks count rows still buffered."""
    if session.in_nested_transaction():
        raise RuntimeError("write_now inside a savepoint would lose track of what it may drop")
    for buffer in _buffers:
        buffer.write(session)


def memo(key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, once per unit of work for ``key``: later calls in the unit get the first
    answer. Only for what cannot change within the unit."""
    cache: dict[Hashable, Any] = db.session().info.setdefault(_MEMO, {})
    if key not in cache:
        cache[key] = compute()
    value: T = cache[key]
    return value


@event.listens_for(Session, "after_transaction_create")
def _mark(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        _marks[transaction] = {t: len(session.info.get(t.key) or ()) for t in _tracked}


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.nested and previous_transaction in _marks:
        for tracked, mark in _marks.pop(previous_transaction).items():
            rows = session.info.get(tracked.key)
            if rows is not None:
                del rows[mark:]
            session.info.pop(tracked.index_key, None)


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    """A unit that ended (committed rows were written; a rolled-back unit's rows go unwritten)."""
    if ends_outermost(transaction):
        for t in _tracked:
            session.info.pop(t.key, None)
            session.info.pop(t.index_key, None)
        session.info.pop(_MEMO, None)
