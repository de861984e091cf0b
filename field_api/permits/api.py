"""Permit applications, their materials (容缺) and review, and permits."""

from __future__ import annotations

from app.auth.permissions import current_actor, requires
from app.db import one_or_404
from app.headers import etag_of, etagged, locates
from app.schemas import paginate
from field_api.blueprint import blp
from field_api.permits import services as applications
from field_api.permits.models import Permit
from field_api.permits.schemas import (
    ApplicationArgs,
    ApplicationDetailOut,
    ApplicationIn,
    ApplicationOut,
    DecisionIn,
    PermitOut,
    ReturnIn,
    SupplyIn,
)
from field_api.permits.services import application_for


def _application_tag(*, lock: bool, application_id, **_):
    return etag_of(application_for(current_actor(), application_id, lock=lock).version)


@blp.route("/applications", methods=["POST"])
@requires("application.create")
@blp.arguments(ApplicationIn, required=False)
@blp.response(201, ApplicationDetailOut)
@locates("field.get_application", application_id="id")
def submit_application(body):
    """Apply for a residence permit: online (citizens), at a visit (officers), at a window (staff)"""
    return applications.submit(current_actor(), body)


@blp.route("/applications", methods=["GET"])
@requires("application.read")
@blp.arguments(ApplicationArgs, location="query")
@blp.response(200, ApplicationOut(many=True))
@blp.paginate()
def list_applications(args, pagination_parameters):
    """Applications in your scope; staff filter by status, deadline and materials owed"""
    return paginate(applications.queue(current_actor(), args), pagination_parameters)


@blp.route("/applications/<uuid:application_id>", methods=["GET"])
@requires("application.read")
@blp.response(200, ApplicationDetailOut)
@etagged(_application_tag)
def get_application(application_id):
    """An application with its materials and timeline"""
    return application_for(current_actor(), application_id)


@blp.route("/applications/<uuid:application_id>/accept", methods=["POST"])
@requires("application.review")
@blp.response(200, ApplicationDetailOut)
@etagged(_application_tag, edit=True)
def accept_application(application_id):
    """Accept: core materials present, non-core ones owed (容缺); the review deadline starts"""
    return applications.accept(current_actor(), application_id)


@blp.route("/applications/<uuid:application_id>/review", methods=["POST"])
@requires("application.review")
@blp.response(200, ApplicationDetailOut)
@etagged(_application_tag, edit=True)
def review_application(application_id):
    """Start the review"""
    return applications.start_review(current_actor(), application_id)


@blp.route("/applications/<uuid:application_id>/decision", methods=["POST"])
@requires("application.review")
@blp.arguments(DecisionIn)
@blp.response(200, ApplicationDetailOut)
@etagged(_application_tag, edit=True)
def decide_application(body, application_id):
    """Approve (issues the permit) or reject, with a reason code and text"""
    return applications.decide(current_actor(), application_id, body["decision"], body["code"], body["text"])


@blp.route("/applications/<uuid:application_id>/return", methods=["POST"])
@requires("application.review")
@blp.arguments(ReturnIn)
@blp.response(200, ApplicationDetailOut)
@etagged(_application_tag, edit=True)
def return_application(body, application_id):
    """Return for correction (退回补正) with a reason; the citizen is told by SMS and may resubmit"""
    return applications.return_for_correction(current_actor(), application_id, body["reason"])


@blp.route("/applications/<uuid:application_id>/resubmit", methods=["POST"])
@requires("application.supply")
@blp.response(200, ApplicationDetailOut)
@etagged(_application_tag, edit=True)
def resubmit_application(application_id):
    """Resubmit a returned application after correcting it; the station accepts it again"""
    return applications.resubmit(current_actor(), application_id)


@blp.route("/applications/<uuid:application_id>/materials/<string:kind>", methods=["PUT"])
@requires("application.supply")
@blp.arguments(SupplyIn)
@blp.response(200, ApplicationDetailOut)
@etagged(_application_tag, edit=True)
def supply_material(body, application_id, kind):
    """Supply a material (an owed one, or a better copy) by its attachment's SHA-256"""
    return applications.supply_material(current_actor(), application_id, kind, body["attachment_sha256"])


@blp.route("/permits/<uuid:permit_id>", methods=["GET"])
@requires("permit.read")
@blp.response(200, PermitOut)
def get_permit(permit_id):
    """One permit"""
    return one_or_404(applications.permits_visible_to(current_actor()).where(Permit.id == permit_id), "permit")
