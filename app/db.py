"""Database conventions shared by every package: UTC timestamps, UUID keys, SQLite locking."""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import Insert as PostgresqlInsert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, SessionTransaction, make_transient_to_detached, scoped_session

from app import clock
from app.errors import Conflict, NotFound
from app.extensions import Model, db

# On SQLite a transaction that reads and then writes must take the write lock up front
# (BEGIN IMMEDIATE), or two of them deadlock on the upgrade. Read-only requests opt out.
sqlite_begin_mode: contextvars.ContextVar[str] = contextvars.ContextVar("sqlite_begin_mode", default="IMMEDIATE")

T = TypeVar("T")
M = TypeVar("M", bound=Model)
# A session, or the request's scoped session that proxies to it (``db.session``).
AnySession = Session | scoped_session[Any]
# The dialect's INSERT construct: both have on_conflict_do_nothing and on_conflict_do_update.
DialectInsert = PostgresqlInsert | SqliteInsert


def one_of(column: str, values: Iterable[object]) -> str:
    """SQL for a CHECK constraint limiting a column to a fixed set of names."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def utcnow() -> datetime:
    """The app's clock (``app.clock.now``), under the name hundreds of modules import."""
    return clock.now()


def new_id() -> uuid.UUID:
    return uuid.uuid4()


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC in and out; SQLite would otherwise hand back naive datetimes."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            # process_bind_param and the dialect's DATETIME format in one step (the same text:
            # "YYYY-MM-DD HH:MM:SS.ffffff"): bulk writes bind thousands of these.
            if value is None:
                return None
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def json_text(value: object) -> str:
    """How every JSON column is written (see ``create_app``)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout, and explicit BEGIN so the mode above takes effect."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: DBAPIConnection, _record: object) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        if engine.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql(f"BEGIN {sqlite_begin_mode.get()}")


def affected(statement: sa.Executable, params: Mapping[str, Any] | None = None) -> int:
    """Run an INSERT, UPDATE or DELETE in the session; how many rows it changed."""
    result = cast("sa.CursorResult[Any]", db.session.execute(statement, params))
    return result.rowcount


def is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


def insert_for(session: AnySession) -> Callable[[Any], DialectInsert]:
    """The dialect's INSERT, which has ``on_conflict_do_nothing``/``do_update`` on both databases."""
    return postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def locked_row(session: AnySession, model: type[M], key: dict[str, Any], defaults: dict[str, Any]) -> M:
    """Fetch a row by key under ``FOR UPDATE``, creating it first if absent.

    The insert ignores a concurrent creator's row, so two processes never both create it and
    the lock that follows serialises them (on SQLite the IMMEDIATE transaction already does).
    """
    query = sa.select(model).filter_by(**key).with_for_update()
    row = session.execute(query).scalar_one_or_none()
    if row is None:
        insert = insert_for(session)
        session.execute(insert(model).values(**key, **defaults).on_conflict_do_nothing())
        row = session.execute(query.execution_options(populate_existing=True)).scalar_one()
    return row


@contextmanager
def unique_or_conflict(field: str, what: str) -> Iterator[None]:
    """Turn a unique-constraint violation inside the block into a 409 naming the field; the
    savepoint keeps the rest of the transaction usable. The constraint, not a prior SELECT,
    is the guard, so concurrent creators cannot both succeed."""
    try:
        with db.session.begin_nested():
            yield
    except IntegrityError:
        raise Conflict(
            f"{field}: this {what} {field} is already taken",
            errors={field: ["already taken"]},
            slug=f"{what}-{field}-taken",
        ) from None


def as_loaded(model: type[M], row: Mapping[str, Any]) -> M:
    """The ORM object of a row the transaction has just written with a Core INSERT, in the
    session as if it had been loaded: in the identity map (a read by key, a relationship finds
    it without a query) and clean (no INSERT of its own at the next flush). ``row`` must hold
    every column: one left out would be read back lazily."""
    obj = model(**row)
    make_transient_to_detached(obj)
    db.session.add(obj)
    return obj


def one_or_404(query: sa.Select[T], what: str) -> T:
    """Run a scoped select; outside the caller's scope a record simply does not exist."""
    row = db.session.execute(query).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no such {what}")
    return row


def ends_outermost(transaction: SessionTransaction) -> bool:
    """For session hooks: ``after_commit``/``after_rollback`` also fire for savepoints, and
    per-transaction state must outlive those."""
    return transaction.parent is None and not transaction.nested


def table_of(model: type[Model]) -> sa.Table:
    """A model's table, for Core statements and ``app.bulk`` (declarative types ``__table__`` as any
    FromClause; a class mapped by a ``__tablename__`` always has a Table)."""
    table = model.__table__
    if not isinstance(table, sa.Table):
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table
