"""Residents, registrations, permit applications, permits, deliveries and receipts."""
from __future__ import annotations

from flask import Response

from app.auth.permissions import current_actor, public, requires
from app.db import one_or_404
from app.headers import etag_of, etagged, locates
from app.openapi import rate_limited
from app.schemas import Blueprint, paginate
from field_api import applications, deliveries, receipts, residents
from field_api.models import Permit
from field_api.receipt_token import render_png, render_svg
from field_api.schemas import (ApplicationArgs, ApplicationDetailOut, ApplicationIn, ApplicationOut, DecisionIn,
                               DeliveryIn, DeliveryOut, EndRegistrationIn, HandoverIn, ManifestEntryOut, PermitOut,
                               QrArgs, ReceiptOut, RegistrationArgs, RegistrationIn, RegistrationOut, ResidentArgs,
                               ResidentIn, ResidentOut, ResidentPatch, ResidentPiiOut,
                               SupplyIn, VerifyIn, VerifyOut, MaturityArgs, MaturityOut)
from field_api.scoping import (application_for, deliveries_visible_to, delivery_for, registration_for,
                               resident_for)

blp = Blueprint("field", __name__, url_prefix="/api/v1", description="Residents, registrations, permits")


def _resident_tag(*, lock: bool, resident_id, **_):
    return etag_of(resident_for(current_actor(), resident_id, lock=lock).version)


def _application_tag(*, lock: bool, application_id, **_):
    return etag_of(application_for(current_actor(), application_id, lock=lock).version)


@blp.route("/residents", methods=["POST"])
@requires("resident.create")
@blp.arguments(ResidentIn)
@blp.response(201, ResidentOut)
@blp.alt_response(200, schema=ResidentOut, description="The identity number was known: the existing resident")
@locates("field.get_resident", resident_id="id")
def create_resident(body):
    """Register a person, or link to the one already holding this identity number"""
    resident, created = residents.create_or_link(current_actor(), body)
    return resident, 201 if created else 200


@blp.route("/residents", methods=["GET"])
@requires("resident.read")
@blp.arguments(ResidentArgs, location="query")
@blp.response(200, ResidentOut(many=True))
@blp.paginate()
def list_residents(args, pagination_parameters):
    """Find residents in your scope: exact identity number or phone, or by name"""
    return paginate(residents.search(current_actor(), args), pagination_parameters)


@blp.route("/residents/<uuid:resident_id>", methods=["GET"])
@requires("resident.read")
@blp.response(200, ResidentOut)
@etagged(_resident_tag)
def get_resident(resident_id):
    """One resident, numbers masked"""
    return resident_for(current_actor(), resident_id)


@blp.route("/residents/<uuid:resident_id>", methods=["PATCH"])
@requires("resident.update")
@blp.arguments(ResidentPatch)
@blp.response(200, ResidentOut)
@etagged(_resident_tag, edit=True)
def update_resident(body, resident_id):
    """Correct a resident's details; If-Match with the ETag you read refuses a stale edit"""
    return residents.update_resident(current_actor(), resident_id, body)


@blp.route("/residents/<uuid:resident_id>/pii", methods=["GET"])
@requires("resident.read_pii", writes=True)
@blp.response(200, ResidentPiiOut)
def resident_pii(resident_id):
    """The unmasked identity and phone numbers; every call is written to the audit trail"""
    return residents.read_pii(current_actor(), resident_id)


@blp.route("/registrations", methods=["POST"])
@requires("registration.create")
@blp.arguments(RegistrationIn)
@blp.response(201, RegistrationOut)
@locates("field.get_registration", registration_id="id")
def create_registration(body):
    """Register residence (居住登记), with the resident inline or by id"""
    return residents.register_residence(current_actor(), body)


@blp.route("/registrations", methods=["GET"])
@requires("registration.read")
@blp.arguments(RegistrationArgs, location="query")
@blp.response(200, RegistrationOut(many=True))
@blp.paginate(max_page_size=500)
def list_registrations(args, pagination_parameters):
    """Registrations in your scope: page through an area's, or those maturing by a date"""
    return paginate(residents.registrations(current_actor(), args), pagination_parameters)


@blp.route("/registrations/<uuid:registration_id>", methods=["GET"])
@requires("registration.read")
@blp.response(200, RegistrationOut)
def get_registration(registration_id):
    """One registration with its maturity date"""
    return registration_for(current_actor(), registration_id)


@blp.route("/registrations/<uuid:registration_id>/end", methods=["POST"])
@requires("registration.create")
@blp.arguments(EndRegistrationIn)
@blp.response(200, RegistrationOut)
def end_registration(body, registration_id):
    """End a registration (moved away, cancelled): its six-month clock stops"""
    return residents.end_registration(current_actor(), registration_id, body["end_date"], body["reason"])


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
    return one_or_404(deliveries.permits_visible_to(current_actor()).where(Permit.id == permit_id), "permit")


@blp.route("/deliveries", methods=["POST"])
@requires("delivery.manage")
@blp.arguments(DeliveryIn)
@blp.response(201, DeliveryOut)
@locates("field.get_delivery", delivery_id="id")
def create_delivery(body):
    """Schedule door-to-door delivery of an issued permit: a visit of kind delivery to dispatch"""
    return deliveries.create_delivery(current_actor(), body["permit_id"], body["day"], body["window_start"],
                                      body["window_end"])


@blp.route("/deliveries", methods=["GET"])
@requires("delivery.read")
@blp.response(200, DeliveryOut(many=True))
@blp.paginate()
def list_deliveries(pagination_parameters):
    """Deliveries in your scope"""
    return paginate(deliveries_visible_to(current_actor()), pagination_parameters)


@blp.route("/deliveries/manifest", methods=["GET"])
@requires("delivery.handover", writes=True)
@blp.response(200, ManifestEntryOut(many=True))
def manifest():
    """The signed manifest of this device's open deliveries (device-bound tokens only)"""
    return deliveries.manifest(current_actor())


@blp.route("/deliveries/<uuid:delivery_id>", methods=["GET"])
@requires("delivery.read")
@blp.response(200, DeliveryOut)
def get_delivery(delivery_id):
    """One delivery"""
    return delivery_for(current_actor(), delivery_id)


@blp.route("/deliveries/<uuid:delivery_id>/handover", methods=["POST"])
@requires("delivery.handover")
@blp.arguments(HandoverIn)
@blp.response(200, DeliveryOut)
def handover(body, delivery_id):
    """Record the handover at the door with the receipt the tablet signed"""
    return deliveries.handover(current_actor(), delivery_id, body)


@blp.route("/receipts/<uuid:receipt_id>", methods=["GET"])
@requires("receipt.read")
@blp.response(200, ReceiptOut)
def get_receipt(receipt_id):
    """A receipt and the server's countersignature"""
    return receipts.receipt_for(current_actor(), receipt_id)


@blp.route("/receipts/<uuid:receipt_id>/qr.<any(png, svg):fmt>", methods=["GET"])
@requires("receipt.read")
@blp.arguments(QrArgs, location="query")
def receipt_qr(args, receipt_id, fmt):
    """The QR code of the countersigned receipt (or of the tablet's receipt) as PNG or SVG"""
    receipt = receipts.receipt_for(current_actor(), receipt_id)
    token = receipt.countersignature if args["of"] == "countersignature" else receipt.token
    if fmt == "png":
        return Response(render_png(token), mimetype="image/png")
    return Response(render_svg(token), mimetype="image/svg+xml")


@blp.route("/receipts/verify", methods=["POST"])
@public
@rate_limited
@blp.arguments(VerifyIn)
@blp.response(200, VerifyOut)
def verify(body):
    """Check a receipt or a countersignature: anyone may ask (rate-limited)"""
    return receipts.verify_public(body["token"])


@blp.route("/maturities", methods=["GET"])
@requires("maturity.read")
@blp.arguments(MaturityArgs, location="query")
@blp.response(200, MaturityOut(many=True))
@blp.paginate(max_page_size=500)
def list_maturities(args, pagination_parameters):
    """The daily list: residents whose six months of residence matured that day, by area"""
    from app.workdays import local_now
    from field_api.maturity import daily_list

    day = args["day"] or local_now().date()
    return paginate(daily_list(current_actor(), day, args["area_id"]), pagination_parameters)
