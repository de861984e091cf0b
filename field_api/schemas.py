from __future__ import annotations

from marshmallow import fields, validate

from app import attachments, pii
from app.schemas import In, JsonInteger, LocalTime, Out, TimelineOut, text
from field_api.models import APPLICATION_STATUSES, END_REASONS, HOUSING, REASONS, SEXES

SHA256 = validate.Regexp(r"^[0-9a-f]{64}$", error="must be 64 lowercase hex characters (SHA-256)")
HHMM = {"format": "%H:%M"}


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
    resident = fields.Nested(ResidentIn, load_default=None,
                             metadata={"description": "register or link the person in the same call"})
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


class MaterialIn(In):
    kind = fields.String(required=True, validate=validate.OneOf(
        ["identity_card", "rental_contract", "property_certificate", "employer_proof", "photo"]))
    attachment_sha256 = fields.String(required=True, validate=SHA256)


class ApplicationIn(In):
    id = fields.UUID(load_default=None)
    resident_id = fields.UUID(load_default=None, metadata={"description": "officers and staff"})
    identity_number = fields.String(load_default=None, metadata={"description": "citizens; staff at a window"})
    materials = fields.List(fields.Nested(MaterialIn), load_default=list)


class SupplyIn(In):
    attachment_sha256 = fields.String(required=True, validate=SHA256)


class DecisionIn(In):
    decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]))
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Z0-9_]{2,32}$"),
                         metadata={"example": "OK"})
    text = text(500, min_len=0, load_default="")


class ApplicationArgs(In):
    status = fields.String(validate=validate.OneOf(APPLICATION_STATUSES))
    due_by = fields.Date(metadata={"description": "review deadline on or before this date"})
    owes_materials = fields.Boolean()
    reference = fields.String(validate=validate.Length(equal=8))


class MaterialOut(Out):
    kind = fields.String()
    core = fields.Boolean()
    status = fields.String()
    attachment_sha256 = fields.String(allow_none=True)
    attachment_stored = fields.Function(
        lambda m: attachments.is_stored(m.attachment_sha256) if m.attachment_sha256 else None,
        metadata={"description": "false: named but the file has not arrived yet (accepted, waiting)"})
    due_date = fields.Date(allow_none=True)
    provided_at = fields.DateTime(allow_none=True)


class ApplicationOut(Out):
    id = fields.UUID()
    reference = fields.String()
    resident_id = fields.UUID()
    registration_id = fields.UUID()
    channel = fields.String()
    accepting_station_id = fields.UUID()
    station_id = fields.UUID()
    status = fields.String()
    accepted_at = fields.DateTime(allow_none=True)
    review_deadline = fields.Date(allow_none=True)
    decision_code = fields.String(allow_none=True)
    decision_text = fields.String(allow_none=True)
    permit_number = fields.Function(lambda a: a.permit.number if a.permit else None)
    permit_id = fields.Function(lambda a: str(a.permit.id) if a.permit else None)
    version = fields.Integer()


class ApplicationDetailOut(ApplicationOut):
    materials = fields.List(fields.Nested(MaterialOut))
    timeline = fields.List(fields.Nested(TimelineOut), attribute="events")


class PermitOut(Out):
    id = fields.UUID()
    number = fields.String()
    resident_id = fields.UUID()
    station_id = fields.UUID()
    issue_date = fields.Date()
    valid_until = fields.Date()
    status = fields.String()


class DeliveryIn(In):
    permit_id = fields.UUID(required=True)
    day = fields.Date(required=True)
    window_start = LocalTime(required=True, metadata={"example": "14:00"})
    window_end = LocalTime(required=True, metadata={"example": "17:00"})


class DeliveryOut(Out):
    id = fields.UUID()
    permit_id = fields.UUID()
    permit_number = fields.Function(lambda d: d.permit.number)
    visit_id = fields.UUID()
    station_id = fields.UUID()
    status = fields.String()
    recipient_kind = fields.String(allow_none=True)
    recipient_name = fields.Function(
        lambda d: d.recipient_name[:1] + "*" * (len(d.recipient_name) - 1) if d.recipient_name else None)
    proxy_relation = fields.String(allow_none=True)
    handed_over_at = fields.DateTime(allow_none=True)
    receipt_id = fields.Function(lambda d: str(d.receipt.id) if d.receipt else None)


class ManifestEntryOut(Out):
    delivery_id = fields.UUID()
    permit_number = fields.String()
    resident_name = fields.String()
    address = fields.String()
    day = fields.Date()
    window_start = fields.Time(**HHMM)
    window_end = fields.Time(**HHMM)
    identity_masked = fields.String(metadata={"description": "the permit holder's identity number masked as "
                                                             "everywhere (first 4, last 4), for an offline "
                                                             "check of the ID card; the server checks it in full"})
    entry = fields.String(metadata={"description": "the server-signed manifest entry (JWS)"})


class HandoverIn(In):
    recipient = fields.String(required=True, validate=validate.OneOf(["self", "proxy"]))
    identity_number = fields.String(required=True, metadata={"description": "of whoever takes the permit"})
    proxy_name = text(50, load_default=None)
    proxy_relation = text(20, load_default=None, metadata={"example": "配偶"})
    signature_sha256 = fields.String(load_default=None, validate=SHA256)
    handed_over_at = fields.AwareDateTime(load_default=None)
    receipt = fields.String(required=True, validate=validate.Length(max=2000),
                            metadata={"description": "the receipt JWS the tablet signed"})


class ReceiptOut(Out):
    id = fields.UUID()
    jti = fields.String()
    delivery_id = fields.UUID()
    permit_number = fields.Function(lambda r: r.delivery.permit.number)
    device_id = fields.UUID()
    seq = fields.Integer()
    signed_at = fields.DateTime()
    received_at = fields.DateTime()
    token = fields.String()
    countersignature = fields.String()


class VerifyIn(In):
    token = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class VerifyOut(Out):
    valid = fields.Boolean(metadata={"description": "signature valid, recorded, and not revoked"})
    signature_valid = fields.Boolean(metadata={"description": "both signatures verify (what an offline check says)"})
    recorded = fields.Boolean(metadata={"description": "the server holds this very receipt (a handover happened)"})
    revoked = fields.Boolean(metadata={"description": "signed by a device after it was revoked"})
    reasons = fields.List(fields.String())
    claims = fields.Dict()


class QrArgs(In):
    of = fields.String(validate=validate.OneOf(["countersignature", "receipt"]), load_default="countersignature")


class MaturityArgs(In):
    day = fields.Date(load_default=None, metadata={"description": "local date; default today"})
    area_id = fields.UUID(load_default=None)


class MaturityOut(Out):
    """A line of the daily list: whose six months came that day, and whether an SMS told them."""

    registration_id = fields.UUID()
    resident_id = fields.Function(lambda m: m.registration.resident_id)
    resident_name = fields.Function(lambda m: m.registration.resident.name)
    phone = fields.Function(lambda m: pii.mask_phone(pii.decrypt(pii.PHONE, m.registration.resident.phone_enc)))
    station_id = fields.UUID()
    area_id = fields.UUID()
    address = fields.Function(lambda m: m.registration.address)
    day = fields.Date()
    sms = fields.Boolean(metadata={"description": "false: no phone, or already applied; tell them in person"})
    registration_status = fields.Function(lambda m: m.registration.status)
