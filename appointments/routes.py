"""Visit windows, availability, bookings and dispatch."""
from __future__ import annotations

from flask import request

from app.auth.permissions import current_actor, public, requires
from app.headers import etag_of, etagged, locates
from app.schemas import Blueprint, paginate
from appointments import bookings, visits, windows
from appointments.models import OfficerLeave
from appointments.schemas import (AssignIn, BookingArgs, BookingDetailOut, BookingIn, BookingOut, BookingPiiOut,
                                  BulkAssignIn, BulkResultOut, CancelIn, DayAvailabilityOut, ExceptionArgs,
                                  ExceptionIn, ExceptionOut, LeaveArgs, LeaveCreatedOut, LeaveIn, LeaveOut,
                                  OutcomeIn, RescheduleIn, SlotArgs, SuggestionOut, TemplateIn, TemplateWindowOut,
                                  UnassignIn, VisitArgs, VisitOut)

blp = Blueprint("appointments", __name__, url_prefix="/api/v1", description="Bookings and dispatch")


def _template_tag(*, lock: bool, area_id, **_):
    return etag_of(windows.template_version(current_actor(), area_id, lock=lock))


def _visit_tag(*, lock: bool, visit_id, **_):
    return etag_of(visits.visit_for(current_actor(), visit_id, lock=lock).version)


@blp.route("/slots", methods=["GET"])
@public
@blp.arguments(SlotArgs, location="query")
@blp.response(200, DayAvailabilityOut(many=True))
def slots(args):
    """Public availability of an area's visit windows, day by day (no personal data)"""
    return windows.availability(args["area_id"], args["from_"], args["to"])


@blp.route("/areas/<uuid:area_id>/window-template", methods=["GET"])
@requires("window.manage")
@blp.response(200, TemplateWindowOut(many=True))
@etagged(_template_tag)
def get_template(area_id):
    """The area's weekly visit windows"""
    return windows.template_of(current_actor(), area_id)


@blp.route("/areas/<uuid:area_id>/window-template", methods=["PUT"])
@requires("window.manage")
@blp.arguments(TemplateIn)
@blp.response(200, TemplateWindowOut(many=True))
@etagged(_template_tag, edit=True)
def put_template(body, area_id):
    """Replace the area's weekly visit windows"""
    return windows.replace_template(current_actor(), area_id, body["windows"])


@blp.route("/areas/<uuid:area_id>/window-exceptions", methods=["GET"])
@requires("window.manage")
@blp.arguments(ExceptionArgs, location="query")
@blp.response(200, ExceptionOut(many=True))
def list_exceptions(args, area_id):
    """Date exceptions of the area between two dates"""
    return windows.exceptions_of(current_actor(), area_id, args["from_"], args["to"])


@blp.route("/areas/<uuid:area_id>/window-exceptions", methods=["POST"])
@requires("window.manage")
@blp.arguments(ExceptionIn)
@blp.response(201, ExceptionOut)
@locates("appointments.remove_exception", area_id="area_id", exception_id="id")
def add_exception(body, area_id):
    """Close a day or a window, or open an extra window or another capacity on a date"""
    return windows.add_exception(current_actor(), area_id, body)


@blp.route("/areas/<uuid:area_id>/window-exceptions/<uuid:exception_id>", methods=["DELETE"])
@requires("window.manage")
@blp.response(204)
def remove_exception(area_id, exception_id):
    """Withdraw a date exception"""
    windows.remove_exception(current_actor(), area_id, exception_id)


@blp.route("/bookings", methods=["POST"])
@requires("booking.create")
@blp.arguments(BookingIn)
@blp.response(201, BookingDetailOut)
@blp.alt_response(200, schema=BookingDetailOut, description="A retry: the booking this Idempotency-Key made")
@blp.doc(parameters=[{"in": "header", "name": "Idempotency-Key", "required": True,
                      "schema": {"type": "string", "minLength": 1, "maxLength": 100},
                      "example": "b7e2c1d4-booking-1", "description": "One per booking attempt; retries reuse it"}])
@locates("appointments.get_booking", booking_id="id")
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


@blp.route("/visits", methods=["GET"])
@requires("visit.read")
@blp.arguments(VisitArgs, location="query")
@blp.response(200, VisitOut(many=True))
@blp.paginate(max_page_size=500)
def list_visits(args, pagination_parameters):
    """The station's queue (staff) or your own visits (officers), filtered"""
    return paginate(visits.queue(current_actor(), args), pagination_parameters)


@blp.route("/visits/<uuid:visit_id>", methods=["GET"])
@requires("visit.read")
@blp.response(200, VisitOut)
@etagged(_visit_tag)
def get_visit(visit_id):
    """One visit"""
    return visits.visit_for(current_actor(), visit_id)


@blp.route("/visits/<uuid:visit_id>/assign", methods=["POST"])
@requires("visit.assign")
@blp.arguments(AssignIn)
@blp.response(200, VisitOut)
@etagged(_visit_tag, edit=True)
def assign_visit(body, visit_id):
    """Assign or reassign a visit to an officer of the area"""
    return visits.assign(current_actor(), visit_id, body["officer_id"])


@blp.route("/visits/<uuid:visit_id>/unassign", methods=["POST"])
@requires("visit.assign")
@blp.arguments(UnassignIn)
@blp.response(200, VisitOut)
@etagged(_visit_tag, edit=True)
def unassign_visit(body, visit_id):
    """Take a visit back to the queue"""
    return visits.unassign(current_actor(), visit_id, body["reason"])


@blp.route("/visits/bulk-assign", methods=["POST"])
@requires("visit.assign")
@blp.arguments(BulkAssignIn)
@blp.response(200, BulkResultOut(many=True))
def bulk_assign(body):
    """Assign (or, with officer_id null, unassign) many visits; each succeeds or fails on its own"""
    return visits.bulk_assign(current_actor(), body["visit_ids"], body["officer_id"])


@blp.route("/visits/<uuid:visit_id>/suggest-officers", methods=["GET"])
@requires("visit.assign")
@blp.response(200, SuggestionOut(many=True))
def suggest_officers(visit_id):
    """The area's available officers, fewest open visits that day first"""
    return visits.suggest_officers(current_actor(), visit_id)


@blp.route("/visits/<uuid:visit_id>/start", methods=["POST"])
@requires("visit.work")
@blp.response(200, VisitOut)
@etagged(_visit_tag, edit=True)
def start_visit(visit_id):
    """The officer sets out for the visit"""
    return visits.start(current_actor(), visit_id)


@blp.route("/visits/<uuid:visit_id>/outcome", methods=["POST"])
@requires("visit.work")
@blp.arguments(OutcomeIn)
@blp.response(200, VisitOut)
@etagged(_visit_tag, edit=True)
def record_outcome(body, visit_id):
    """Record what happened at the door: completed or nobody home"""
    return visits.record_outcome(current_actor(), visit_id, body["outcome"], body["note"])


@blp.route("/leave", methods=["POST"])
@requires("leave.manage")
@blp.arguments(LeaveIn)
@blp.response(201, LeaveCreatedOut)
@locates("appointments.remove_leave", leave_id="id")
def add_leave(body):
    """Record leave or unavailability (officers their own; staff their station's officers)"""
    leave, affected = visits.add_leave(current_actor(), body)
    return {**{f: getattr(leave, f) for f in LeaveOut._declared_fields}, "affected_visit_ids": affected}


@blp.route("/leave", methods=["GET"])
@requires("leave.manage")
@blp.arguments(LeaveArgs, location="query")
@blp.response(200, LeaveOut(many=True))
@blp.paginate()
def list_leave(args, pagination_parameters):
    """Leave you may see"""
    query = visits.leave_visible_to(current_actor())
    if args.get("officer_id"):
        query = query.where(OfficerLeave.officer_id == args["officer_id"])
    return paginate(query, pagination_parameters)


@blp.route("/leave/<uuid:leave_id>", methods=["DELETE"])
@requires("leave.manage")
@blp.response(204)
def remove_leave(leave_id):
    """Withdraw a leave record"""
    visits.remove_leave(current_actor(), leave_id)
