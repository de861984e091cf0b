from __future__ import annotations

from types import ModuleType

from marshmallow import fields, validate

from app.notify import services
from app.notify.models import SKIP_REASONS, STATUSES
from app.schemas import In, Out


class OutboxArgs(In):
    status = fields.String(validate=validate.OneOf(STATUSES))
    kind = fields.String(validate=validate.Length(min=1, max=32))


class OutboxOut(Out):
    """One message with its recipient masked and its text as staff may read it (names,
    references and numbers masked; one-time codes are never stored, so never shown)."""

    id = fields.UUID()
    kind = fields.String()
    status = fields.String(metadata={"enum": list(STATUSES)})
    skip_reason = fields.String(
        allow_none=True, metadata={"description": f"Why it waits or was not sent: {', '.join(SKIP_REASONS)}"}
    )
    station_id = fields.UUID(allow_none=True)
    recipient = fields.Function(
        lambda row: _services().masked_recipient(row), metadata={"description": "Masked phone number"}
    )
    locale = fields.String()
    template = fields.String()
    text = fields.Function(lambda row: _services().masked_text(row))
    due_at = fields.DateTime()
    next_attempt_at = fields.DateTime()
    attempts = fields.Integer()
    sender = fields.String(allow_none=True)
    provider_message_id = fields.String(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)


def _services() -> ModuleType:
    return services


class OutboxStatsOut(Out):
    total = fields.Integer()
    by_status = fields.Dict(keys=fields.String(), values=fields.Integer())
    by_kind = fields.Dict(
        keys=fields.String(),
        values=fields.Dict(keys=fields.String(), values=fields.Integer()),
        metadata={"description": "kind → status → count"},
    )


class OptOutIn(In):
    phone = fields.String(required=True, validate=validate.Length(max=32))


class OptOutOut(Out):
    phone = fields.String(metadata={"description": "Masked"})
    opted_out = fields.Boolean()
    source = fields.String(allow_none=True, metadata={"description": "citizen or staff"})
    since = fields.DateTime(allow_none=True)
