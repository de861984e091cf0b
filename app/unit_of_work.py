"""The unit of work: the one place that commits.

Services add and flush; they never commit. The edge commits, once, when the work it ran succeeded,
and rolls back when it failed:

- an HTTP request: ``DoorstepFlask.dispatch_request`` runs the view in ``unit()``; the view has
  already turned its result into a response (schemas dump inside the view), so nothing is lazily
  reloaded after the commit. A write view commits before it renders instead
  (``rendered_after_commit``, ``commit_before_rendering``: decision 111), so no write lock is held
  while its response is dumped;
- a scheduler job run: ``app.scheduler.run_job``;
- a CLI command: ``@in_unit`` on the command;
- a pushed sync mutation: a savepoint inside the push request's unit (``sync.push``).

A service that must keep something even though the work around it fails (a failed log-in attempt
counted, an outbox row claimed before the SMS leaves) says so by name: ``commit_now(reason)``.

Lock scope. A unit reads first and writes last, and holds locks only for the writing: on SQLite a
view marked ``reads_first`` begins its unit with a deferred (read) transaction, and the service
calls ``writing()`` where its write section starts (take the seat, insert, outbox, commit); that
ends SQLite's read transaction and begins ``IMMEDIATE`` on the same connection, waiting its turn
for the write lock, while the session's transaction (the unit) goes on. What was
read before may be stale by then, as under PostgreSQL's READ COMMITTED: the write section's
guards are the database's (a conditional ``UPDATE``, a unique constraint, a row lock), never an
earlier read. A write before ``writing()`` is SQLite's own upgrade of the read transaction; when
another writer got there first SQLite refuses it at once ("database is locked"), and the unit is
run again like any transient failure. ``between_transactions(what)`` ends a read-only transaction
before slow work that needs no database (hashing a password), on both databases (decision 92).

Two writers that lock the same rows can still meet in a deadlock (PostgreSQL picks a victim) or a
serialization failure, and SQLite can stay busy past its timeout. Each is transient: the same
work a moment later succeeds. So a unit that failed that way, and had not committed anything yet,
is rolled back and run again, a few times, after a jittered pause; a request that still fails is
answered 503 with ``Retry-After`` — never a 500, which would say the request itself is wrong."""

from __future__ import annotations

import contextvars
import functools
import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, scoped_session

from app.db import AnySession, ends_outermost, sqlite_begin_mode
from app.extensions import db
from app.prepared import run_sql
from app.transient import RETRY_SQLSTATES, is_retryable

__all__ = [
    "ATTEMPTS",
    "RETRY_SQLSTATES",
    "assert_no_transaction",
    "before_commit",
    "between_transactions",
    "commit_before_rendering",
    "commit_now",
    "ending_reads",
    "in_unit",
    "is_retryable",
    "on_commit",
    "reads_first",
    "rendered_after_commit",
    "retrying",
    "run",
    "unit",
    "writing",
]

ATTEMPTS = 4
T = TypeVar("T")
V = TypeVar("V", bound=Callable[..., Any])
log = logging.getLogger(__name__)

_commits: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("uow_commits", default=None)


@event.listens_for(Session, "after_commit")
def _count_commit(session: Session) -> None:
    if session.info.get("uow_ending_reads"):  # a read-only transaction ended: nothing was committed
        return
    counter = _commits.get()
    if counter is not None and not session.in_nested_transaction():  # a savepoint's release is no commit
        counter[0] += 1
    if not session.in_nested_transaction():
        for callback in session.info.pop("uow_on_commit", ()):
            callback()


# Writers of what a unit buffered (``app.unit_buffer``): each runs as the unit commits, inside its
# transaction, so the rows commit or roll back with the change that caused them.
_buffer_writers: list[Callable[[Session], None]] = []
_buffer_keys: list[str] = []


def before_commit(key: str, writer: Callable[[Session], None]) -> None:
    """Have ``writer(session)`` run as each unit commits, before the commit (not a savepoint's).
    While ``session.info[key]`` holds anything the unit is about to write (``wrote``)."""
    _buffer_writers.append(writer)
    _buffer_keys.append(key)


@event.listens_for(Session, "before_commit")
def _write_buffers(session: Session) -> None:
    if not session.in_nested_transaction():
        for writer in _buffer_writers:
            writer(session)


@event.listens_for(Session, "after_soft_rollback")
def _forget_callbacks(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:  # the whole unit is gone, not a savepoint
        session.info.pop("uow_on_commit", None)


@event.listens_for(Session, "do_orm_execute")
def _note_dml(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info["uow_wrote"] = True


@event.listens_for(Session, "after_flush")
def _note_flush(session: Session, _context: Any) -> None:
    session.info["uow_wrote"] = True


@event.listens_for(Session, "after_transaction_end")
def _forget_writes(session: Session, transaction: SessionTransaction) -> None:
    if ends_outermost(transaction):
        session.info.pop("uow_wrote", None)


def retrying(work: Callable[[], T], session: AnySession) -> T:
    """Run ``work()``; when it fails transiently before committing anything, roll back and run it
    again (at most ``ATTEMPTS`` times). Work that had committed is never re-run: it would apply
    twice."""
    token = _commits.set([0])
    try:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return work()
            except Exception as exc:
                counter = _commits.get()
                if not is_retryable(exc) or attempt == ATTEMPTS or (counter and counter[0]):
                    raise
                session.rollback()
                time.sleep(random.uniform(0.01, 0.05) * 2**attempt)  # noqa: S311 (jitter, not a secret)
        raise AssertionError("unreachable")  # pragma: no cover
    finally:
        _commits.reset(token)


def unit(work: Callable[[], T], session: AnySession | None = None) -> T:
    """Run ``work()`` as one unit of work: commit when it returns, roll back when it raises."""
    session = session if session is not None else db.session()
    mode = sqlite_begin_mode.set(sqlite_begin_mode.get())  # ``writing()`` switches it for this unit only
    try:
        try:
            result = work()
        except BaseException:
            session.rollback()
            session.info.pop("uow_on_commit", None)  # also when the work had not begun a transaction
            raise
        if _commit_pending(session):
            session.commit()
        # else the work committed already (``commit_before_rendering``) and nothing began since:
        # a commit would only begin an empty transaction to run every commit hook on nothing.
        return result
    finally:
        sqlite_begin_mode.reset(mode)


def _commit_pending(session: AnySession) -> bool:
    """Is there anything for the unit's commit to do: an open transaction, pending changes, rows to
    write or callbacks to run?"""
    real = session() if isinstance(session, scoped_session) else session
    return real.in_transaction() or wrote(real) or bool(real.info.get("uow_on_commit"))


def run(work: Callable[[], T], session: AnySession | None = None) -> T:
    """``unit(work)``, run again when it lost a race (see ``retrying``): a request, a job run."""
    session = session if session is not None else db.session()
    return retrying(lambda: unit(work, session), session)


def in_unit(command: Callable[..., T]) -> Callable[..., T]:
    """For a CLI command (under ``with_appcontext``): the whole command is one unit of work."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        return unit(lambda: command(*args, **kwargs))

    return wrapper


def commit_now(reason: str) -> None:
    """Commit the unit so far, on purpose, before it ends: what it wrote must stay even if the
    rest fails (the caller's comment says why). The unit goes on in a new transaction; the
    request is no longer run again on a transient failure, as that would apply the work twice.
    Never inside a savepoint: that would commit the enclosing unit's other work with it."""
    session = db.session()
    if session.in_nested_transaction():
        raise RuntimeError(f"commit_now({reason!r}) inside a savepoint")
    log.debug("commit before the end of the unit: %s", reason)
    session.commit()


def on_commit(callback: Callable[[], None]) -> None:
    """Run ``callback`` once the current unit has committed (dropped if it rolls back): for what
    must only follow a durable change (a counter of settled mutations)."""
    db.session().info.setdefault("uow_on_commit", []).append(callback)


def assert_no_transaction(what: str) -> None:
    """Slow work that needs no database (hashing a password: Argon2id takes about 100 ms) must run
    between transactions, or it holds SQLite's write lock or PostgreSQL's row locks all along and
    stalls every other writer. Called before such work; fails loudly under test, logs otherwise."""
    session = db.session()
    if not session.in_transaction():
        return
    message = f"a database transaction is open while {what}"
    if current_app.config.get("TESTING"):
        raise AssertionError(message)
    log.warning(message)


def reads_first(view: V) -> V:
    """Mark a view whose unit reads before it writes and calls ``writing()`` where the writing
    starts: on SQLite its transaction begins deferred (a read), so validation, authorisation and
    reference data hold no write lock. Anywhere in the view's decorators (``functools.wraps``
    carries the mark up); ``app.context`` reads it before the view runs."""
    view._doorstep_reads_first = True  # type: ignore[attr-defined]
    return view


def wrote(session: AnySession) -> bool:
    """Has the current transaction written (or is about to: pending changes, events to chain)?"""
    return bool(
        session.new
        or session.dirty
        or session.deleted
        or any(session.info.get(key) for key in ("uow_wrote", "audit_pending", "sync_touched", "sync_inserted"))
        or any(session.info.get(key) for key in _buffer_keys)
    )


def ending_reads(session: AnySession) -> bool:
    """For session hooks: is this the commit of a read-only transaction that
    ``between_transactions()`` ends, with the unit going on (state kept for the unit may stay)?"""
    return bool(session.info.get("uow_ending_reads"))


def _commit_keeping_loaded(session: Session) -> None:
    """Commit with the loaded objects left as they are (not expired), so nothing reads them again."""
    expire = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire


def _end_reads(session: Session) -> None:
    """Commit a transaction that wrote nothing: its snapshot (SQLite) and any read locks go, the
    loaded objects stay as read (not expired: nothing reloads them lazily later), and the unit
    goes on in a new transaction. Not a commit of the unit: it is still run again on a transient
    failure, and ``on_commit`` callbacks wait for the real commit."""
    session.info["uow_ending_reads"] = True
    try:
        _commit_keeping_loaded(session)
    finally:
        session.info.pop("uow_ending_reads", None)


def commit_before_rendering() -> None:
    """For a view (never a service): its work is done and only its response is left to render, so
    the unit commits now and no write transaction — SQLite's write lock, PostgreSQL's row locks —
    is held while a schema or a template turns the result into bytes. The loaded objects stay as
    they are (not expired), so rendering reads nothing back; should it read anyway, it reads in a
    deferred transaction, taking no write lock. The unit's own commit then has nothing left to do.
    This is the unit's commit: ``on_commit`` callbacks run, and the request is not run again."""
    session = db.session()
    if session.in_nested_transaction():
        raise RuntimeError("commit_before_rendering() inside a savepoint")
    _commit_keeping_loaded(session)
    sqlite_begin_mode.set("DEFERRED")  # ``unit()`` restores the request's mode when the unit ends


def rendered_after_commit(view: V) -> V:
    """For an API view whose result ``@blp.response`` dumps (put this below it, on the function):
    the unit commits when the view returns, and the response is dumped after the commit."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = view(*args, **kwargs)
        commit_before_rendering()
        return result

    return cast(V, wrapper)


def writing() -> None:
    """The unit's write section starts here: on SQLite, end the read transaction and take the write
    lock (``BEGIN IMMEDIATE`` at the next statement, waiting its turn up to the busy timeout), so
    the writes that follow are serialised and cannot fail to upgrade. A no-op on PostgreSQL, where
    row locks and conditional updates guard the writes in the same transaction, and when the unit
    already writes (it began ``IMMEDIATE``, or wrote: SQLite upgraded it then)."""
    session = db.session()
    if session.get_bind().dialect.name != "sqlite" or sqlite_begin_mode.get() == "IMMEDIATE":
        return
    sqlite_begin_mode.set("IMMEDIATE")  # ``unit()`` restores the request's mode when the unit ends
    if session.in_transaction() and not session.in_nested_transaction() and not wrote(session):
        # SQLite's read transaction ends and the write lock is taken on the same connection, in
        # the session's transaction (we emit BEGIN ourselves: ``app.db.configure_sqlite``): the
        # unit goes on as one, with what it loaded and the versions it read, and the session's
        # commit at the end commits the write transaction. Ending the session's transaction
        # instead (``_end_reads``) cost a commit's hooks, a return of the connection to the pool
        # and a new checkout, more than SQLite's work (decision 109).
        run_sql("COMMIT", session=session)
        run_sql("BEGIN IMMEDIATE", session=session)


def between_transactions(what: str) -> None:
    """End the unit's read-only transaction before slow work that needs no database (``what``:
    Argon2id takes about 100 ms), so it holds no snapshot and no lock on either database; the
    next statement begins a new one. A unit that has written already cannot end its transaction
    without committing half its work: then the work runs inside it, and the log says so."""
    session = db.session()
    if not session.in_transaction():
        return
    if session.in_nested_transaction() or wrote(session):
        log.warning("a transaction that wrote is open while %s", what)
        return
    _end_reads(session)
