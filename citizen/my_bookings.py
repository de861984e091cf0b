"""Journey 4, 我的预约: the citizen's own bookings (status, the window, the officer as a surname
and stars), and cancelling or moving one: a tap, then a page that says what will happen and one
button. The list is the API's ``bookings.search`` for the citizen's actor and the changes are the
API's ``bookings.cancel`` and ``bookings.reschedule``, so the station's rules (the cut-off before
the window, one seat per window, only a confirmed booking changes) are theirs; the pages ask the
same rule (``bookings.change_refusal``) only to offer the buttons when they would work, and say
why not otherwise."""

from __future__ import annotations

import uuid
from typing import Any

from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.auth.permissions import public
from app.errors import DomainError
from app.extensions import db
from appointments.booking import services as bookings
from appointments.booking.services import Booking
from citizen import session
from citizen.booking import (
    CLOSED,
    actor,
    booking_view,
    chosen_window,
    open_days,
    parse_slot,
    refusal_text,
    slot_value,
)
from citizen.pages import blp


def _refused(exc: DomainError) -> tuple[str, int]:
    """A change the services refused, as a page in words; nothing of it is kept."""
    db.session.rollback()
    return render_template(
        "citizen/error.html", title=_("This booking cannot be changed"), detail=refusal_text(exc)
    ), exc.status


def _changeable(booking_id: uuid.UUID) -> tuple[Booking, DomainError | None]:
    found = bookings.booking_for(actor(), booking_id)
    return found, bookings.change_refusal(actor(), found)


@blp.route("/bookings")
@public
@session.signed_in
def my_bookings() -> str:
    """我的预约: newest first, as the API lists them for a citizen."""
    rows = db.session.execute(bookings.search(actor(), {})).scalars().all()
    return render_template("citizen/my_bookings.html", rows=[booking_view(b) for b in rows])


@blp.route("/bookings/<uuid:booking_id>/cancel")
@public
@session.signed_in
def cancel_confirm(booking_id: uuid.UUID) -> Any:
    """Step one of cancelling: what will be cancelled, and one button."""
    found, refusal = _changeable(booking_id)
    if refusal is not None:
        return _refused(refusal)
    return render_template("citizen/cancel.html", **booking_view(found))


@blp.route("/bookings/<uuid:booking_id>/cancel", methods=["POST"])
@public
@session.signed_in
def cancel(booking_id: uuid.UUID) -> Any:
    try:
        bookings.cancel(actor(), booking_id, None)
    except DomainError as exc:
        if exc.status in (404, 500):
            raise
        return _refused(exc)
    return redirect(url_for("citizen_pages.booking", booking_id=booking_id, done="cancelled"), 303)


@blp.route("/bookings/<uuid:booking_id>/reschedule")
@public
@session.signed_in
def reschedule_pick(booking_id: uuid.UUID) -> Any:
    """Moving: the area's windows (the current one marked), then, once one is tapped, what will
    change and one button."""
    found, refusal = _changeable(booking_id)
    if refusal is not None:
        return _refused(refusal)
    view = booking_view(found)
    slot = parse_slot(request.args.get("slot"))
    current = (found.day, found.window_start)
    window = chosen_window(found.area_id, slot) if slot != current else None
    if window is None:
        return render_template(
            "citizen/reschedule.html",
            days=open_days(found.area_id),
            closed=CLOSED,
            current=current,
            link=lambda day, start: url_for(
                "citizen_pages.reschedule_pick", booking_id=found.id, slot=slot_value(day, start)
            ),
            gone=slot is not None,
            **view,
        ), (409 if slot is not None else 200)
    return render_template(
        "citizen/reschedule_confirm.html", window=window, slot=slot_value(window["day"], window["start"]), **view
    )


@blp.route("/bookings/<uuid:booking_id>/reschedule", methods=["POST"])
@public
@session.signed_in
def reschedule(booking_id: uuid.UUID) -> Any:
    slot = parse_slot(request.form.get("slot"))
    if slot is None:
        return redirect(url_for("citizen_pages.reschedule_pick", booking_id=booking_id), 303)
    try:
        bookings.reschedule(actor(), booking_id, slot[0], slot[1], None)
    except DomainError as exc:
        if exc.status in (404, 500):
            raise
        if exc.slug == "slot-full" or (exc.errors and "window_start" in exc.errors):
            db.session.rollback()
            return redirect(
                url_for("citizen_pages.reschedule_pick", booking_id=booking_id, slot=request.form.get("slot")), 303
            )
        return _refused(exc)
    return redirect(url_for("citizen_pages.booking", booking_id=booking_id, done="moved"), 303)
