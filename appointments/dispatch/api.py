"""Dispatch: the visit queue, assignment, officers' progress and outcomes, leave."""

from __future__ import annotations

from app.auth.permissions import current_actor, requires
from app.headers import etag_of, etagged, locates
from app.schemas import paginate
from appointments.blueprint import blp
from appointments.dispatch import services as visits
from appointments.dispatch.models import OfficerLeave
from appointments.dispatch.schemas import (
    AssignIn,
    BulkAssignIn,
    BulkResultOut,
    LeaveArgs,
    LeaveCreatedOut,
    LeaveIn,
    LeaveOut,
    OutcomeIn,
    SuggestionOut,
    UnassignIn,
    VisitArgs,
    VisitOut,
)


def _visit_tag(*, lock: bool, visit_id, **_):
    return etag_of(visits.visit_for(current_actor(), visit_id, lock=lock).version)


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
