"""Hot statements run on the driver's cursor, in the session's transaction.

A booking runs about fifteen statements, and SQLAlchemy's execution context around each
(parameters gathered again, a result object, its metadata, the dispatch of execution events)
cost a quarter of the request — three times what SQLite spent running them (decision 118). A
``Prepared`` statement is a Core statement compiled once per dialect: its text, the order of its
parameters and each value's bind processor, each result column's processor. Running it puts the
values through the same processors SQLAlchemy would, runs the text on the DB-API cursor of the
connection the session's transaction holds (``app.db.connection``: BEGIN, savepoints, commit and
rollback stay the session's), and turns the rows into named tuples through the same result
processors. The same values, the same SQL, the same rows: only the machinery in between is gone.

Two things SQLAlchemy's path gives are kept: a driver error surfaces as SQLAlchemy's exception of
the same kind (``IntegrityError``, ``OperationalError``…, which callers and ``unit_of_work``'s
retry catch), a lost connection invalidated as SQLAlchemy would; and when anything listens to
the connection's cursor events (the tests that count statements or watch the write lock), the
statement goes through ``exec_driver_sql`` instead, so every statement is still seen.

Not for statements with expanding ``IN`` lists or post-compile parameters (their text depends on
the values): those raise ``TypeError`` when prepared."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler

from app.db import AnySession, connection
from app.db import driver_execute as execute

# How a value is bound: its type's processor, or None when the driver takes it as it is.
Processor = Callable[[Any], Any] | None


class _Plan:
    """One statement compiled for one dialect."""

    __slots__ = ("binds", "fixed", "order", "required", "results", "row", "sql")

    def __init__(self, statement: sa.ClauseElement, dialect: Dialect, column_keys: Sequence[str] | None) -> None:
        compiled = statement.compile(
            dialect=dialect, column_keys=list(column_keys) if column_keys is not None else None
        )
        if not isinstance(compiled, SQLCompiler):
            raise TypeError(f"{statement} is not a SQL statement")
        if compiled.escaped_bind_names:
            raise TypeError("parameter names that need escaping: name them plainly")
        for bind in compiled.binds.values():
            if bind.expanding or bind.literal_execute:
                raise TypeError(f"parameter {bind.key!r}: its SQL depends on the value; run it through SQLAlchemy")
        self.sql: str = compiled.string
        self.order: tuple[str, ...] | None = tuple(compiled.positiontup) if compiled.positiontup is not None else None
        # Values the statement carries itself (a literal compared in its WHERE): bound once.
        self.fixed: dict[str, Any] = {name: b.value for name, b in compiled.binds.items() if not b.required}
        self.required = frozenset(name for name, b in compiled.binds.items() if b.required)
        self.binds: dict[str, Callable[[Any], Any]] = {
            name: process
            for name, b in compiled.binds.items()
            if (process := bind_processor(b.type, dialect)) is not None
        }
        columns = _result_columns(statement)
        self.row: Callable[[Sequence[Any]], tuple[Any, ...]] | None = (
            namedtuple("Row", [key for key, _ in columns], rename=True)._make  # type: ignore[attr-defined]
            if columns
            else None
        )
        self.results: tuple[tuple[int, Callable[[Any], Any]], ...] = tuple(
            (i, process)
            for i, (_, column_type) in enumerate(columns)
            if (process := column_type.dialect_impl(dialect).result_processor(dialect, None)) is not None
        )

    def args(self, params: Mapping[str, Any] | None) -> Any:
        values = {**self.fixed, **params} if params else dict(self.fixed)
        for name, process in self.binds.items():
            if name in values:
                values[name] = process(values[name])
        if self.order is None:
            if not self.required <= values.keys():
                missing = sorted(self.required - values.keys())[0]
                raise sa.exc.ArgumentError(f"a value is required for parameter {missing!r}")
            return values
        try:
            return tuple([values[name] for name in self.order])
        except KeyError as exc:
            raise sa.exc.ArgumentError(f"a value is required for parameter {exc.args[0]!r}") from None

    def rows(self, raw: list[Sequence[Any]]) -> list[tuple[Any, ...]]:
        if self.row is None:
            return []
        make, results = self.row, self.results
        if not results:
            return [make(r) for r in raw]
        out = []
        for r in raw:
            values = list(r)
            for i, process in results:
                values[i] = process(values[i])
            out.append(make(values))
        return out


def bind_processor(column_type: sa.types.TypeEngine[Any], dialect: Dialect) -> Processor:
    """What SQLAlchemy does to a value of ``column_type`` before the driver gets it (None: nothing)."""
    return column_type.dialect_impl(dialect).bind_processor(dialect)


def _result_columns(statement: sa.ClauseElement) -> list[tuple[str, sa.types.TypeEngine[Any]]]:
    """The columns a SELECT selects or a DML statement RETURNs, with their types."""
    columns = getattr(statement, "exported_columns", None)
    if columns is None:
        return []
    return [(column.key, column.type) for column in columns]


class Prepared:
    """A Core statement compiled once per dialect and run on the driver's cursor. For an INSERT
    or UPDATE without ``values()``, ``column_keys`` names the columns its parameters set."""

    __slots__ = ("_plans", "column_keys", "statement")

    def __init__(self, statement: sa.ClauseElement, column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.column_keys = column_keys
        self._plans: dict[str, _Plan] = {}

    def _plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(dialect.name)
        if plan is None:
            plan = self._plans[dialect.name] = _Plan(self.statement, dialect, self.column_keys)
        return plan

    def all(self, params: Mapping[str, Any] | None = None, session: AnySession | None = None) -> list[Any]:
        """Every row, as named tuples (``row.column``, ``row[0]``)."""
        conn = connection(session)
        plan = self._plan(conn.dialect)
        raw, _count = execute(conn, plan.sql, plan.args(params))
        return plan.rows(raw)

    def first(self, params: Mapping[str, Any] | None = None, session: AnySession | None = None) -> Any:
        rows = self.all(params, session)
        return rows[0] if rows else None

    def scalar(self, params: Mapping[str, Any] | None = None, session: AnySession | None = None) -> Any:
        """The first column of the first row, or None when there is no row."""
        row = self.first(params, session)
        return None if row is None else row[0]

    def run(self, params: Mapping[str, Any] | None = None, session: AnySession | None = None) -> int:
        """For a statement that returns no rows: how many rows it changed."""
        conn = connection(session)
        plan = self._plan(conn.dialect)
        return execute(conn, plan.sql, plan.args(params))[1]


def run_sql(sql: str, params: Any = (), *, many: bool = False, session: AnySession | None = None) -> int:
    """Text already in the driver's form, with values already processed (``app.bulk`` compiles
    its inserts once; SQLite's lock hand-over is plain text): run it, or with ``many`` run it once per parameter set;
    how many rows it changed."""
    return execute(connection(session), sql, params, many=many)[1]
