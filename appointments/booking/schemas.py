from __future__ import annotations

from marshmallow import fields, validate

from app import pii
from app.schemas import In, LocalTime, Out, TimelineOut, text
from appointments.booking import reference as reference_codes
from appointments.booking.models import BOOKING_STATUSES, PURPOSES
from appointments.fields import HHMM
from doorstep_protocol.identity import mask_phone


class BookingIn(In):
    purpose = fields.String(required=True, validate=validate.OneOf(PURPOSES))
    area_id = fields.UUID(required=True)
    day = fields.Date(required=True)
    window_start = LocalTime(required=True, metadata={"example": "09:00"})
    address = text(200, required=True, metadata={"example": "北山街道12号3单元402"})
    contact_name = text(50, required=True, metadata={"example": "李娜"})
    contact_phone = fields.String(required=True, metadata={"example": "13812345678"})
    notes = text(500, min_len=0, load_default="")
    caller_name = text(50, load_default=None, metadata={"description": "phone bookings (staff) only"})
    caller_phone = fields.String(load_default=None, metadata={"description": "phone bookings (staff) only"})
    locale = fields.String(validate=validate.OneOf(["zh", "en"]), load_default="zh")


class BookingArgs(In):
    reference = fields.String(
        validate=validate.Length(min=8, max=13),
        metadata={
            "description": "the reference code (9 characters, dashes allowed) or the stored 8",
            "example": "7KQ-2MX-9PW",
        },
    )
    day = fields.Date()
    status = fields.String(validate=validate.OneOf(BOOKING_STATUSES))
    purpose = fields.String(validate=validate.OneOf(PURPOSES))
    area_id = fields.UUID()


def _masked(attr):
    return fields.Function(
        lambda b: mask_phone(pii.decrypt(pii.PHONE, getattr(b, attr))), metadata={"example": "138****5678"}
    )


class BookingOut(Out):
    id = fields.UUID()
    reference = fields.String(metadata={"example": "7KQ2MX9P"})
    reference_code = fields.Function(
        lambda b: reference_codes.with_check(b.reference),
        metadata={
            "example": "7KQ2MX9PW",
            "description": "the reference with its check character, as citizens are shown it; a typo fails the check",
        },
    )
    status = fields.String()
    purpose = fields.String()
    channel = fields.String()
    station_id = fields.UUID()
    area_id = fields.UUID()
    day = fields.Date()
    window_start = fields.Time(format=HHMM)
    window_end = fields.Time(format=HHMM)
    address = fields.String()
    contact_name = fields.String()
    contact_phone = _masked("contact_phone_enc")
    caller_name = fields.String(allow_none=True)
    caller_phone = _masked("caller_phone_enc")
    notes = fields.String()
    visit_id = fields.Function(lambda b: str(b.visit.id) if b.visit else None)
    visit_status = fields.Function(lambda b: b.visit.status if b.visit else None)
    created_at = fields.DateTime()


class BookingDetailOut(BookingOut):
    timeline = fields.List(fields.Nested(TimelineOut), attribute="events")


class BookingPiiOut(Out):
    id = fields.UUID()
    contact_phone = fields.Function(lambda b: pii.decrypt(pii.PHONE, b.contact_phone_enc))
    caller_phone = fields.Function(lambda b: pii.decrypt(pii.PHONE, b.caller_phone_enc))


class CancelIn(In):
    reason = text(200, load_default=None)


class RescheduleIn(In):
    day = fields.Date(required=True)
    window_start = LocalTime(required=True)
    reason = text(200, load_default=None)
