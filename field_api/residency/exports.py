"""The residency exports, numbers masked: the registrations begun in a date range, and the
six-months list — the residents whose six months of residence mature in the range, with what
became of their two reminders (the pre-notice and the notice, the maturity job's messages).

Each is one query of the clerk's scope with the resident (and the reminders) joined in, streamed
in batches; nothing is looked up row by row."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import aliased

from app import pii
from app.auth.actor import Actor
from app.bulk import uuid_key
from app.extensions import db
from app.notify.models import Notification
from app.org.models import Area
from app.web.exports import register_export
from doorstep_protocol.identity import mask_phone
from field_api.residency.maturity_console import STATUS as REMINDER_STATUS
from field_api.residency.models import NOTICE_KEY, PRENOTICE_KEY, Registration, Resident
from field_api.residency.services import registrations_visible_to

STATUS = {"active": _l("Active"), "ended": _l("Ended")}


def _identity(encrypted: str) -> str:
    return pii.mask_identity(pii.decrypt(pii.IDENTITY, encrypted)) or ""


def registration_rows(actor: Actor, start: date, end: date) -> Iterator[tuple[Any, ...]]:
    query = (
        registrations_visible_to(actor)
        .where(Registration.start_date.between(start, end))
        .join(Resident, Resident.id == Registration.resident_id)
        .outerjoin(Area, Area.id == Registration.area_id)
        .with_only_columns(
            Resident.name,
            Resident.identity_enc,
            Area.name,
            Registration.address,
            Registration.start_date,
            Registration.maturity_date,
            Registration.status,
        )
        .execution_options(yield_per=500)
    )
    for name, identity_enc, area, address, since, matures, status in db.session.execute(query):
        yield (name, _identity(identity_enc), area or "", address, since, matures, str(STATUS.get(status, status)))


register_export(
    "registrations",
    _l("Residence registrations"),
    (_l("Name"), _l("Identity number"), _l("Area"), _l("Address"), _l("Since"), _l("Six months on"), _l("Status")),
    registration_rows,
    permission="registration.read",
)


def _reminder(status: str | None) -> str:
    if status is None:
        return str(_l("No message"))
    return str(REMINDER_STATUS[status][0]) if status in REMINDER_STATUS else status


def maturity_rows(actor: Actor, start: date, end: date) -> Iterator[tuple[Any, ...]]:
    """Registrations maturing in the range whose resident still lived there on that day (active,
    or ended after it): the six-months page's list over any range. A reminder's message is found
    by its outbox key, joined in; no message is "No message" (not due yet, or told in person)."""
    notice, prenotice = aliased(Notification), aliased(Notification)
    query = (
        registrations_visible_to(actor)
        .where(
            Registration.maturity_date.between(start, end),
            sa.or_(Registration.status == "active", Registration.end_date > Registration.maturity_date),
        )
        .join(Resident, Resident.id == Registration.resident_id)
        .outerjoin(Area, Area.id == Registration.area_id)
        .outerjoin(notice, notice.dedupe_key == sa.literal(NOTICE_KEY) + uuid_key(Registration.id))
        .outerjoin(prenotice, prenotice.dedupe_key == sa.literal(PRENOTICE_KEY) + uuid_key(Registration.id))
        .with_only_columns(
            Registration.maturity_date,
            Resident.name,
            Resident.identity_enc,
            Resident.phone_enc,
            Area.name,
            Registration.address,
            Registration.start_date,
            prenotice.status,
            notice.status,
        )
        .order_by(None)
        .order_by(Registration.maturity_date, Registration.id)
        .execution_options(yield_per=500)
    )
    for matures, name, identity_enc, phone_enc, area, address, since, pre, sent in db.session.execute(query):
        phone = mask_phone(pii.decrypt(pii.PHONE, phone_enc)) if phone_enc else ""
        yield (
            matures,
            name,
            _identity(identity_enc),
            phone,
            area or "",
            address,
            since,
            _reminder(pre),
            _reminder(sent),
        )


register_export(
    "maturity",
    _l("Six months"),
    (
        _l("Six months on"),
        _l("Name"),
        _l("Identity number"),
        _l("Phone"),
        _l("Area"),
        _l("Address"),
        _l("Since"),
        _l("Six months soon"),
        _l("Six months reached"),
    ),
    maturity_rows,
    permission="maturity.read",
)
