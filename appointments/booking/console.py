"""The console's phone booking (电话预约): a caller rings the station, the clerk picks the area
and a window with seats left (the public availability, so the clerk sees what a citizen would),
enters the address and the contact, and books on the caller's behalf. The form is loaded by the
API's own ``BookingIn`` schema and booked by the API's ``bookings.create`` — the same checks, the
same confirmation SMS, the same audit event. A hidden idempotency key made with the form means a
double click or a reload books once."""

from __future__ import annotations

import uuid
from datetime import date, time, timedelta
from typing import Any

from flask import g, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError

from app import clock, pii
from app.errors import DomainError
from app.extensions import db
from app.org.scoping import areas_visible_to
from app.unit_of_work import commit_before_rendering, reads_first
from app.web import page_blueprint, register_nav
from app.web.access import staff_page
from app.web.i18n import translate_detail
from appointments.booking import reference as booking_reference
from appointments.booking import services as bookings
from appointments.booking.schemas import BookingIn
from appointments.windows import services as windows

pages = page_blueprint("phone_booking", __name__, "/console/booking")
register_nav("phone_booking.form", _l("Phone booking"), 15, permission="booking.create")

DAYS_SHOWN = 14
PURPOSE_LABELS = bookings.PURPOSE_LABELS
FIELDS = ("caller_name", "caller_phone", "contact_name", "contact_phone", "address", "notes", "purpose")


def _areas() -> list[Any]:
    return list(db.session.execute(areas_visible_to(g.actor)).scalars())


def _form(values: dict[str, str], errors: dict[str, str] | None = None, code: int = 200) -> ResponseReturnValue:
    areas = _areas()
    area_id = values.get("area_id") or (str(areas[0].id) if areas else "")
    days: list[dict[str, Any]] = []
    if area_id:
        today = clock.today()
        try:
            days = windows.availability(uuid.UUID(area_id), today, today + timedelta(days=DAYS_SHOWN - 1))
        except (ValueError, DomainError):
            db.session.rollback()
            days = []
    return render_template(
        "console/booking/form.html",
        areas=areas,
        area_id=area_id,
        days=[d for d in days if d["windows"]],
        values=values,
        errors=errors or {},
        purposes=PURPOSE_LABELS,
        key=values.get("idempotency_key") or uuid.uuid4().hex,
    ), code


@pages.route("/", methods=["GET"])
@staff_page("booking.create")
def form() -> ResponseReturnValue:
    return _form({"area_id": request.args.get("area_id", ""), "purpose": "registration"})


def _slot(raw: str) -> tuple[date, time] | None:
    try:
        day, start = raw.split("|")
        return date.fromisoformat(day), time.fromisoformat(start)
    except ValueError:
        return None


@pages.route("/", methods=["POST"])
@reads_first
@staff_page("booking.create")
def book() -> ResponseReturnValue:
    """Book for the caller; every refusal is shown next to its field and books nothing."""
    values = {k: request.form.get(k, "").strip() for k in (*FIELDS, "area_id", "slot", "idempotency_key")}
    slot = _slot(values["slot"])
    if slot is None:
        return _form(values, {"slot": _("Choose a window with seats left.")}, 422)
    body = {k: values[k] for k in FIELDS if values[k] or k in ("address", "contact_name", "contact_phone")}
    body.update(area_id=values["area_id"], day=slot[0].isoformat(), window_start=slot[1].strftime("%H:%M"))
    try:
        data = BookingIn().load(body)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {}
        return _form(values, {k: _field_message(v) for k, v in messages.items()}, 422)
    try:
        booking, _created = bookings.create(g.actor, data, f"console-{values['idempotency_key'][:60]}")
    except DomainError as exc:
        if exc.status >= 500:
            raise
        db.session.rollback()
        errors = {k: _field_message(v) for k, v in (exc.errors or {}).items()}
        if not errors:
            errors = {"slot": _("That window has no seat left; choose another.") if exc.status == 409 else exc.detail}
        return _form(values, errors, exc.status if exc.status in (409, 422) else 422)
    commit_before_rendering()
    return render_template(
        "console/booking/done.html",
        booking=booking,
        reference=booking_reference.display(booking.reference),  # as the caller's SMS says it
        contact_phone=pii.mask_phone(pii.normalize_phone(values["contact_phone"])),
        purpose=PURPOSE_LABELS.get(booking.purpose, booking.purpose),
    ), 201


def _field_message(value: object) -> str:
    """A field's first reason, in the clerk's language where the catalogue knows it."""
    first = value[0] if isinstance(value, list) and value else value
    return translate_detail(str(first))


__all__ = ["pages"]
