from __future__ import annotations

from marshmallow import fields, validate

from app.schemas import MAX_BIGINT, In, Out


class AuditArgs(In):
    entity = fields.String(validate=validate.Length(max=32))
    entity_id = fields.String(validate=validate.Length(max=64))
    actor_id = fields.UUID()
    action = fields.String(validate=validate.Length(max=64))
    since = fields.AwareDateTime(default_timezone=None, metadata={"description": "ISO 8601 with offset"})
    until = fields.AwareDateTime(default_timezone=None)
    before_id = fields.Integer(
        validate=validate.Range(min=1, max=MAX_BIGINT), metadata={"description": "Page backwards from here"}
    )
    limit = fields.Integer(validate=validate.Range(min=1, max=500), load_default=100)


class AuditOut(Out):
    id = fields.Integer()
    at = fields.DateTime()
    actor_id = fields.UUID(allow_none=True)
    actor_role = fields.String(allow_none=True)
    device_id = fields.UUID(allow_none=True)
    station_id = fields.UUID(allow_none=True)
    action = fields.String()
    entity = fields.String()
    entity_id = fields.String(allow_none=True)
    before = fields.Raw(allow_none=True)
    after = fields.Raw(allow_none=True)
    request_id = fields.String(allow_none=True)
    client_addr = fields.String(allow_none=True)
    hash = fields.String()
