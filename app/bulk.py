"""Bulk writes for the scheduler's jobs: thousands of rows in one statement, rows whose key is
already there ignored (``ON CONFLICT … DO NOTHING``), the number actually inserted returned.

PostgreSQL gets one ``INSERT … SELECT … FROM unnest(<one array per column>)``: a single statement
with one parameter per column, however many rows, so neither SQLAlchemy nor psycopg does work per
row and per value. SQLite gets the dialect's INSERT through ``executemany``, which is already a loop
in C there. Values go in as Python objects of the column's type (aware datetimes, UUIDs, dicts
for JSON)."""
from __future__ import annotations

import json

import sqlalchemy as sa

from app.db import insert_for
from app.extensions import db


def insert_ignoring(table: sa.Table, rows: list[dict], conflict: list[str]) -> int:
    """Insert ``rows`` (dicts with the same keys) into ``table``, skipping any whose ``conflict``
    columns match a row already there; returns how many were inserted."""
    if not rows:
        return 0
    dialect = db.session.get_bind().dialect
    if dialect.name == "postgresql":
        return _unnest(table, rows, conflict, dialect)
    stmt = insert_for(db.session)(table).on_conflict_do_nothing(index_elements=conflict)
    return db.session.execute(stmt, rows).rowcount


def _unnest(table: sa.Table, rows: list[dict], conflict: list[str], dialect) -> int:
    quote = dialect.identifier_preparer.quote
    names = list(rows[0])
    arrays, picks, params = [], [], {}
    for i, name in enumerate(names):
        column = table.c[name]
        is_json = isinstance(column.type, sa.JSON)
        element = "text" if is_json else column.type.compile(dialect=dialect)
        arrays.append(f"CAST(:a{i} AS {element}[])")
        picks.append(f"u.c{i}::json" if is_json else f"u.c{i}")
        params[f"a{i}"] = [json.dumps(r[name], ensure_ascii=False) if is_json else r[name] for r in rows]
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "
           f"SELECT {', '.join(picks)} FROM unnest({', '.join(arrays)}) AS u({', '.join(f'c{i}' for i in range(len(names)))}) "
           f"ON CONFLICT ({', '.join(quote(c) for c in conflict)}) DO NOTHING")
    return db.session.execute(sa.text(sql), params).rowcount


def id_in(column, ids: list):
    """``column IN ids`` as one array parameter on PostgreSQL (``= ANY``), a plain IN elsewhere."""
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == sa.any_(sa.bindparam("ids", list(ids), type_=ARRAY(column.type)))
    return column.in_(ids)
