"""Attachment input and output shapes."""

from __future__ import annotations

from marshmallow import fields, validate

from app.attachments.models import KINDS
from app.attachments.services import ALLOWED_TYPES
from app.schemas import In, JsonInteger, Out


class AttachmentDeclareIn(In):
    sha256 = fields.String(
        required=True,
        validate=validate.Regexp(r"^[0-9a-f]{64}$", error="must be 64 lowercase hex digits"),
        metadata={"description": "SHA-256 of the file, lowercase hex"},
    )
    content_type = fields.String(required=True, validate=validate.OneOf(ALLOWED_TYPES))
    size = JsonInteger(
        required=True,
        validate=validate.Range(min=1),
        metadata={"description": "Bytes; at most DOORSTEP_ATTACHMENT_MAX_BYTES"},
    )
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))


class AttachmentUploadOut(Out):
    method = fields.String(metadata={"example": "PUT"})
    url = fields.String(metadata={"description": "Absolute (S3) or relative to the API host (local store)"})
    headers = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={"description": "Send exactly these headers; S3 checks each one it signed"},
    )
    expires_at = fields.DateTime(allow_none=True, metadata={"description": "null: the API's own URL, no expiry"})


class AttachmentDownloadOut(Out):
    url = fields.String()
    expires_at = fields.DateTime(allow_none=True)


class AttachmentOut(Out):
    sha256 = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    kind = fields.String()
    status = fields.String(metadata={"description": "pending (declared) or stored (arrived and verified)"})
    created_at = fields.DateTime()
    stored_at = fields.DateTime(allow_none=True)


class AttachmentDeclaredOut(AttachmentOut):
    upload = fields.Nested(
        AttachmentUploadOut,
        allow_none=True,
        metadata={"description": "Where to send the bytes; null when they are already stored"},
    )


class AttachmentDetailOut(AttachmentOut):
    download = fields.Nested(AttachmentDownloadOut, allow_none=True, metadata={"description": "null until stored"})
