"""The visits export: a station's visits of a date range, as the dispatch board shows them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l

from app.auth.actor import Actor
from app.extensions import db
from app.org.models import User
from app.org.scoping import areas_visible_to
from app.web.exports import register_export
from appointments.console_panels import VISIT_STATUS
from appointments.dispatch.models import Visit
from appointments.dispatch.services import visits_visible_to


def visit_rows(actor: Actor, start: date, end: date) -> Iterator[tuple[Any, ...]]:
    areas = {a.id: a.name for a in db.session.execute(areas_visible_to(actor)).scalars()}
    names: dict[Any, str] = {}
    query = visits_visible_to(actor).where(Visit.day.between(start, end)).execution_options(yield_per=500)
    for v in db.session.execute(query).scalars():
        if v.officer_id is not None and v.officer_id not in names:
            officer = db.session.get(User, v.officer_id)
            names[v.officer_id] = (officer.display_name or officer.username) if officer else ""
        yield (
            v.day.isoformat(),
            f"{v.window_start:%H:%M}-{v.window_end:%H:%M}",
            areas.get(v.area_id, ""),
            v.address,
            str(VISIT_STATUS.get(v.status, v.status)),
            names.get(v.officer_id, "") if v.officer_id else "",
        )


register_export(
    "visits",
    _l("Visits"),
    (_l("Day"), _l("Window"), _l("Area"), _l("Address"), _l("Status"), _l("Officer")),
    visit_rows,
    permission="visit.read",
)
