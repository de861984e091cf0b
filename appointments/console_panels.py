"""The appointments' panels on the console's dashboard: today's visits by status, requests no
officer has yet, each officer's load, and the bookings and punctuality of the last 30 days."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from app import clock
from app.extensions import db
from app.org.scoping import areas_visible_to
from app.web import charts, part, register_panel
from app.web.filters import local_date
from appointments import stats

UNASSIGNED_SHOWN = 8
CHART_DAYS = 30

VISIT_STATUS = {
    "requested": _l("Requested"),
    "assigned": _l("Assigned"),
    "en_route": _l("En route"),
    "completed": _l("Completed"),
    "not_home": _l("Not at home"),
    "rescheduled": _l("Rescheduled"),
    "cancelled": _l("Cancelled"),
}
STATUS_KIND = {
    "requested": "warn",
    "assigned": "info",
    "en_route": "info",
    "completed": "ok",
    "not_home": "bad",
    "rescheduled": "warn",
    "cancelled": "",
}


def _area_names(actor) -> dict:
    return {a.id: a.name for a in db.session.execute(areas_visible_to(actor)).scalars()}


def visits_today(actor) -> Markup:
    counts = stats.visits_by_status(actor, clock.today())
    items = [{"label": VISIT_STATUS[s], "value": n, "kind": STATUS_KIND[s] if n else ""} for s, n in counts.items()]
    return part("counts", items=items, note=_("%(total)d visits today in all", total=sum(counts.values())))


def unassigned(actor) -> Markup:
    visits, total = stats.unassigned(actor, clock.today(), UNASSIGNED_SHOWN)
    areas = _area_names(actor)
    rows = [
        [
            _day_label(v.day),
            f"{v.window_start:%H:%M}–{v.window_end:%H:%M}",
            areas.get(v.area_id, ""),
            Markup('<span class="clip" title="{0}">{0}</span>').format(v.address),
            part("badge", label=VISIT_STATUS[v.status], kind=STATUS_KIND[v.status]) if v.status != "requested" else "",
        ]
        for v in visits
    ]
    columns = [
        {"label": _("Day")},
        {"label": _("Window")},
        {"label": _("Area")},
        {"label": _("Address")},
        {"label": ""},
    ]
    return part(
        "table", columns=columns, rows=rows, more=total - len(rows), empty=_("Every open request has an officer.")
    )


def _day_label(day) -> str:
    today = clock.today()
    if day == today:
        return _("Today")
    if day == today + timedelta(days=1):
        return _("Tomorrow")

    return local_date(day)


def officer_load(actor) -> Markup:
    limit = current_app.config["OFFICER_DAILY_LIMIT"]
    rows = []
    for line in stats.officer_load(actor, clock.today()):
        officer = line["officer"]
        role = _("Officer") if officer.role == "officer" else _("Auxiliary officer")
        state = part("badge", label=_("On leave"), kind="warn") if line["on_leave"] else ""
        meter = Markup('<meter min="0" max="{}" high="{}" value="{}" title="{}/{}"></meter>').format(
            limit, limit - 2, line["open"], line["open"], limit
        )
        rows.append([officer.display_name or officer.username, role, line["open"], line["total"], meter, state])
    columns = [
        {"label": _("Officer")},
        {"label": _("Role")},
        {"label": _("Open"), "num": True},
        {"label": _("All today"), "num": True},
        {"label": _("Load (limit %(n)d)", n=limit)},
        {"label": ""},
    ]
    return part("table", columns=columns, rows=rows, empty=_("No active officers."))


def bookings_chart(actor) -> Markup:
    end = clock.today()
    points = stats.bookings_per_day(actor, end - timedelta(days=CHART_DAYS - 1), end)
    total = sum(n for _day, n in points)
    label = _("Bookings per day, last %(days)d days", days=CHART_DAYS)
    return part(
        "chart",
        svg=charts.bars(points, label, width=820),
        caption=_(
            "%(total)d bookings in %(days)d days; today %(today)d", total=total, days=CHART_DAYS, today=points[-1][1]
        ),
    )


def on_time_chart(actor) -> Markup:
    end = clock.today()
    points = stats.on_time_rate(actor, end - timedelta(days=CHART_DAYS - 1), end)
    known = [v for _day, v in points if v is not None]
    label = _("Visits done within their window, last %(days)d days", days=CHART_DAYS)
    caption = (
        _("Average %(rate)d%% over the days with visits due", rate=round(100 * sum(known) / len(known)))
        if known
        else _("No visits were due in these days.")
    )
    return part("chart", svg=charts.line(points, label), caption=caption)


register_panel("visits_today", 10, visits_today, title=_l("Visits today by status"), permission="visit.read")
register_panel("unassigned", 20, unassigned, title=_l("Requests without an officer"), permission="visit.read")
register_panel("officer_load", 30, officer_load, title=_l("Officers and their load today"), permission="visit.read")
register_panel("bookings_chart", 80, bookings_chart, title=_l("Bookings per day"), permission="booking.read", wide=True)
register_panel("on_time_chart", 90, on_time_chart, title=_l("On-time rate"), permission="visit.read")
