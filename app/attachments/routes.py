"""Attachments: declare, upload (through the API or a presigned S3 URL), confirm, read."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from app.attachments import services
from app.attachments.schemas import AttachmentDeclaredOut, AttachmentDeclareIn, AttachmentDetailOut, AttachmentOut
from app.attachments.services import AttachmentInfo
from app.auth.permissions import current_actor, requires
from app.errors import field_error, phrase
from app.headers import locates
from app.schemas import Blueprint

blp = Blueprint("attachments", __name__, url_prefix="/api/v1", description="Photos, signatures and materials")

_BINARY = {t: {"schema": {"type": "string", "format": "binary"}} for t in services.ALLOWED_TYPES}


def _read_body(limit: int) -> bytes:
    """The raw body, allowed up to ``limit`` for this request only: the app-wide limit stays at
    DOORSTEP_MAX_CONTENT_LENGTH for every JSON route."""
    request.max_content_length = limit
    try:
        return request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise field_error(
            "size", phrase("the file is larger than %(limit)s bytes", limit=limit), cls=services.PayloadTooLarge
        ) from None


@blp.route("/attachments", methods=["POST"])
@requires("attachment.upload")
@blp.arguments(AttachmentDeclareIn)
@blp.response(201, AttachmentDeclaredOut)
@blp.alt_response(200, schema=AttachmentDeclaredOut, description="The hash was declared before: the same attachment")
@locates("attachments.get_attachment", sha256="sha256")
def declare(body: dict[str, Any]) -> tuple[AttachmentInfo, int]:
    """Declare a file before uploading it; the answer says where to PUT the bytes"""
    info, created = services.declare(current_actor(), body)
    return info, 201 if created else 200


@blp.route("/attachments/<sha256>", methods=["GET"])
@requires("attachment.read")
@blp.response(200, AttachmentDetailOut)
def get_attachment(sha256: str) -> AttachmentInfo:
    """An attachment's metadata and, once stored, a download URL"""
    return services.detail(current_actor(), sha256)


@blp.route("/attachments/<sha256>/content", methods=["PUT"])
@requires("attachment.upload")
@blp.doc(requestBody={"required": True, "content": _BINARY})
@blp.response(200, AttachmentOut)
def put_content(sha256: str) -> AttachmentInfo:
    """Upload the declared bytes through the API (the local store's upload URL)"""
    return services.receive(current_actor(), sha256, request.mimetype or None, _read_body)


@blp.route("/attachments/<sha256>/content", methods=["GET"])
@requires("attachment.read")
@blp.doc(responses={"200": {"description": "The file", "content": _BINARY}})
def get_content(sha256: str) -> Response:
    """Download the verified bytes"""
    data, content_type, filename = services.content(current_actor(), sha256)
    return current_app.response_class(
        data,
        mimetype=content_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "ETag": f'"{sha256}"'},
    )


@blp.route("/attachments/<sha256>/confirm", methods=["POST"])
@requires("attachment.upload")
@blp.response(200, AttachmentOut)
def confirm(sha256: str) -> AttachmentInfo:
    """After uploading to a presigned URL: check the bytes and mark the attachment stored"""
    return services.confirm(current_actor(), sha256)
