"""Deliveries, handovers and receipts at the API's edge."""

from __future__ import annotations

from marshmallow import fields, validate

from app.schemas import In, LocalTime, Out, text
from field_api.fields import HHMM, SHA256


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
        lambda d: d.recipient_name[:1] + "*" * (len(d.recipient_name) - 1) if d.recipient_name else None
    )
    proxy_relation = fields.String(allow_none=True)
    handed_over_at = fields.DateTime(allow_none=True)
    receipt_id = fields.Function(lambda d: str(d.receipt.id) if d.receipt else None)


class ManifestEntryOut(Out):
    delivery_id = fields.UUID()
    permit_number = fields.String()
    resident_name = fields.String()
    address = fields.String()
    day = fields.Date()
    window_start = fields.Time(format=HHMM)
    window_end = fields.Time(format=HHMM)
    identity_masked = fields.String(
        metadata={
            "description": "the permit holder's identity number masked as "
            "everywhere (first 4, last 4), for an offline "
            "check of the ID card; the server checks it in full"
        }
    )
    entry = fields.String(metadata={"description": "the server-signed manifest entry (JWS)"})


class HandoverIn(In):
    recipient = fields.String(required=True, validate=validate.OneOf(["self", "proxy"]))
    identity_number = fields.String(required=True, metadata={"description": "of whoever takes the permit"})
    proxy_name = text(50, load_default=None)
    proxy_relation = text(20, load_default=None, metadata={"example": "配偶"})
    signature_sha256 = fields.String(load_default=None, validate=SHA256)
    handed_over_at = fields.AwareDateTime(load_default=None)
    receipt = fields.String(
        required=True,
        validate=validate.Length(max=2000),
        metadata={"description": "the receipt the tablet signed: compact (DR2-…), or a first-format JWS"},
    )


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
