"""Residents, registrations and the daily maturity list."""

from __future__ import annotations

from app.auth.permissions import current_actor, requires
from app.headers import etag_of, etagged, locates
from app.schemas import paginate
from field_api.blueprint import blp
from field_api.residency import services as residents
from field_api.residency.schemas import (
    EndRegistrationIn,
    RegistrationArgs,
    RegistrationIn,
    RegistrationOut,
    ResidentArgs,
    ResidentIn,
    ResidentOut,
    ResidentPatch,
    ResidentPiiOut,
)
from field_api.residency.services import registration_for, resident_for


def _resident_tag(*, lock: bool, resident_id, **_):
    return etag_of(resident_for(current_actor(), resident_id, lock=lock).version)


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
