from __future__ import annotations

from marshmallow import fields, validate

from app import pii
from app.schemas import In, JsonInteger, LocalTime, Out, TimelineOut, text
from appointments.models import PURPOSES, VISIT_KINDS, VISIT_STATUSES, BOOKING_STATUSES

HHMM = {"format": "%H:%M"}


class SlotArgs(In):
    area_id = fields.UUID(required=True)
    from_ = fields.Date(required=True, data_key="from")
    to = fields.Date(required=True)


class WindowAvailabilityOut(Out):
    start = fields.Time(**HHMM)
    end = fields.Time(**HHMM)
    capacity = fields.Integer()
    left = fields.Integer()
    bookable = fields.Boolean()
    reason = fields.String(allow_none=True, metadata={"description": "full, past_cutoff or beyond_horizon"})


class DayAvailabilityOut(Out):
    day = fields.Date()
    is_workday = fields.Boolean()
    holiday_name = fields.String()
    calendar_source = fields.String()
    reason = fields.String(allow_none=True, metadata={"description": "why no windows: closed, holiday, weekend, "
                                                                      "no_windows"})
    windows = fields.List(fields.Nested(WindowAvailabilityOut))


class TemplateWindowIn(In):
    weekday = JsonInteger(required=True, validate=validate.Range(0, 6), metadata={"description": "0 = Monday"})
    start = LocalTime(required=True, metadata={"example": "09:00"})
    end = LocalTime(required=True, metadata={"example": "12:00"})
    capacity = JsonInteger(required=True, validate=validate.Range(0, 500))


class TemplateIn(In):
    windows = fields.List(fields.Nested(TemplateWindowIn), required=True, validate=validate.Length(max=70))


class TemplateWindowOut(Out):
    weekday = fields.Integer()
    start = fields.Time(attribute="start_time", **HHMM)
    end = fields.Time(attribute="end_time", **HHMM)
    capacity = fields.Integer()


class ExceptionArgs(In):
    from_ = fields.Date(required=True, data_key="from")
    to = fields.Date(required=True)


class ExceptionIn(In):
    day = fields.Date(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["closed", "open"]))
    start = LocalTime(load_default=None)
    end = LocalTime(load_default=None)
    capacity = JsonInteger(load_default=None, validate=validate.Range(0, 500))
    note = text(200, min_len=0, load_default="")


class ExceptionOut(Out):
    id = fields.UUID()
    day = fields.Date()
    kind = fields.String()
    start = fields.Time(attribute="start_time", allow_none=True, **HHMM)
    end = fields.Time(attribute="end_time", allow_none=True, **HHMM)
    capacity = fields.Integer(allow_none=True)
    note = fields.String()


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
    reference = fields.String(validate=validate.Length(equal=8))
    day = fields.Date()
    status = fields.String(validate=validate.OneOf(BOOKING_STATUSES))
    purpose = fields.String(validate=validate.OneOf(PURPOSES))
    area_id = fields.UUID()


def _masked(attr):
    return fields.Function(lambda b: pii.mask_phone(pii.decrypt(pii.PHONE, getattr(b, attr))),
                           metadata={"example": "138****5678"})


class BookingOut(Out):
    id = fields.UUID()
    reference = fields.String(metadata={"example": "7KQ2MX9P"})
    status = fields.String()
    purpose = fields.String()
    channel = fields.String()
    station_id = fields.UUID()
    area_id = fields.UUID()
    day = fields.Date()
    window_start = fields.Time(**HHMM)
    window_end = fields.Time(**HHMM)
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


class VisitArgs(In):
    day = fields.Date()
    area_id = fields.UUID()
    status = fields.String(validate=validate.OneOf(VISIT_STATUSES))
    kind = fields.String(validate=validate.OneOf(VISIT_KINDS))
    officer_id = fields.UUID()
    unassigned = fields.Boolean()


class VisitOut(Out):
    id = fields.UUID()
    kind = fields.String()
    status = fields.String()
    booking_id = fields.UUID(allow_none=True)
    reference = fields.Function(lambda v: v.booking.reference if v.booking else None)
    purpose = fields.Function(lambda v: v.booking.purpose if v.booking else None)
    contact_name = fields.Function(lambda v: v.booking.contact_name if v.booking else None)
    contact_phone = fields.Function(
        lambda v: pii.mask_phone(pii.decrypt(pii.PHONE, v.booking.contact_phone_enc)) if v.booking else None)
    station_id = fields.UUID()
    area_id = fields.UUID()
    day = fields.Date()
    window_start = fields.Time(**HHMM)
    window_end = fields.Time(**HHMM)
    address = fields.String()
    officer_id = fields.UUID(allow_none=True)
    officer_name = fields.Function(lambda v: v.officer.display_name if v.officer else None)
    assigned_at = fields.DateTime(allow_none=True)
    outcome_note = fields.String(allow_none=True)
    version = fields.Integer()


class AssignIn(In):
    officer_id = fields.UUID(required=True)


class UnassignIn(In):
    reason = text(200, required=True)


class BulkAssignIn(In):
    visit_ids = fields.List(fields.UUID(), required=True, validate=validate.Length(min=1, max=200))
    officer_id = fields.UUID(required=True, allow_none=True, metadata={"description": "null unassigns"})


class BulkResultOut(Out):
    visit_id = fields.UUID()
    ok = fields.Boolean()
    status = fields.String(allow_none=True)
    error = fields.Dict(allow_none=True)


class SuggestionOut(Out):
    officer_id = fields.UUID()
    display_name = fields.String()
    role = fields.String()
    open_visits = fields.Integer()
    last_assigned_at = fields.DateTime(allow_none=True)


class OutcomeIn(In):
    outcome = fields.String(required=True, validate=validate.OneOf(["completed", "not_home"]))
    note = text(500, min_len=0, load_default="")


class LeaveIn(In):
    officer_id = fields.UUID(load_default=None, metadata={"description": "omit for your own leave"})
    start_day = fields.Date(required=True)
    end_day = fields.Date(required=True)
    reason = text(200, min_len=0, load_default="")


class LeaveArgs(In):
    officer_id = fields.UUID()


class LeaveOut(Out):
    id = fields.UUID()
    officer_id = fields.UUID()
    start_day = fields.Date()
    end_day = fields.Date()
    reason = fields.String()


class LeaveCreatedOut(LeaveOut):
    affected_visit_ids = fields.List(fields.UUID(), metadata={"description": "open visits of the officer in the "
                                                                              "period: reassign them"})
