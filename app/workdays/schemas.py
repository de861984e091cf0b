from __future__ import annotations

from marshmallow import fields

from app.schemas import In, JsonBoolean, Out, text


class RangeArgs(In):
    from_ = fields.Date(required=True, data_key="from")
    to = fields.Date(required=True)


class DeclareIn(In):
    is_workday = JsonBoolean(required=True)
    name = text(64, min_len=0, load_default="", metadata={"example": "春节"})


class DayOut(Out):
    day = fields.Date()
    is_workday = fields.Boolean()
    name = fields.String()
    source = fields.String(metadata={"description": "staff, official, or weekday-rule (year not yet published)"})
