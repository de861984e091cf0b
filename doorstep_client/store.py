"""The tablet's own SQLite file: the schema, and the transaction and key-value plumbing every
other part writes through."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Self, overload

JsonObject = dict[str, Any]
"""A JSON object as the server sends it or the tablet stores it: a record's data, a mutation."""

FaultHook = Callable[[str], None]
"""``fault_hook(point)``, for tests: may raise ``Crash`` at a named point."""


def _dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _dumps(value: object) -> str | None:
    return None if value is None else _dump(value)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _now_iso() -> str:
    """The device clock, with its UTC offset (the server keeps it as ``occurred_at``; it never
    orders anything by it)."""
    return datetime.now(UTC).astimezone().isoformat(timespec="seconds")


# --- the local database ----------------------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS records (
    entity TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER,             -- the server's version this view is based on (NULL: never seen by the server)
    data JSON,                   -- what the officer sees: base + unsettled mutations (NULL: gone)
    base_version INTEGER,        -- the server's last word …
    base_data JSON,              -- … (NULL: the server has not sent this record)
    evicted INTEGER NOT NULL DEFAULT 0,   -- out of scope, held only until its mutations are pushed
    seen INTEGER NOT NULL DEFAULT 1,      -- during a reset: sent by the fresh pull yet?
    unconfirmed INTEGER NOT NULL DEFAULT 0,  -- known only from a push result: kept if the next pull sends it
    PRIMARY KEY (entity, id)
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    mutation_id TEXT NOT NULL UNIQUE,
    entity TEXT NOT NULL,
    op TEXT NOT NULL,
    record_id TEXT NOT NULL,
    base_version INTEGER,
    data JSON NOT NULL,
    occurred_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'applied', 'conflict', 'rejected')),
    hints JSON NOT NULL DEFAULT '{}',     -- client-only facts for the local view; never sent
    attempts INTEGER NOT NULL DEFAULT 0,
    first_sent_at TEXT,
    settled_at TEXT
);
CREATE INDEX IF NOT EXISTS ix_outbox_state ON outbox (state, seq);
CREATE TABLE IF NOT EXISTS touches (
    seq INTEGER NOT NULL,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    PRIMARY KEY (seq, entity, record_id)
);
CREATE INDEX IF NOT EXISTS ix_touches_record ON touches (entity, record_id);
CREATE TABLE IF NOT EXISTS results (
    mutation_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    replayed INTEGER NOT NULL,
    version INTEGER,
    record JSON,
    conflict JSON,
    errors JSON,
    received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS conflicts (
    mutation_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    kind TEXT,
    fields JSON,
    record JSON,
    received_at TEXT NOT NULL,
    seen_by_user INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS rejections (
    mutation_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    entity TEXT NOT NULL,
    op TEXT NOT NULL,
    record_id TEXT NOT NULL,
    data JSON NOT NULL,
    errors JSON,
    received_at TEXT NOT NULL,
    seen_by_user INTEGER NOT NULL DEFAULT 0
);
"""


class Store:
    """One tablet file, opened in WAL mode with full sync: a commit survives a power cut, not only
    a kill. ``fault_hook(point)`` is for tests: called at named points of every write and sync step,
    it may raise ``Crash`` to simulate a kill there (inside a transaction that means: rolled back,
    as SQLite would on restart)."""

    def __init__(self, path: str, *, fault_hook: FaultHook | None = None) -> None:
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        self.fault_hook = fault_hook

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. BEGIN IMMEDIATE takes the write lock up front, so two processes
        on the same file (the app and the CLI) queue instead of failing half-way."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _point(self, name: str) -> None:
        if self.fault_hook is not None:
            self.fault_hook(name)

    @overload
    def _meta(self, key: str) -> str | None: ...

    @overload
    def _meta(self, key: str, default: str) -> str: ...

    def _meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None or row[0] is None else str(row[0])

    def _set_meta(self, conn: sqlite3.Connection, **values: object) -> None:
        for key, value in values.items():
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, None if value is None else str(value)),
            )

    def _take_counter(self, conn: sqlite3.Connection, key: str) -> int:
        value = int(self._meta(key, "1"))
        self._set_meta(conn, **{key: value + 1})
        return value
