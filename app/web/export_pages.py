"""The exports page: a date range and a kind (registered by the features, app.web.exports), then a
CSV streamed to the browser. The download is audited before the first row leaves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from flask import Response, abort, g, render_template, request, stream_with_context
from flask.typing import ResponseReturnValue
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app import audit, clock
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


@pages.route("/<name>.csv", methods=["GET"])
@staff_page()
def download(name: str) -> ResponseReturnValue:
    kind = exports.kind(name)
    if kind is None or not g.actor.can(kind.permission):
        abort(404)
    start, end, errors = _range()
    if errors:
        return render_template(
            "console/exports/choose.html", kinds=exports.kinds_for(g.actor), start=start, end=end, errors=errors
        ), 422
    audit.record(
        g.actor,
        "export.download",
        "export",
        name,
        after={"kind": name, "start": start.isoformat(), "end": end.isoformat(), "format": "csv"},
        station_id=g.actor.station_id,
    )
    lines = exports.csv_lines(kind.columns, kind.rows(g.actor, start, end))
    locale = get_locale()

    def in_the_clerks_language() -> Iterator[str]:
        # The rows are written after the view returned (and its unit of work committed): the
        # language is fixed now rather than read again from the account for every label.
        with force_locale(str(locale)):
            yield from lines

    filename = f"{name}-{start.isoformat()}-{end.isoformat()}.csv"
    return Response(
        stream_with_context(in_the_clerks_language()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


__all__ = ["pages"]
