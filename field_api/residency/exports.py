"""The registrations export: residence registrations begun in a date range, numbers masked."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l

from app import pii
from app.auth.actor import Actor
from app.extensions import db
from app.org.scoping import areas_visible_to
from app.web.exports import register_export
from field_api.residency.models import Registration
from field_api.scoping import registrations_visible_to

STATUS = {"active": _l("Active"), "ended": _l("Ended")}


def registration_rows(actor: Actor, start: date, end: date) -> Iterator[tuple[Any, ...]]:
    areas = {a.id: a.name for a in db.session.execute(areas_visible_to(actor)).scalars()}
    query = (
        registrations_visible_to(actor)
        .where(Registration.start_date.between(start, end))
        .execution_options(yield_per=500)
    )
    for r in db.session.execute(query).scalars():
        person = r.resident
        yield (
            person.name,
            pii.mask_identity(pii.decrypt(pii.IDENTITY, person.identity_enc)),
            areas.get(r.area_id, ""),
            r.address,
            r.start_date.isoformat(),
            r.maturity_date.isoformat(),
            str(STATUS.get(r.status, r.status)),
        )


register_export(
    "registrations",
    _l("Residence registrations"),
    (_l("Name"), _l("Identity number"), _l("Area"), _l("Address"), _l("Since"), _l("Six months on"), _l("Status")),
    registration_rows,
    permission="registration.read",
)
