"""The console's audit page (审计): the station's audit events filtered by who, what, which
record and when — the API's ``GET /audit-events`` through the same scoped query — and a check of
the whole hash chain (``verify_chain``, as ``flask verify-audit`` runs it), which says whether any
event was altered, removed or inserted and where."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from flask import g, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app import clock
from app.audit.services import ChainReport, events_visible_to, verify_chain
from app.extensions import db
from app.org.models import User
from app.org.scoping import users_visible_to
from app.web import page_blueprint, register_nav
from app.web.access import staff_page

pages = page_blueprint("audit_trail", __name__, "/console/audit")
register_nav("audit_trail.events", _l("Audit"), 90, permission="audit.read")

PAGE = 100


def _day(name: str) -> date | None:
    try:
        return date.fromisoformat(request.values.get(name, ""))
    except ValueError:
        return None


def _filters() -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """(the service's filters, the form's values, errors by field): dates are the station's days."""
    values = {
        k: request.values.get(k, "").strip() for k in ("actor_id", "action", "entity", "entity_id", "since", "until")
    }
    filters: dict[str, Any] = {"limit": PAGE + 1}
    errors: dict[str, str] = {}
    for key in ("action", "entity", "entity_id"):
        if values[key]:
            filters[key] = values[key][:64]
    if values["actor_id"]:
        try:
            filters["actor_id"] = uuid.UUID(values["actor_id"])
        except ValueError:
            errors["actor_id"] = _("Choose someone from the list.")
    since, until = _day("since"), _day("until")
    if values["since"] and since is None:
        errors["since"] = _("A date such as 2026-12-04.")
    if values["until"] and until is None:
        errors["until"] = _("A date such as 2026-12-04.")
    if since and until and until < since:
        errors["until"] = _("The end is before the start.")
    if since:
        filters["since"] = clock.day_starts(since)
    if until:
        filters["until"] = clock.day_ends(until)
    try:
        before = int(request.values.get("before_id", ""))
        if before > 0:
            filters["before_id"] = before
    except ValueError:
        pass
    return filters, values, errors


def _page(report: ChainReport | None = None) -> ResponseReturnValue:
    filters, values, errors = _filters()
    events = [] if errors else list(events_visible_to(g.actor, filters))
    people = list(db.session.execute(users_visible_to(g.actor).order_by(User.display_name)).scalars())
    names = {u.id: u.display_name or u.username for u in people}
    return render_template(
        "console/audit/events.html",
        events=events[:PAGE],
        older=events[PAGE - 1].id if len(events) > PAGE else None,
        names=names,
        people=people,
        values=values,
        errors=errors,
        report=report,
    ), (422 if errors else 200)


@pages.route("/", methods=["GET"])
@staff_page("audit.read")
def events() -> ResponseReturnValue:
    return _page()


@pages.route("/verify", methods=["POST"])
@staff_page("audit.read")
def verify() -> ResponseReturnValue:
    """Walk the whole chain (every station's events link into one): a POST, since it reads it all."""
    report = verify_chain()
    # verify_chain lets go of every row it walked (expunge_all, to bound its memory); the page's
    # frame needs the session and the account again.
    for row in (g.get("console_session"), g.get("console_user")):
        if row is not None:
            db.session.add(row)
    return _page(report)


__all__ = ["pages"]
