"""Exports (导出): the kernel offers the page, the CSV writer and the audit event; each feature
registers the kinds it owns, with the rows coming from its own scoped query, so the kernel names
no feature and an export shows exactly what the API would show the same clerk (numbers masked).

A CSV starts with a UTF-8 byte-order mark so Excel opens Chinese text correctly, and is streamed
row by row: a year of a busy station's visits never sits in memory. Every download is audited
(``export.download``: the kind and the date range) before its first row is written."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from app.auth.actor import Actor

Rows = Callable[[Actor, date, date], Iterable[tuple[Any, ...]]]


@dataclass(frozen=True)
class ExportKind:
    name: str  # the URL's and the file's name: visits, registrations…
    title: object  # a lazy string
    columns: tuple[object, ...]  # lazy strings, the header row
    rows: Rows  # rows of the actor's scope whose day falls in [start, end]
    permission: str


_KINDS: dict[str, ExportKind] = {}


def register_export(name: str, title: object, columns: tuple[object, ...], rows: Rows, *, permission: str) -> None:
    _KINDS[name] = ExportKind(name, title, columns, rows, permission)


def kinds_for(actor: Actor) -> list[ExportKind]:
    return [k for k in _KINDS.values() if actor.can(k.permission)]


def kind(name: str) -> ExportKind | None:
    return _KINDS.get(name)


def csv_lines(header: Iterable[object], rows: Iterable[tuple[Any, ...]]) -> Iterator[str]:
    """The file as text chunks: the byte-order mark and the header, then a line per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([str(h) for h in header])
    yield "\ufeff" + buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(["" if v is None else str(v) for v in row])
        yield buffer.getvalue()
