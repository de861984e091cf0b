"""Residents, registrations and the daily maturity list at the API's edge."""

from __future__ import annotations

from marshmallow import fields, validate

from app import attachments, pii
from app.schemas import In, JsonInteger, Out, text
from doorstep_protocol.identity import mask_phone
from doorstep_protocol.vocabulary import END_REASONS, HOUSING, REASONS, SEXES
from field_api.fields import SHA256


class ResidentIn(In):
    id = fields.UUID(load_default=None, metadata={"description": "client-generated on tablets"})
    name = text(50, required=True, metadata={"example": "张伟"})
    sex = fields.String(required=True, validate=validate.OneOf(SEXES))
    ethnicity = text(20, load_default="汉族")
    identity_number = fields.String(required=True, metadata={"example": "330106199003071236"})
    phone = fields.String(load_default=None, metadata={"example": "13812345678"})
    hukou_address = text(200, min_len=0, load_default="", metadata={"example": "河南省信阳市平桥区…"})
    photo_sha256 = fields.String(load_default=None, validate=SHA256)


class ResidentPatch(In):
    base_version = JsonInteger(metadata={"description": "refused with 409 if the resident changed since"})
    name = text(50)
    sex = fields.String(validate=validate.OneOf(SEXES))
    ethnicity = text(20)
    phone = fields.String(allow_none=True)
    hukou_address = text(200, min_len=0)
    photo_sha256 = fields.String(allow_none=True, validate=SHA256)


class ResidentArgs(In):
    identity_number = fields.String()
    phone = fields.String()
    name = text(50)


def _masked(purpose, attr):
    return fields.Function(lambda r: pii.MASKERS[purpose](pii.decrypt(purpose, getattr(r, attr))))


class ResidentOut(Out):
    id = fields.UUID()
    name = fields.String()
    sex = fields.String()
    ethnicity = fields.String()
    identity_number = _masked(pii.IDENTITY, "identity_enc")
    phone = _masked(pii.PHONE, "phone_enc")
    hukou_address = fields.String()
    photo_sha256 = fields.String(allow_none=True)
    photo_stored = fields.Function(lambda r: attachments.is_stored(r.photo_sha256) if r.photo_sha256 else None)
    version = fields.Integer()


class ResidentPiiOut(Out):
    id = fields.UUID()
    identity_number = fields.String()
    phone = fields.String(allow_none=True)


class RegistrationIn(In):
    id = fields.UUID(load_default=None, metadata={"description": "client-generated on tablets"})
    resident_id = fields.UUID(load_default=None)
    resident = fields.Nested(
        ResidentIn, load_default=None, metadata={"description": "register or link the person in the same call"}
    )
    area_id = fields.UUID(required=True)
    address = text(200, required=True, metadata={"example": "北山街道12号3单元402"})
    start_date = fields.Date(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(REASONS))
    housing = fields.String(required=True, validate=validate.OneOf(HOUSING))
    landlord_name = text(50, load_default=None)
    landlord_phone = fields.String(load_default=None)
    employer_name = text(100, load_default=None)


class RegistrationPatch(In):
    """What a tablet may correct on an active registration (the sync push's registration.update)."""

    address = text(200)
    reason = fields.String(validate=validate.OneOf(REASONS))
    housing = fields.String(validate=validate.OneOf(HOUSING))
    landlord_name = text(50, allow_none=True)
    landlord_phone = fields.String(allow_none=True)
    employer_name = text(100, allow_none=True)


class EndRegistrationIn(In):
    end_date = fields.Date(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(END_REASONS))


class RegistrationArgs(In):
    area_id = fields.UUID()
    status = fields.String(validate=validate.OneOf(["active", "ended"]))
    resident_id = fields.UUID()
    matures_by = fields.Date()


class RegistrationOut(Out):
    id = fields.UUID()
    resident_id = fields.UUID()
    resident_name = fields.Function(lambda r: r.resident.name if r.resident else None)
    station_id = fields.UUID()
    area_id = fields.UUID()
    address = fields.String()
    start_date = fields.Date()
    maturity_date = fields.Date()
    reason = fields.String()
    housing = fields.String()
    landlord_name = fields.String(allow_none=True)
    landlord_phone = _masked(pii.PHONE, "landlord_phone_enc")
    employer_name = fields.String(allow_none=True)
    status = fields.String()
    end_date = fields.Date(allow_none=True)
    end_reason = fields.String(allow_none=True)
    registered_by_id = fields.UUID(allow_none=True)
    device_id = fields.UUID(allow_none=True)
    version = fields.Integer()


class MaturityArgs(In):
    day = fields.Date(load_default=None, metadata={"description": "local date; default today"})
    area_id = fields.UUID(load_default=None)


class MaturityOut(Out):
    """A line of the daily list: whose six months came that day, and whether an SMS told them."""

    registration_id = fields.UUID()
    resident_id = fields.Function(lambda m: m.registration.resident_id)
    resident_name = fields.Function(lambda m: m.registration.resident.name)
    phone = fields.Function(lambda m: mask_phone(pii.decrypt(pii.PHONE, m.registration.resident.phone_enc)))
    station_id = fields.UUID()
    area_id = fields.UUID()
    address = fields.Function(lambda m: m.registration.address)
    day = fields.Date()
    sms = fields.Boolean(metadata={"description": "false: no phone, or already applied; tell them in person"})
    registration_status = fields.Function(lambda m: m.registration.status)
