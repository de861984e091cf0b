"""``/s/<token>``: where the links in SMS texts land (app.short_links). A booking link opens that
booking's page; a six-months link opens what the resident can do now. Both open for someone who
has not logged in, because the text reached the phone on file; they show no address, phone or
full name, and changing anything still takes the SMS-code log-in, which then comes back here.

A link that is forged, damaged, of another kind or past its last day is answered alike, as a
page of words with 404: "this link no longer opens"."""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from app import short_links, workdays
from app.auth.permissions import public
from app.extensions import db
from app.org.models import Station
from app.web.security import secure_page
from appointments.booking import services as bookings
from citizen import session
from citizen.booking import booking_view
from doorstep_protocol.receipts import mask_name
from field_api.residency import services as residency

blp = Blueprint("citizen_links", __name__, url_prefix="/s", template_folder="templates")
blp.after_request(secure_page)
blp.before_request(session.load)


def _gone() -> tuple[str, int]:
    return render_template(
        "citizen/error.html",
        title=_("This link no longer opens"),
        detail=_("It may have expired or been copied wrongly. Log in with your mobile number to see your bookings."),
    ), 404


@blp.route("/<token>")
@public
def open_link(token: str) -> BaseResponse | tuple[str, int]:
    try:
        link = short_links.open_token(token)
    except short_links.BadLink:
        return _gone()
    if link.purpose == "B":
        return _booking(link.key)
    return _registration(link.key)


def _booking(reference: str) -> BaseResponse | tuple[str, int]:
    booking = bookings.booking_by_reference(reference)
    if booking is None:
        return _gone()
    own = url_for("citizen_pages.booking", booking_id=booking.id)
    signed_in = g.citizen_session is not None
    if signed_in and booking.citizen_id == g.citizen_session.user.id:
        return redirect(own)
    # The booking's own page's view of it; this page leaves the address out.
    return render_template(
        "citizen/link_booking.html", login=url_for("citizen_pages.login", next=own), **booking_view(booking)
    ), 200


def _registration(registration_id: str) -> tuple[str, int]:
    registration = residency.registration_for_link(registration_id)
    if registration is None or registration.status != "active":
        return _gone()
    return render_template(
        "citizen/link_maturity.html",
        registration=registration,
        name=mask_name(registration.resident.name),
        station=db.session.get_one(Station, registration.station_id),
        matured=registration.maturity_date <= workdays.local_now().date(),
        apply=url_for("citizen_pages.login", next=url_for("citizen_pages.apply")),
    ), 200
