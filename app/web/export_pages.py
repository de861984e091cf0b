"""The exports page: a date range and a kind (registered by the features, app.web.exports), then a
CSV or an XLSX streamed to the browser. The download is audited before the first row leaves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from flask import Response, abort, g, render_template, request, stream_with_context
from flask.typing import ResponseReturnValue
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app import audit, clock
from app.db import sqlite_begin_mode
from app.web import exports, page_blueprint, register_nav
from app.web.access import staff_page

pages = page_blueprint("exports", __name__, "/console/exports")
register_nav("exports.choose", _l("Exports"), 95)

MAX_DAYS = 366


def _range() -> tuple[date, date, dict[str, str]]:
    today, errors = clock.today(), {}
    try:
        start = date.fromisoformat(request.args.get("start", ""))
    except ValueError:
        start = today - timedelta(days=29)
        if request.args.get("start"):
            errors["start"] = _("A date such as 2026-12-04.")
    try:
        end = date.fromisoformat(request.args.get("end", ""))
    except ValueError:
        end = today
        if request.args.get("end"):
            errors["end"] = _("A date such as 2026-12-04.")
    if end < start:
        errors["end"] = _("The end is before the start.")
    elif (end - start).days >= MAX_DAYS:
        errors["end"] = _("At most a year at a time.")
    return start, end, errors


@pages.route("/", methods=["GET"])
@staff_page()
def choose() -> ResponseReturnValue:
    start, end, errors = _range()
    return render_template(
        "console/exports/choose.html", kinds=exports.kinds_for(g.actor), start=start, end=end, errors=errors
    ), (422 if errors else 200)


def _allowed_kind(name: str) -> exports.ExportKind:
    kind = exports.kind(name)
    if kind is None or not g.actor.can(kind.permission):
        abort(404)
    return kind


def _audit(name: str, start: date, end: date, fmt: str) -> None:
    audit.record(
        g.actor,
        "export.download",
        "export",
        name,
        after={"kind": name, "start": start.isoformat(), "end": end.isoformat(), "format": fmt},
        station_id=g.actor.station_id,
    )


def _refused(start: date, end: date, errors: dict[str, str]) -> ResponseReturnValue:
    return render_template(
        "console/exports/choose.html", kinds=exports.kinds_for(g.actor), start=start, end=end, errors=errors
    ), 422


def _filename(name: str, start: date, end: date, suffix: str) -> str:
    return f"{name}-{start.isoformat()}-{end.isoformat()}.{suffix}"


@pages.route("/<name>.csv", methods=["GET"])
@staff_page()
def download(name: str) -> ResponseReturnValue:
    kind = _allowed_kind(name)
    start, end, errors = _range()
    if errors:
        return _refused(start, end, errors)
    _audit(name, start, end, "csv")
    lines = exports.csv_lines(kind.columns, kind.rows(g.actor, start, end))
    locale = get_locale()

    def in_the_clerks_language() -> Iterator[str]:
        # The rows are written after the view returned (and its unit of work committed): the
        # language is fixed now rather than read again from the account for every label, and the
        # rows are read in a transaction of their own that only reads (on SQLite deferred, never
        # the write lock, however long the download takes).
        mode = sqlite_begin_mode.set("DEFERRED")
        try:
            with force_locale(str(locale)):
                yield from lines
        finally:
            sqlite_begin_mode.reset(mode)

    return Response(
        stream_with_context(in_the_clerks_language()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{_filename(name, start, end, "csv")}"'},
    )


@pages.route("/<name>.xlsx", methods=["GET"])
@staff_page()
def download_xlsx(name: str) -> ResponseReturnValue:
    """The workbook is written to a temporary file within the request (a zip is only whole at its
    end), one row in memory at a time, and then streamed out in chunks; a failure while writing
    is an error page and rolls the audit event back with the rest of the request."""
    kind = _allowed_kind(name)
    start, end, errors = _range()
    if errors:
        return _refused(start, end, errors)
    _audit(name, start, end, "xlsx")
    file = exports.xlsx_file(kind.title, kind.columns, kind.rows(g.actor, start, end))
    size = file.seek(0, 2)
    file.seek(0)
    response = Response(
        exports.chunks(file),
        mimetype=exports.XLSX_MIMETYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{_filename(name, start, end, "xlsx")}"',
            "Content-Length": str(size),
        },
        direct_passthrough=True,
    )
    response.call_on_close(file.close)
    return response


__all__ = ["pages"]
