"""Counting the SQL statements a piece of work sends: how a test proves there is no N+1 (the
count does not grow with the rows)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from app.extensions import db


@contextmanager
def statements(app) -> Iterator[list[str]]:
    """The statements sent on the app's engine while the block runs (test client requests
    included: they run in this process)."""
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)
