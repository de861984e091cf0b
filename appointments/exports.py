"""The visits export: a station's visits of a date range, as the dispatch board shows them. One
query: the area and the officer's name come joined in, not looked up row by row."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l

from app.auth.actor import Actor
from app.extensions import db
from app.org.models import Area, User
from app.web.exports import register_export
from appointments.console_panels import VISIT_STATUS
from appointments.dispatch.services import Visit, visits_visible_to


def visit_rows(actor: Actor, start: date, end: date) -> Iterator[tuple[Any, ...]]:
    query = (
        visits_visible_to(actor)
        .where(Visit.day.between(start, end))
        .outerjoin(Area, Area.id == Visit.area_id)
        .outerjoin(User, User.id == Visit.officer_id)
        .with_only_columns(
            Visit.day,
            Visit.window_start,
            Visit.window_end,
            Area.name,
            Visit.address,
            Visit.status,
            User.display_name,
            User.username,
        )
        .execution_options(yield_per=500)
    )
    for day, window_start, window_end, area, address, status, display_name, username in db.session.execute(query):
        yield (
            day,
            f"{window_start:%H:%M}-{window_end:%H:%M}",
            area or "",
            address,
            str(VISIT_STATUS.get(status, status)),
            display_name or username or "",
        )


register_export(
    "visits",
    _l("Visits"),
    (_l("Day"), _l("Window"), _l("Area"), _l("Address"), _l("Status"), _l("Officer")),
    visit_rows,
    permission="visit.read",
)
