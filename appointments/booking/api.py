"""Bookings: made online or on the phone, looked up, cancelled, rescheduled."""

from __future__ import annotations

from flask import request

from app.auth.permissions import current_actor, requires
from app.headers import locates
from app.schemas import paginate
from app.unit_of_work import reads_first, rendered_after_commit
from appointments.blueprint import blp
from appointments.booking import services as bookings
from appointments.booking.schemas import (
    BookingArgs,
    BookingDetailOut,
    BookingIn,
    BookingOut,
    BookingPiiOut,
    CancelIn,
    RescheduleIn,
)


@blp.route("/bookings", methods=["POST"])
@requires("booking.create")
@reads_first
@blp.arguments(BookingIn)
@blp.response(201, BookingDetailOut)
@blp.alt_response(200, schema=BookingDetailOut, description="A retry: the booking this Idempotency-Key made")
@blp.doc(
    parameters=[
        {
            "in": "header",
            "name": "Idempotency-Key",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": 100},
            "example": "b7e2c1d4-booking-1",
            "description": "One per booking attempt; retries reuse it",
        }
    ]
)
@locates("appointments.get_booking", booking_id="id")
@rendered_after_commit
def create_booking(body):
    """Book a home visit (citizens in the mini-program; staff for a caller on the phone)"""
    booking, created = bookings.create(current_actor(), body, request.headers.get("Idempotency-Key"))
    return booking, 201 if created else 200


@blp.route("/bookings", methods=["GET"])
@requires("booking.read")
@blp.arguments(BookingArgs, location="query")
@blp.response(200, BookingOut(many=True))
@blp.paginate()
def list_bookings(args, pagination_parameters):
    """Your bookings (citizens), your station's (staff); find one by its reference code"""
    return paginate(bookings.search(current_actor(), args), pagination_parameters)


@blp.route("/bookings/<uuid:booking_id>", methods=["GET"])
@requires("booking.read")
@blp.response(200, BookingDetailOut)
def get_booking(booking_id):
    """A booking with its progress timeline"""
    return bookings.booking_for(current_actor(), booking_id)


@blp.route("/bookings/<uuid:booking_id>/pii", methods=["GET"])
@requires("booking.read_pii", writes=True)
@blp.response(200, BookingPiiOut)
def booking_pii(booking_id):
    """The unmasked contact and caller numbers; every call is written to the audit trail"""
    return bookings.read_pii(current_actor(), booking_id)


@blp.route("/bookings/<uuid:booking_id>/cancel", methods=["POST"])
@requires("booking.change")
@blp.arguments(CancelIn, required=False)
@blp.response(200, BookingDetailOut)
def cancel_booking(body, booking_id):
    """Cancel a booking (citizens until the cut-off; staff any time, with a reason)"""
    return bookings.cancel(current_actor(), booking_id, body["reason"])


@blp.route("/bookings/<uuid:booking_id>/reschedule", methods=["POST"])
@requires("booking.change")
@blp.arguments(RescheduleIn)
@blp.response(200, BookingDetailOut)
def reschedule_booking(body, booking_id):
    """Move a booking to another window of its area; the seat moves atomically"""
    return bookings.reschedule(current_actor(), booking_id, body["day"], body["window_start"], body["reason"])
