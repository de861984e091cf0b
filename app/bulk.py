"""Bulk writes: thousands of rows in one statement, for the scheduler's jobs and for a tablet's
push.

On PostgreSQL, rows go by ``COPY … FROM STDIN``, and rows that may already be there by one
``INSERT … SELECT … FROM unnest(<one array per column>) ON CONFLICT DO NOTHING``: a single statement
with one parameter per column, however many rows, so neither SQLAlchemy nor psycopg does work per
row and per value. A single row (a booking's visit, timeline event, audit event and notice) goes
by a plain INSERT compiled once: one round trip, where COPY takes two (decision 123). SQLite gets
the dialect's INSERT through ``executemany``, which is already a loop in C there. Values go in as
Python objects of the column's type (aware datetimes, UUIDs, dicts for JSON).

Rows written here bypass the ORM, so its per-object events do not fire: a feature that follows
writes to a table (the change feed) subscribes with ``on_insert``."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

if TYPE_CHECKING:
    import psycopg

from app.db import affected, connection, json_text
from app.extensions import db
from app.prepared import Prepared, Processor, bind_processor, run_sql

_listeners: dict[str, list[Callable[..., Any]]] = {}


def on_insert(table: sa.Table, listener: Callable[..., Any]) -> None:
    """Call ``listener(session, rows, fresh=…)`` after ``insert_rows`` or ``insert_ignoring`` writes
    to ``table``, with every row given: ``fresh`` is True when each of them is new in this
    transaction (``insert_rows``), False when some may have been there already (an ignored one)."""
    _listeners.setdefault(table.name, []).append(listener)


def insert_rows(table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table``; a duplicate key raises
    ``IntegrityError`` as a single INSERT would, and nothing of the statement is written."""
    if rows:
        _insert(table, rows, None)


def insert_ignoring(table: sa.Table, rows: list[dict[str, Any]], conflict: list[str]) -> int:
    """Insert ``rows`` (dicts with the same keys) into ``table``, skipping any whose ``conflict``
    columns match a row already there; returns how many were inserted."""
    return _insert(table, rows, conflict) if rows else 0


def _insert(table: sa.Table, rows: list[dict[str, Any]], conflict: list[str] | None) -> int:
    dialect = db.session.get_bind().dialect
    if dialect.name == "postgresql":
        if conflict is not None:
            count = _unnest(table, rows, conflict, dialect)
        elif len(rows) == 1:  # a unit's one visit, timeline event, audit event or notice
            count = _single_insert(table, tuple(rows[0])).run(rows[0])
        else:
            count = _copy(table, rows, dialect)
    else:
        count = _executemany(table, rows, conflict, dialect)
    for listener in _listeners.get(table.name, ()):
        listener(db.session, rows, fresh=conflict is None)
    return count


def _executemany(table: sa.Table, rows: list[dict[str, Any]], conflict: list[str] | None, dialect: Dialect) -> int:
    """The dialect's INSERT, each value through its column type's bind processor, then the
    driver's ``executemany``: what ``session.execute(insert, rows)`` does, without the per-row
    bookkeeping that cost more than SQLite's own work."""
    sql, plan = _compiled_insert(table, tuple(rows[0]), tuple(conflict) if conflict is not None else None, dialect)
    if len(rows) == 1:  # a unit's one visit, timeline event, audit event or notice: no columns to gather
        row = rows[0]
        return run_sql(sql, tuple([row[key] if process is None else process(row[key]) for key, process in plan]))
    columns: list[list[Any]] = []
    for key, process in plan:
        values = [row[key] for row in rows]
        first = values[0]
        if process is None:
            pass
        elif all(v is first for v in values):  # one actor, one time, one device for the whole batch
            values = [process(first)] * len(values)
        else:
            values = list(map(process, values))
        columns.append(values)
    return run_sql(sql, list(zip(*columns, strict=True)), many=True)


@functools.lru_cache(maxsize=64)
def _compiled_insert(
    table: sa.Table, names: tuple[Any, ...], conflict: tuple[Any, ...] | None, dialect: Dialect
) -> tuple[str, list[tuple[str, Processor]]]:
    """The INSERT's text and, in the order of its parameters, each column with its processor:
    compiled once per table and set of columns."""
    stmt = insert(table)
    if conflict is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict))
    compiled = stmt.compile(dialect=dialect, column_keys=list(names))
    if compiled.positiontup is None:  # SQLite's qmark style is positional; a named style has no order
        raise TypeError(f"{dialect.name} binds parameters by name, not by position")
    keys = [compiled.binds[name].key for name in compiled.positiontup]
    return compiled.string, [(key, _processor(table.c[key].type, dialect)) for key in keys]


def _processor(column_type: sa.types.TypeEngine[Any], dialect: Dialect) -> Processor:
    """The column type's bind processor; for JSON, the serializer itself (the type's wrapper
    handles sentinels these rows never hold, and cost as much as orjson)."""
    if isinstance(column_type, sa.JSON):
        return (lambda v: None if v is None else json_text(v)) if column_type.none_as_null else json_text
    return bind_processor(column_type, dialect)


@functools.lru_cache(maxsize=64)
def _single_insert(table: sa.Table, names: tuple[str, ...]) -> Prepared:
    """One row's INSERT on PostgreSQL: a single round trip, where COPY takes two (the statement,
    then the data) and a cursor and a copy object of psycopg's around them."""
    return Prepared(table.insert(), column_keys=names)


def _copy(table: sa.Table, rows: list[dict[str, Any]], dialect: Dialect) -> int:
    """``COPY … FROM STDIN`` in the transaction's connection: PostgreSQL's own bulk load, rows
    encoded by psycopg in C. A duplicate key fails the whole COPY, as it would an INSERT."""
    quote = dialect.identifier_preparer.quote
    names = list(rows[0])
    json_columns = [(i, t.none_as_null) for i, n in enumerate(names) if isinstance(t := table.c[n].type, sa.JSON)]
    # SQLAlchemy types the driver's connection as the generic DB-API one; on PostgreSQL it is psycopg's.
    driver = cast("psycopg.Connection[Any]", connection().connection.dbapi_connection)
    cursor = driver.cursor()
    sql = f"COPY {quote(table.name)} ({', '.join(quote(n) for n in names)}) FROM STDIN"
    import psycopg  # the PostgreSQL driver (half a second to import), only on the COPY path

    try:
        with cursor, cursor.copy(sql) as copy:
            for row in rows:
                values = [row[n] for n in names]
                # None: a JSON null, as the ORM writes it, or SQL NULL if the column says so.
                for i, sql_null in json_columns:
                    values[i] = None if sql_null and values[i] is None else json_text(values[i])
                copy.write_row(values)
    except psycopg.IntegrityError as exc:  # what callers catch from any other INSERT
        raise IntegrityError(sql, None, exc) from exc
    return len(rows)


def _unnest(table: sa.Table, rows: list[dict[str, Any]], conflict: list[str] | None, dialect: Dialect) -> int:
    quote = dialect.identifier_preparer.quote
    names = list(rows[0])
    arrays: list[str] = []
    picks: list[str] = []
    params: dict[str, list[Any]] = {}
    for i, name in enumerate(names):
        column = table.c[name]
        json_type = column.type if isinstance(column.type, sa.JSON) else None
        is_json = json_type is not None
        element = "text" if is_json else column.type.compile(dialect=dialect)
        arrays.append(f"CAST(:a{i} AS {element}[])")
        picks.append(f"u.c{i}::json" if is_json else f"u.c{i}")
        if json_type is not None:  # None is a JSON null, as the ORM writes it, unless the column says SQL NULL
            sql_null = json_type.none_as_null
            params[f"a{i}"] = [None if sql_null and r[name] is None else json_text(r[name]) for r in rows]
        else:
            params[f"a{i}"] = [r[name] for r in rows]
    # Only the table's own (quoted) identifiers are spliced in; every value is bound.
    aliases = ", ".join(f"c{i}" for i in range(len(names)))
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "  # noqa: S608
        f"SELECT {', '.join(picks)} FROM unnest({', '.join(arrays)}) AS u({aliases})"
    )
    if conflict is not None:
        sql += f" ON CONFLICT ({', '.join(quote(c) for c in conflict)}) DO NOTHING"
    return affected(sa.text(sql), params)


def id_in(
    column: sa.ColumnElement[Any] | sa.orm.InstrumentedAttribute[Any], ids: list[Any], name: str = "ids"
) -> sa.ColumnElement[bool]:
    """``column IN ids`` with the ids as one parameter, however many: an array on PostgreSQL
    (``= ANY``), a JSON array read by ``json_each`` on SQLite. Rendering and binding one parameter
    per id cost more than the look-up itself for the hundreds a push asks about. ``name`` tells
    two such parameters of one statement apart."""
    dialect = db.session.get_bind().dialect
    if dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam(name, list(ids), type_=ARRAY(column.type)))
    process = _processor(column.type, dialect)
    stored = list(map(process, ids)) if process is not None else list(ids)  # as the column holds them
    listed: sa.Select[Any] = sa.select(sa.column("value")).select_from(
        sa.func.json_each(sa.bindparam(name, json_text(stored)))
    )
    return column.in_(listed)


# --- values made in SQL, for INSERT … SELECT -------------------------------------------------------
# A job that queues straight from the rows it selects (no row crossing to Python) makes each new
# id and each key inside the statement. Both must read as Python would have written them:
# ``sa.Uuid`` is a native ``uuid`` on PostgreSQL and 32 hex digits on SQLite, and a key built from
# an id uses its compact form, ``uuid.UUID.hex`` (``uuid_key``): on SQLite that is the stored
# column itself, so a key costs one concatenation per row (the hyphenated text took five
# ``substr()`` and eight ``||``, a third of the maturity job's time).


class new_uuid(FunctionElement[uuid.UUID]):
    """A random UUID for a ``sa.Uuid`` column: version 4 on PostgreSQL; on SQLite 128 random bits
    as 32 lowercase hex digits (no version bits: forging them costs a fifth of a bulk insert's
    time there, and nothing reads them)."""

    type = sa.Uuid()
    inherit_cache = True


@compiles(new_uuid, "postgresql")
def _new_uuid_pg(element: new_uuid, compiler: SQLCompiler, **kw: Any) -> str:
    return "gen_random_uuid()"


@compiles(new_uuid, "sqlite")
def _new_uuid_sqlite(element: new_uuid, compiler: SQLCompiler, **kw: Any) -> str:
    return "lower(hex(randomblob(16)))"  # lowercase, as ``uuid.UUID.hex``: the form ids are compared in


class uuid_key(FunctionElement[str]):
    """``<uuid column>.hex``: 32 lowercase hex digits, the form ids take inside keys and links.
    On SQLite the stored column is already that; on PostgreSQL the uuid's 16 bytes in hex (as
    cheap per row as its hyphenated text; ``replace()`` of that text costs twice as much)."""

    type = sa.String()
    inherit_cache = True


@compiles(uuid_key, "postgresql")
def _uuid_key_pg(element: uuid_key, compiler: SQLCompiler, **kw: Any) -> str:
    return f"encode(uuid_send({compiler.process(element.clauses, **kw)}), 'hex')"


@compiles(uuid_key, "sqlite")
def _uuid_key_sqlite(element: uuid_key, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


def uuid_hex(value: uuid.UUID | str) -> str:
    """The Python side of ``uuid_key``: a UUID, or its text in any form ``uuid.UUID`` reads, as
    32 lowercase hex digits."""
    return (value if isinstance(value, uuid.UUID) else uuid.UUID(value)).hex
