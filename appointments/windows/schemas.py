from __future__ import annotations

from marshmallow import fields, validate

from app.schemas import In, JsonInteger, LocalTime, Out, text
from appointments.fields import HHMM


class SlotArgs(In):
    area_id = fields.UUID(required=True)
    from_ = fields.Date(required=True, data_key="from")
    to = fields.Date(required=True)


class WindowAvailabilityOut(Out):
    start = fields.Time(format=HHMM)
    end = fields.Time(format=HHMM)
    capacity = fields.Integer()
    left = fields.Integer()
    bookable = fields.Boolean()
    reason = fields.String(allow_none=True, metadata={"description": "full, past_cutoff or beyond_horizon"})


class DayAvailabilityOut(Out):
    day = fields.Date()
    is_workday = fields.Boolean()
    holiday_name = fields.String()
    calendar_source = fields.String()
    reason = fields.String(
        allow_none=True, metadata={"description": "why no windows: closed, holiday, weekend, no_windows"}
    )
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
    start = fields.Time(attribute="start_time", format=HHMM)
    end = fields.Time(attribute="end_time", format=HHMM)
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
    start = fields.Time(attribute="start_time", allow_none=True, format=HHMM)
    end = fields.Time(attribute="end_time", allow_none=True, format=HHMM)
    capacity = fields.Integer(allow_none=True)
    note = fields.String()
