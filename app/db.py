"""Database conventions shared by every package: UTC timestamps, UUID keys, SQLite locking."""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, SessionTransaction, scoped_session

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


# Pages (4 KiB each) the WAL may hold before a commit folds it back into the database file: not
# SQLite's 1,000, since the commit that crosses the mark runs the checkpoint, and at ~30 pages a
# booking every ~33rd booking paid for one (decision 120).
WAL_CHECKPOINT_PAGES = 10_000
# How the app runs a SQLite file database (the benches' raw floors run theirs the same way).
SQLITE_FILE_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", f"wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")


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
            for pragma in SQLITE_FILE_PRAGMAS:
                cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        driver_execute(conn, f"BEGIN {sqlite_begin_mode.get()}", ())


def driver_execute(conn: sa.Connection, sql: str, args: Any, *, many: bool = False) -> tuple[list[Sequence[Any]], int]:
    """Run ``sql`` on ``conn``'s DB-API connection, without SQLAlchemy's execution context (see
    ``app.prepared``): (the rows it returned, the rows it changed). A driver error is raised as
    SQLAlchemy's exception of its kind; when anything listens to the connection's cursor events,
    the same text goes through ``exec_driver_sql`` so that it is seen."""
    dispatch = conn.dispatch
    if dispatch.before_cursor_execute or dispatch.after_cursor_execute:
        # Someone watches statements on this connection: the same text through SQLAlchemy.
        result = conn.exec_driver_sql(sql, args if not many else list(args))
        watched: list[Sequence[Any]] = [tuple(r) for r in result] if result.returns_rows else []
        return watched, result.rowcount
    dialect = conn.dialect
    driver = conn.connection.dbapi_connection
    if driver is None:  # pragma: no cover (a connection the session holds is never detached)
        raise RuntimeError("the connection was closed")
    cursor: Any = driver.cursor()  # the driver's own cursor (typed as the generic DB-API one)
    try:
        if many:
            cursor.executemany(sql, args)
        else:
            cursor.execute(sql, args)
        rows: list[Sequence[Any]] = cursor.fetchall() if cursor.description is not None else []
        return rows, cursor.rowcount
    except dialect.loaded_dbapi.Error as exc:
        lost = dialect.is_disconnect(exc, driver, cursor)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            sql, args, exc, dialect.loaded_dbapi.Error, connection_invalidated=lost, dialect=dialect
        ) from exc
    finally:
        cursor.close()


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


class Written:
    """A row a Core INSERT has just written, read by attribute as its ORM object would be (an
    output schema dumps it, a template shows it), with the related rows written with it (a
    booking's visit and timeline) as attributes too. Not an ORM object: no instrumentation, no
    identity map, nothing flushed; the row is in the transaction, and a read finds it there."""

    def __init__(self, row: Mapping[str, Any], **related: Any) -> None:
        self.__dict__.update(row)
        self.__dict__.update(related)

    def __getattr__(self, name: str) -> Any:  # only for a name the row lacks; typed: every column
        raise AttributeError(name)


# A column's Python-side default as a row dict needs it: a value, or a function of no argument.
_Fill = tuple[str, Any, bool]


def _fills(table: sa.Table) -> list[_Fill]:
    """(key, default, callable) for each column a Core row must be given a value for, in the
    table's order: a column's scalar or callable ``default``, else None (SQL NULL). A column the
    database fills itself (an autoincrement key, a server default) is left out, as the ORM leaves
    it out of its INSERT."""
    found = _fill_plans.get(table)
    if found is not None:
        return found
    fills: list[_Fill] = []
    for column in table.columns:
        default = column.default
        if default is None:
            if column.server_default is not None or column is table.autoincrement_column:
                continue
            fills.append((column.key, None, False))
        elif isinstance(default, sa.ColumnDefault) and default.is_scalar:
            fills.append((column.key, default.arg, False))
        elif isinstance(default, sa.ColumnDefault) and default.is_callable:
            # SQLAlchemy wraps a default of no argument as a function of the execution context.
            fills.append((column.key, default.arg, True))
        else:  # a SQL expression or a sequence: only the database can fill it
            raise TypeError(f"{table.name}.{column.key}: a default SQLAlchemy must compute")
    _fill_plans[table] = fills
    return fills


_fill_plans: dict[sa.Table, list[_Fill]] = {}


def with_defaults(table: sa.Table, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` as a complete row of ``table`` for a Core INSERT: every column not given gets
    what the ORM would insert for it — the column's default (a callable one called once, as the
    ORM calls it once per column and row), else NULL; a column the database fills is left out
    unless given. The defaults stay in the model, said once."""
    for key in values:
        if key not in table.c:
            raise KeyError(f"{table.name} has no column {key}")
    row = {
        key: values[key] if key in values else default(None) if is_callable else default
        for key, default, is_callable in _fills(table)
    }
    row.update(values)  # keeps the table's order; adds a given column the database would fill
    return row


_CONNECTION = "db_connection"


@event.listens_for(Session, "after_begin")
def _note_connection(session: Session, transaction: SessionTransaction, connection: sa.Connection) -> None:
    if transaction.parent is None:  # a savepoint runs on its parent's connection
        session.info[_CONNECTION] = connection


@event.listens_for(Session, "after_transaction_end")
def _forget_connection(session: Session, transaction: SessionTransaction) -> None:
    if ends_outermost(transaction):
        session.info.pop(_CONNECTION, None)


def connection(session: AnySession | None = None) -> sa.Connection:
    """``session.connection()`` (the request's session by default): the connection of its
    transaction, begun if none is. Once the transaction holds one, it is the one noted when it
    began, until the transaction ends: a booking asks a dozen times, and each
    ``Session.connection()`` walked the session's transaction machinery to find the same one.
    Inside a savepoint the session is asked, as before."""
    if session is None or isinstance(session, scoped_session):
        session = db.session() if session is None else session()
    found: sa.Connection | None = session.info.get(_CONNECTION)
    if found is None or session.in_nested_transaction():
        # Inside a savepoint the session's own look-up is what emits the SAVEPOINT (lazily, at the
        # savepoint's first statement): the same connection, but it must be asked.
        return session.connection()
    return found


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
