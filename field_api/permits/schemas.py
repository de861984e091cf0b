"""Permit applications, their materials and permits at the API's edge."""

from __future__ import annotations

from marshmallow import fields, validate

from app import attachments
from app.schemas import In, Out, TimelineOut, text
from field_api.fields import SHA256
from field_api.permits.models import APPLICATION_STATUSES, MATERIAL_KINDS


class MaterialIn(In):
    kind = fields.String(required=True, validate=validate.OneOf(MATERIAL_KINDS))
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
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Z0-9_]{2,32}$"), metadata={"example": "OK"})
    text = text(500, min_len=0, load_default="")


class ReturnIn(In):
    reason = text(500, required=True, metadata={"example": "租赁合同缺少房东签字"})


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
        metadata={"description": "false: named but the file has not arrived yet (accepted, waiting)"},
    )
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
