from __future__ import annotations

from marshmallow import fields, validate

from app import pii
from app.schemas import In, Out, text
from appointments.dispatch.models import VISIT_KINDS, VISIT_STATUSES
from appointments.fields import HHMM
from doorstep_protocol.identity import mask_phone


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
        lambda v: mask_phone(pii.decrypt(pii.PHONE, v.booking.contact_phone_enc)) if v.booking else None
    )
    station_id = fields.UUID()
    area_id = fields.UUID()
    day = fields.Date()
    window_start = fields.Time(format=HHMM)
    window_end = fields.Time(format=HHMM)
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
    affected_visit_ids = fields.List(
        fields.UUID(), metadata={"description": "open visits of the officer in the period: reassign them"}
    )
