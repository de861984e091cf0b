"""Attachment fixtures: files whose first bytes are those of their type, and declaration bodies."""

from __future__ import annotations

import hashlib
import os

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff\xe0"
PDF_MAGIC = b"%PDF-1.7\n"


def png(size: int = 256) -> bytes:
    """Random bytes behind a PNG signature: only the leading bytes are checked, and random
    content makes every file (and so every hash) new."""
    return PNG_MAGIC + os.urandom(size - len(PNG_MAGIC))


def jpeg(size: int = 256) -> bytes:
    return JPEG_MAGIC + os.urandom(size - len(JPEG_MAGIC))


def pdf(size: int = 256) -> bytes:
    return PDF_MAGIC + os.urandom(size - len(PDF_MAGIC))


def webp(size: int = 256) -> bytes:
    return b"RIFF" + (size - 8).to_bytes(4, "little") + b"WEBP" + os.urandom(size - 12)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def declaration(data: bytes, content_type: str = "image/png", kind: str = "photo", **overrides) -> dict:
    body = {"sha256": sha(data), "content_type": content_type, "size": len(data), "kind": kind}
    body.update(overrides)
    return body


def stored_attachment(user, data: bytes, content_type: str = "image/png", kind: str = "photo") -> str:
    """A verified attachment declared by ``user``, bytes in the app's store (inside an app context;
    the caller commits). For tests that need one to exist rather than to test its upload."""
    from app.attachments.models import STORED, Attachment, AttachmentClaim
    from app.db import utcnow
    from app.extensions import db
    from app.storage import get_store

    digest = sha(data)
    get_store().put(digest, data, content_type)
    db.session.add(
        Attachment(
            sha256=digest,
            content_type=content_type,
            size=len(data),
            kind=kind,
            status=STORED,
            station_id=user.station_id,
            uploaded_by_id=user.id,
            stored_at=utcnow(),
        )
    )
    db.session.flush()
    db.session.add(AttachmentClaim(sha256=digest, user_id=user.id, station_id=user.station_id))
    return digest
