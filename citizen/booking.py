"""Journey 3, book a visit: choose the area, tap a half-day window with seats left, give the
address and a note, confirm. The form is loaded by the API's own ``BookingIn`` and booked by the
API's ``bookings.create`` (the citizen's channel, the one-open-booking rule, the daily limit, the
confirmation SMS, the audit event), so the H5 adds no rule of its own. A hidden idempotency key
made with the confirmation page means a double tap or a reload books once.

The booking's page then shows its reference with the check character (docs/decisions.md, 87) and
offers it as an ``.ics`` file for the phone's calendar."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, time, timedelta
from typing import Any

from flask import Response, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from marshmallow import ValidationError
from werkzeug.wrappers import Response as BaseResponse

from app import clock, pii
from app.auth import services as auth_services
from app.auth.actor import Actor
from app.auth.permissions import public
from app.errors import DomainError, NotFound
from app.extensions import db
from app.org.models import Area, Station
from app.org.scoping import public_directory
from app.unit_of_work import reads_first
from app.web.i18n import translate_detail
from appointments.booking import reference
from appointments.booking import services as bookings
from appointments.booking.services import Booking, BookingIn
from appointments.dispatch.states import InvalidTransition
from appointments.windows import services as windows
from citizen import session
from citizen.pages import blp
from doorstep_protocol.receipts import mask_name

DAYS_SHOWN = 14
PURPOSES = {
    "registration": _l("Residence registration"),
    "permit_application": _l("Residence permit application"),
    "permit_delivery": _l("Permit delivery"),
    "other": _l("Other"),
}
STATUSES = {
    "confirmed": _l("Booked, visit to come"),
    "cancelled": _l("Cancelled"),
    "completed": _l("Visit made"),
    "not_home": _l("Nobody was at home"),
}
CLOSED = {
    "full": _l("Fully booked"),
    "past_cutoff": _l("Closed for online booking"),
    "beyond_horizon": _l("Not open for booking yet"),
}
DONE = {"cancelled": _l("The booking is cancelled."), "moved": _l("The booking has moved to the new time.")}
PHONE_REFUSED = _l("That is not a mainland mobile number. Please check it.")
FIELDS = ("purpose", "address", "contact_name", "contact_phone", "notes")


def actor() -> Actor:
    """The signed-in citizen as the services know callers: the API's citizen, by cookie."""
    citizen: Actor = auth_services.actor_of(g.citizen_session.user)
    return citizen


def own_phone() -> str:
    return g.citizen_session.user.phone or ""


def active_area(raw: str | None) -> Area:
    """An active area of an active station, or a 404 page: the list a citizen chooses from."""
    try:
        area = db.session.get(Area, uuid.UUID(raw or ""))
    except ValueError:
        area = None
    if area is None or not area.active or not db.session.get_one(Station, area.station_id).active:
        raise NotFound("no such area")
    return area


def parse_slot(raw: str | None) -> tuple[date, time] | None:
    try:
        day, start = (raw or "").split("_")
        return date.fromisoformat(day), time.fromisoformat(start)
    except ValueError:
        return None


def slot_value(day: date, start: time) -> str:
    return f"{day.isoformat()}_{start.strftime('%H:%M')}"


def open_days(area_id: uuid.UUID) -> list[dict[str, Any]]:
    """The area's windows for the next two weeks as the API's public availability has them (seats
    left, and why a window is closed), days without any window left out."""
    today = clock.today()
    days = windows.availability(area_id, today, today + timedelta(days=DAYS_SHOWN - 1))
    return [d for d in days if d["windows"]]


def chosen_window(area_id: uuid.UUID, slot: tuple[date, time] | None) -> dict[str, Any] | None:
    """The window the link named, if it is still offered and bookable."""
    if slot is None:
        return None
    for day in open_days(area_id):
        if day["day"] == slot[0]:
            for w in day["windows"]:
                if w["start"] == slot[1] and w["bookable"]:
                    return {**w, "day": day["day"]}
    return None


def field_message(value: object) -> str:
    first = value[0] if isinstance(value, list) and value else value
    return translate_detail(str(first))


def _details_form(
    area: Area,
    window: dict[str, Any],
    values: dict[str, str],
    errors: Mapping[str, str | LazyString] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    return render_template(
        "citizen/book_details.html",
        area=area,
        station=db.session.get_one(Station, area.station_id),
        window=window,
        slot=slot_value(window["day"], window["start"]),
        values=values,
        errors=errors or {},
        error=(errors or {}).get("_"),
        purposes=PURPOSES,
        own_phone=pii.mask_phone(own_phone()),
    ), status


@blp.route("/book")
@public
@session.signed_in
def book() -> Any:
    """Step by step in one address: no area → the areas; an area → its windows; a window → the
    address form."""
    if not request.args.get("area"):
        return render_template("citizen/book_area.html", listing=public_directory())
    area = active_area(request.args.get("area"))
    slot = parse_slot(request.args.get("slot"))
    window = chosen_window(area.id, slot)
    if window is None:
        return render_template(
            "citizen/book_window.html",
            area=area,
            station=db.session.get_one(Station, area.station_id),
            days=open_days(area.id),
            closed=CLOSED,
            link=lambda day, start: url_for("citizen_pages.book", area=area.id, slot=slot_value(day, start)),
            gone=slot is not None,
        ), (409 if slot is not None else 200)
    return _details_form(area, window, {"purpose": "registration"})


def _body(values: dict[str, str], area: Area, window: dict[str, Any]) -> dict[str, Any]:
    body = {k: values[k] for k in FIELDS if values[k]}
    body.setdefault("contact_phone", own_phone())
    body.update(
        area_id=str(area.id),
        day=window["day"].isoformat(),
        window_start=window["start"].strftime("%H:%M"),
        locale="en" if request.accept_languages.best_match(["zh", "en"]) == "en" else "zh",
    )
    return body


def _submitted() -> tuple[Area, dict[str, Any] | None, dict[str, str]]:
    area = active_area(request.form.get("area"))
    window = chosen_window(area.id, parse_slot(request.form.get("slot")))
    values = {k: (request.form.get(k) or "").strip() for k in FIELDS}
    return area, window, values


def _window_gone(area: Area) -> BaseResponse:
    return redirect(url_for("citizen_pages.book", area=area.id, slot=request.form.get("slot")), 303)


@blp.route("/book/review", methods=["POST"])
@public
@session.signed_in
def book_review() -> Any:
    """The confirmation step: what will be booked, in words, and one button. Nothing is written."""
    area, window, values = _submitted()
    if window is None:
        return _window_gone(area)
    try:
        BookingIn().load(_body(values, area, window))
        contact_phone = pii.normalize_phone(values["contact_phone"] or own_phone())
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {}
        return _details_form(area, window, values, {k: field_message(v) for k, v in messages.items()}, 422)
    except pii.InvalidPII:  # the service would refuse it too (bookings._phone); say so here, in words
        return _details_form(area, window, values, {"contact_phone": str(PHONE_REFUSED)}, 422)
    return render_template(
        "citizen/book_review.html",
        area=area,
        station=db.session.get_one(Station, area.station_id),
        window=window,
        slot=slot_value(window["day"], window["start"]),
        values=values,
        purposes=PURPOSES,
        contact_phone=pii.mask_phone(contact_phone),
        key=uuid.uuid4().hex,
    )


@blp.route("/book", methods=["POST"])
@reads_first
@public
@session.signed_in
def book_confirm() -> Any:
    """Book through the API's service; a refusal goes back to the form in words, booking nothing."""
    area, window, values = _submitted()
    if window is None:
        return _window_gone(area)
    try:
        data = BookingIn().load(_body(values, area, window))
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {}
        return _details_form(area, window, values, {k: field_message(v) for k, v in messages.items()}, 422)
    key = (request.form.get("idempotency_key") or "")[:60]
    try:
        booking, _created = bookings.create(actor(), data, f"h5-{key}" if key else None)
    except DomainError as exc:
        if exc.status >= 500:
            raise
        db.session.rollback()
        errors = {k: field_message(v) for k, v in (exc.errors or {}).items() if k in FIELDS}
        if "contact_phone" in errors:
            errors["contact_phone"] = str(PHONE_REFUSED)
        if isinstance(exc, windows.SlotFull):
            return _window_gone(area)
        errors["_"] = refusal_text(exc)
        return _details_form(area, window, values, errors, exc.status)
    return redirect(url_for("citizen_pages.booking", booking_id=booking.id, booked=1), 303)


def refusal_text(exc: DomainError) -> str:
    """A service's refusal as a sentence for a citizen."""
    if isinstance(exc, bookings.ActiveBookingExists):
        return str(_("You already have an open booking for this. Change or cancel it in My bookings."))
    if isinstance(exc, InvalidTransition):
        return str(_("This booking is no longer open, so it cannot be changed."))
    if exc.slug == "past-cutoff":
        return str(_("It is too late to change this booking online. Please call the station."))
    if exc.slug == "quota-exceeded":
        return str(_("You have made too many bookings today. Please try again tomorrow."))
    if exc.errors:
        return "; ".join(field_message(v) for v in exc.errors.values())
    return translate_detail(exc.detail) if exc.detail else str(_("This could not be done."))


def booking_view(booking: Booking) -> dict[str, Any]:
    """What a citizen is shown of a booking: the reference to read out, the window, the officer
    as a surname and stars."""
    visit = booking.visit
    officer = visit.officer if visit is not None and visit.officer_id else None
    return {
        "booking": booking,
        "reference": reference.display(booking.reference),
        "purpose": PURPOSES.get(booking.purpose, booking.purpose),
        "status": STATUSES.get(booking.status, booking.status),
        "officer": mask_name(officer.display_name) if officer is not None and officer.display_name else None,
        "area": db.session.get_one(Area, booking.area_id),
        "station": db.session.get_one(Station, booking.station_id),
    }


@blp.route("/bookings/<uuid:booking_id>")
@public
@session.signed_in
def booking(booking_id: uuid.UUID) -> str:
    """One of the citizen's own bookings (another's is a 404, as in the API), with the buttons
    to cancel or move it while the station's rules allow, and why not once they do not."""
    found = bookings.booking_for(actor(), booking_id)
    refusal = bookings.change_refusal(actor(), found)
    return render_template(
        "citizen/booking.html",
        booked=request.args.get("booked") == "1",
        done=DONE.get(request.args.get("done") or ""),
        changeable=refusal is None,
        # a closed booking needs no reason; a confirmed one past the cut-off says whom to call
        why_not=refusal_text(refusal) if refusal is not None and found.status == "confirmed" else None,
        **booking_view(found),
    )


@blp.route("/bookings/<uuid:booking_id>/booking.ics")
@public
@session.signed_in
def booking_ics(booking_id: uuid.UUID) -> Response:
    """The visit window as a calendar file (RFC 5545), in the citizen's language."""
    found = bookings.booking_for(actor(), booking_id)
    view = booking_view(found)
    summary = _("Home visit: %(purpose)s", purpose=view["purpose"])
    description = _(
        "%(station)s, %(area)s. Booking reference %(reference)s. Please have your documents ready.",
        station=view["station"].name,
        area=view["area"].name,
        reference=view["reference"],
    )
    if found.notes:
        description += "\n" + _("Your note: %(notes)s", notes=found.notes)
    body = bookings.booking_event(found, summary=summary, description=description, domain=request.host.split(":")[0])
    return Response(
        body,
        mimetype="text/calendar",
        headers={"Content-Disposition": f'attachment; filename="booking-{reference.with_check(found.reference)}.ics"'},
    )
