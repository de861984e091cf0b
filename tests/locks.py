"""Who holds what, seen from outside the app: whether another connection could take SQLite's write
lock now, and whether a PostgreSQL session sits in an open transaction. A test calls these from
inside a request (a spy on slow work), where the request's own session cannot tell."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import NullPool

from app.extensions import db


def write_lock_taken(url: sa.URL) -> bool:
    """SQLite: does some connection hold the write lock (a BEGIN IMMEDIATE that cannot wait fails)?"""
    probe = sqlite3.connect(str(url.database), timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return True
    finally:
        if probe.in_transaction:
            probe.execute("ROLLBACK")
        probe.close()
    return False


def transactions_open(url: sa.URL) -> int:
    """PostgreSQL: how many other sessions of this database are inside a transaction."""
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
                )
            ).scalar_one()
    finally:
        engine.dispose()


def held() -> dict[str, object]:
    """Inside a request: what its database shows from outside right now (its session included)."""
    url = db.engine.url
    session_open = db.session().in_transaction()
    if url.get_backend_name() == "sqlite":
        return {"session_in_transaction": session_open, "write_lock": write_lock_taken(url)}
    return {"session_in_transaction": session_open, "transactions": transactions_open(url)}


@contextmanager
def transactions(app) -> Iterator[list[str]]:
    """The transactions and statements the app's engine runs while the block does: ``BEGIN`` and
    ``COMMIT``/``ROLLBACK`` as the engine sees them, SQLite's own ``BEGIN <mode>`` among the
    statements."""
    seen: list[str] = []
    with app.app_context():
        engine = db.engine
    listeners = {
        "begin": lambda conn: seen.append("begin"),
        "commit": lambda conn: seen.append("commit"),
        "rollback": lambda conn: seen.append("rollback"),
        "before_cursor_execute": lambda conn, cursor, statement, *_: seen.append(statement),
    }
    for name, fn in listeners.items():
        event.listen(engine, name, fn)
    try:
        yield seen
    finally:
        for name, fn in listeners.items():
            event.remove(engine, name, fn)
