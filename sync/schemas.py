from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import fields, validate

from app.schemas import In, JsonInteger, Out, text


class PullIn(In):
    protocol = JsonInteger(required=True)
    cursor = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=400))
    limit = JsonInteger(load_default=1000, validate=validate.Range(1, 1000))


BIGINT_MAX = 2**63 - 1  # seq is stored in a BIGINT, versions in an INTEGER: larger is a 422, not a 500
INT_MAX = 2**31 - 1


class MutationIn(In):
    """The envelope of one mutation. Its shape is the protocol's: a malformed envelope makes the
    whole push a 422 naming the field (the client is broken and must be fixed), while what the
    envelope carries — ``data`` and ``occurred_at`` — is judged per mutation, which settles as
    rejected with the reason and never blocks the ones after it."""

    mutation_id = fields.UUID(required=True)
    seq = JsonInteger(required=True, validate=validate.Range(min=1, max=BIGINT_MAX))
    entity = text(16, required=True)
    op = text(24, required=True)
    id = text(40, required=True)
    base_version = JsonInteger(load_default=None, allow_none=True, validate=validate.Range(min=0, max=INT_MAX))
    data = fields.Dict(load_default=dict)
    occurred_at = fields.String(load_default=None, allow_none=True)


class PushIn(In):
    protocol = JsonInteger(required=True)
    sent_at = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=40),
        metadata={
            "description": "the device's clock when it sent the push (RFC 3339, with "
            "offset): the server measures the device's clock skew by it"
        },
    )
    mutations = fields.List(fields.Nested(MutationIn), required=True)


class ConflictOut(Out):
    id = fields.UUID()
    mutation_id = fields.UUID()
    device_id = fields.UUID()
    entity = fields.String()
    record_id = fields.String()
    kind = fields.String()
    fields_ = fields.Function(
        lambda c: {
            f: {k: v for k, v in s.items() if k != "device_enc"} if isinstance(s, dict) else s
            for f, s in c.fields.items()
        },
        data_key="fields",
    )
    status = fields.String()
    created_at = fields.DateTime()
    resolved_at = fields.DateTime(allow_none=True)
    resolution = fields.String(allow_none=True)


class RejectionOut(Out):
    mutation_id = fields.UUID()
    device_id = fields.UUID()
    user_id = fields.UUID()
    seq = fields.Integer()
    entity = fields.String()
    op = fields.String()
    record_id = fields.String()
    errors = fields.Function(lambda m: m.result.get("errors"))
    payload = fields.Function(lambda m: masked_payload(m.payload))
    occurred_at = fields.DateTime(allow_none=True)
    received_at = fields.DateTime()
    resolved_at = fields.DateTime(allow_none=True)
    resolution = fields.String(allow_none=True)


def masked_payload(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "data": opened(payload.get("data") or {}, lambda sealed: sealed["masked"])}


def opened(value: object, show: Callable[[dict[str, Any]], object]) -> object:
    """A stored payload with each sealed number (``{"masked", "enc"}``) replaced by ``show(it)``."""
    if isinstance(value, list):
        return [opened(v, show) for v in value]
    if isinstance(value, dict):
        if "masked" in value and "enc" in value:
            return show(value)
        return {k: opened(v, show) for k, v in value.items()}
    return value


class RejectionPiiOut(Out):
    mutation_id = fields.UUID()
    data = fields.Dict(metadata={"description": "the pushed data with identity and phone numbers in plain"})


class ListArgs(In):
    status = fields.String(validate=validate.OneOf(["open", "resolved"]), load_default="open")
    device_id = fields.UUID()


class ResolveConflictIn(In):
    choice = fields.String(
        load_default=None,
        validate=validate.OneOf(["server", "device", "acknowledge"]),
        metadata={"description": "the side of every field not named in `fields`; `acknowledge` for a late fact"},
    )
    fields_ = fields.Dict(
        keys=fields.String(validate=validate.Length(max=64)),
        values=fields.String(validate=validate.OneOf(["server", "device"])),
        load_default=None,
        data_key="fields",
        attribute="fields",
        metadata={"description": 'a side per field of a field conflict, e.g. {"name": "device", "phone": "server"}'},
    )
    note = text(500, min_len=0, load_default="")


class ResolveRejectionIn(In):
    resolution = fields.String(required=True, validate=validate.OneOf(["dismissed", "applied-manually"]))
    note = text(500, min_len=0, load_default="")
