"""What the database holds, as one comparable value: tests that guard access take it before and
after a refused request and expect it unchanged."""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db

# Tables a refusal may legitimately write to: rate-limit counters count refused attempts.
BOOKKEEPING = frozenset({"throttle"})


def database_state(app, exclude: frozenset[str] = BOOKKEEPING) -> dict[str, list[tuple]]:
    """Every row of every table (but ``exclude``), in a stable order, read on a connection of its
    own so the test's session sees nothing it would not otherwise."""
    state = {}
    with app.app_context(), db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            if table.name not in exclude:
                state[table.name] = sorted(tuple(map(repr, row)) for row in conn.execute(sa.select(table)))
    return state


def changed_tables(before: dict[str, list[tuple]], after: dict[str, list[tuple]]) -> list[str]:
    return [name for name in before if before[name] != after.get(name)]
