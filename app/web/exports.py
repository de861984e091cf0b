"""Exports (导出): the kernel offers the page, the CSV and XLSX writers and the audit event; each
feature registers the kinds it owns, with the rows coming from its own scoped query, so the kernel
names no feature and an export shows exactly what the API would show the same clerk (numbers
masked).

A row's values are typed: text, numbers, ``date`` and aware ``datetime`` (shown in the district's
time zone). The CSV writes them as ISO text; the XLSX as real dates, so Excel sorts and filters
them as dates.

A CSV starts with a UTF-8 byte-order mark so Excel opens Chinese text correctly, and is streamed
row by row: a year of a busy station's visits never sits in memory. An XLSX is a zip, finished
only when its last row is in, so it is written first — by XlsxWriter in ``constant_memory`` mode,
which flushes each row to disk as the next begins — into a temporary file that is then streamed
out in chunks. Every download is audited (``export.download``: the kind, the date range and the
format) before its first row is written.

A text cell that begins like a formula (``= + - @``, a tab or a carriage return) gets a leading
apostrophe in the CSV, and is always written as text in the XLSX: an address typed by anyone
must not run as a formula on a clerk's computer."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any

import xlsxwriter

from app import clock
from app.auth.actor import Actor

Rows = Callable[[Actor, date, date], Iterable[tuple[Any, ...]]]

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CHUNK = 64 * 1024
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_MAX_WIDTH = 60  # characters: a long address wraps the eye, not the column


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


def _local(value: datetime) -> datetime:
    return value.astimezone(clock.LOCAL_TZ) if value.tzinfo is not None else value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{_local(value):%Y-%m-%d %H:%M:%S}"
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return "'" + text if isinstance(value, str) and text.startswith(_FORMULA_START) else text


def csv_lines(header: Iterable[object], rows: Iterable[tuple[Any, ...]]) -> Iterator[str]:
    """The file as text chunks: the byte-order mark and the header, then a line per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([str(h) for h in header])
    yield "\ufeff" + buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_text(v) for v in row])
        yield buffer.getvalue()


def _width(text: str) -> int:
    """Columns Excel needs for the text: a Chinese character is about two Latin ones wide."""
    return sum(2 if ord(c) > 0x2E7F else 1 for c in text)


def _sheet_name(title: object) -> str:
    name = "".join(" " if c in "[]:*?/\\" else c for c in str(title)).strip()
    return name[:31] or "Sheet1"


def xlsx_file(title: object, header: Iterable[object], rows: Iterable[tuple[Any, ...]]) -> IO[bytes]:
    """The workbook in an unnamed temporary file, positioned at its start; the caller closes it.

    One sheet named after the kind, a bold header row that stays in view, dates as dates, and
    each column as wide as its widest cell (within reason). ``constant_memory`` keeps one row in
    memory at a time; the widths are set at the end, which that mode allows (they are written
    when the workbook is closed)."""
    out = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115  (handed to the caller to stream)
    try:
        workbook = xlsxwriter.Workbook(
            out,
            {
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        day = workbook.add_format({"num_format": "yyyy-mm-dd", "align": "left"})
        moment = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm", "align": "left"})
        bold = workbook.add_format({"bold": True, "bottom": 1})
        sheet = workbook.add_worksheet(_sheet_name(title))
        names = [str(h) for h in header]
        widths = [_width(n) + 2 for n in names]
        for col, name in enumerate(names):
            sheet.write_string(0, col, name, bold)
        sheet.freeze_panes(1, 0)
        row_number = 0
        for row_number, row in enumerate(rows, start=1):
            for col, value in enumerate(row):
                if value is None or value == "":
                    continue
                if isinstance(value, datetime):
                    sheet.write_datetime(row_number, col, _local(value).replace(tzinfo=None), moment)
                    shown = 16
                elif isinstance(value, date):
                    sheet.write_datetime(row_number, col, value, day)
                    shown = 10
                elif isinstance(value, bool):
                    sheet.write_boolean(row_number, col, value)
                    shown = 5
                elif isinstance(value, int | float):
                    sheet.write_number(row_number, col, value)
                    shown = len(str(value))
                else:
                    text = str(value)
                    sheet.write_string(row_number, col, text)
                    shown = _width(text)
                if col < len(widths):
                    widths[col] = max(widths[col], min(shown + 2, _MAX_WIDTH))
        for col, width in enumerate(widths):
            sheet.set_column(col, col, width)
        if row_number:
            sheet.autofilter(0, 0, row_number, len(names) - 1)
        workbook.close()
        out.seek(0)
        return out
    except BaseException:
        out.close()
        raise


def chunks(file: IO[bytes]) -> Iterator[bytes]:
    """The file's bytes a chunk at a time; the file is closed at the end, or when the client
    goes away (the server closes the generator)."""
    try:
        while chunk := file.read(CHUNK):
            yield chunk
    finally:
        file.close()
