"""The console's dispatch board (派单): a day's visits of the station by window, each with the
officers who could take it and, for those who could not, why — the same ``refusal`` rule
``assign`` applies, so a conflict (on leave, another area, the day already full) shows before
saving rather than after. Assigning is the API's ``POST /visits/{id}/assign`` (same service, same
audit event, same SMS to the citizen). The route sheet is the day's visits of one officer, in
order, for printing."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from flask import abort, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app import clock
from app.errors import DomainError
from app.extensions import db
from app.org.models import FIELD_ROLES, User
from app.org.scoping import areas_visible_to, users_visible_to
from app.web import page_blueprint, register_nav
from app.web.access import staff_page
from appointments.console_panels import STATUS_KIND, VISIT_STATUS
from appointments.dispatch import services as dispatch
from appointments.dispatch.models import Visit

pages = page_blueprint("dispatch", __name__, "/console/dispatch")
register_nav("dispatch.board", _l("Dispatch"), 20, permission="visit.assign")

ASSIGNABLE = frozenset({"requested", "assigned", "rescheduled"})
# The refusal rule's reasons (appointments.dispatch.services.refusal), as a clerk reads them.
REASONS = (
    ("not an officer", _l("not an officer of this station")),
    ("the officer's account is inactive", _l("account inactive")),
    ("the officer does not work", _l("does not work this area")),
    ("the officer is on leave", _l("on leave that day")),
    ("the officer already has", _l("already has a full day")),
)


def _reason(text: str) -> str:
    return next((str(label) for prefix, label in REASONS if text.startswith(prefix)), text)


def _day() -> date:
    try:
        return date.fromisoformat(request.values.get("day", ""))
    except ValueError:
        return clock.today()


def _officers() -> list[User]:
    query = users_visible_to(g.actor).where(User.role.in_(FIELD_ROLES), User.active.is_(True))
    return list(db.session.execute(query.order_by(User.display_name)).scalars())


def _board(day: date, errors: dict[uuid.UUID, str] | None = None, code: int = 200) -> ResponseReturnValue:
    officers = _officers()
    names = {o.id: o.display_name or o.username for o in officers}
    areas = {a.id: a.name for a in db.session.execute(areas_visible_to(g.actor)).scalars()}
    visits = list(db.session.execute(dispatch.queue(g.actor, {"day": day})).scalars())
    rows: list[dict[str, Any]] = []
    for visit in visits:
        choices = []
        if visit.status in ASSIGNABLE:
            for officer in officers:
                why = dispatch.refusal(officer, visit)
                choices.append({"id": officer.id, "name": names[officer.id], "why": _reason(why) if why else None})
        rows.append(
            {
                "visit": visit,
                "area": areas.get(visit.area_id, ""),
                "officer": names.get(visit.officer_id) if visit.officer_id else None,
                "status": (VISIT_STATUS.get(visit.status, visit.status), STATUS_KIND.get(visit.status, "")),
                "choices": choices,
                "error": (errors or {}).get(visit.id),
            }
        )
    load = {o.id: sum(1 for v in visits if v.officer_id == o.id and v.status != "cancelled") for o in officers}
    return render_template(
        "console/dispatch/board.html",
        day=day,
        previous=day - timedelta(days=1),
        following=day + timedelta(days=1),
        rows=rows,
        officers=[{"id": o.id, "name": names[o.id], "load": load[o.id]} for o in officers],
        unassigned=sum(1 for r in rows if r["visit"].officer_id is None and r["visit"].status in ASSIGNABLE),
    ), code


@pages.route("/", methods=["GET"])
@staff_page("visit.assign")
def board() -> ResponseReturnValue:
    return _board(_day())


@pages.route("/<uuid:visit_id>/assign", methods=["POST"])
@staff_page("visit.assign")
def assign(visit_id: uuid.UUID) -> ResponseReturnValue:
    """Assign (or reassign) through the API's service; a refusal shows next to the visit and
    nothing changes."""
    day = _day()
    try:
        officer_id = uuid.UUID(request.form.get("officer_id", ""))
    except ValueError:
        return _board(day, {visit_id: _("Choose an officer.")}, 422)
    try:
        dispatch.assign(g.actor, visit_id, officer_id)
    except DomainError as exc:
        if exc.status == 404:
            raise
        db.session.rollback()
        detail = next(iter((exc.errors or {}).get("officer_id", [])), exc.detail)
        return _board(day, {visit_id: _reason(str(detail))}, 422)
    return redirect(url_for("dispatch.board", day=day.isoformat()), code=303)


@pages.route("/route", methods=["GET"])
@staff_page("visit.read")
def route_sheet() -> ResponseReturnValue:
    """One officer's visits of the day in window order, for paper: addresses and what each is for."""
    day = _day()
    try:
        officer_id = uuid.UUID(request.args.get("officer_id", ""))
    except ValueError:
        abort(404)
    officer = db.session.execute(
        users_visible_to(g.actor).where(User.id == officer_id, User.role.in_(FIELD_ROLES))
    ).scalar_one_or_none()
    if officer is None:
        abort(404)
    query = dispatch.queue(g.actor, {"day": day, "officer_id": officer.id}).where(Visit.status != "cancelled")
    areas = {a.id: a.name for a in db.session.execute(areas_visible_to(g.actor)).scalars()}
    visits = list(db.session.execute(query).scalars())
    return render_template(
        "console/dispatch/route.html",
        day=day,
        officer=officer,
        rows=[{"visit": v, "area": areas.get(v.area_id, "")} for v in visits],
        statuses=VISIT_STATUS,
    )


__all__ = ["pages"]
