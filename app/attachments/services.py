"""Attachment use cases: declare, receive the bytes (through the API or straight into S3), read.

A client first declares what it will send (hash, type, size, kind) and gets an upload target;
the bytes are accepted only when their SHA-256 is the declared one, they fit the size limit, and
their first bytes are those of the declared type. Records elsewhere (residence registrations,
materials) name attachments by hash and may arrive before the bytes do: ``is_stored`` tells them
whether to mark themselves as waiting, and ``on_stored`` hooks clear that mark in the very
commit that stores the attachment.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from flask import current_app

from app import audit, quotas
from app.attachments.models import PENDING, STORED, Attachment, AttachmentClaim
from app.auth.actor import Actor
from app.db import insert_for, one_or_404, utcnow
from app.errors import Conflict, DomainError, NotFound, Unprocessable, field_error, phrase
from app.extensions import db
from app.storage import API_CONTENT_PATH, SHA256_RE, BlobMissing, BlobStore, BlobStoreUnavailable, get_store

log = logging.getLogger("doorstep.attachments")

IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
ALLOWED_TYPES = (*IMAGE_TYPES, "application/pdf")
TYPES_BY_KIND = {"photo": IMAGE_TYPES, "signature": IMAGE_TYPES, "material": ALLOWED_TYPES}
EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "application/pdf": ".pdf"}


class PayloadTooLarge(DomainError):
    status, slug, title = 413, "payload-too-large", "The file is too large"


class UnsupportedType(DomainError):
    status, slug, title = 415, "unsupported-media-type", "This type of file is not accepted"


class NotUploaded(Conflict):
    slug, title = "attachment-not-uploaded", "The file has not been uploaded yet"


def _send_as_one_of() -> str:
    return phrase("send the file as one of %(types)s", types=", ".join(ALLOWED_TYPES))


def sniff(data: bytes) -> str | None:
    """The type the leading bytes announce, whatever the sender claimed."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return None


@dataclass(frozen=True)
class AttachmentInfo:
    """What the API shows of an attachment, with the upload or download instructions if any."""

    sha256: str
    content_type: str
    size: int
    kind: str
    status: str
    created_at: datetime
    stored_at: datetime | None
    upload: dict[str, Any] | None = None
    download: dict[str, Any] | None = None

    @classmethod
    def of(cls, row: Attachment, **extra: Any) -> AttachmentInfo:
        return cls(row.sha256, row.content_type, row.size, row.kind, row.status, row.created_at, row.stored_at, **extra)


# ---------------------------------------------------------------- for other packages

_stored_hooks: list[Callable[[str], None]] = []


def on_stored(hook: Callable[[str], None]) -> Callable[[str], None]:
    """Register ``hook(sha256)``, called inside the transaction that marks an attachment stored
    (so a record waiting for it stops waiting in the same commit). Usable as a decorator."""
    if hook not in _stored_hooks:
        _stored_hooks.append(hook)
    return hook


def is_stored(sha256: str) -> bool:
    """Whether these bytes have arrived and were verified; a record naming a hash for which this
    is False is accepted and marked as waiting for it."""
    return sha256 in stored_among([sha256])


def stored_among(hashes: Iterable[object]) -> set[str]:
    """``is_stored`` for many hashes in one query per 500: the ones that have arrived."""
    wanted = sorted({h for h in hashes if isinstance(h, str) and SHA256_RE.match(h)})
    found: set[str] = set()
    for i in range(0, len(wanted), 500):
        found.update(
            db.session.execute(
                sa.select(Attachment.sha256).where(
                    Attachment.sha256.in_(wanted[i : i + 500]), Attachment.status == STORED
                )
            ).scalars()
        )
    return found


# ---------------------------------------------------------------- scope


def attachments_visible_to(actor: Actor) -> sa.Select[Attachment]:
    """Administrators see every attachment; station accounts those declared by anyone of their
    station; citizens those they declared themselves."""
    query = sa.select(Attachment)
    if actor.is_admin:
        return query
    claims = sa.select(AttachmentClaim.sha256)
    if actor.station_id is None:
        claims = claims.where(AttachmentClaim.user_id == actor.user_id)
    else:
        claims = claims.where(AttachmentClaim.station_id == actor.station_id)
    return query.where(Attachment.sha256.in_(claims))


def _in_scope(actor: Actor, sha256: str) -> bool:
    return (
        db.session.execute(
            attachments_visible_to(actor).with_only_columns(Attachment.sha256).where(Attachment.sha256 == sha256)
        ).first()
        is not None
    )


def attachment_for(actor: Actor, sha256: str) -> Attachment:
    return one_or_404(attachments_visible_to(actor).where(Attachment.sha256 == sha256), "attachment")


# ---------------------------------------------------------------- declare


def _max_bytes() -> int:
    limit: int = current_app.config["ATTACHMENT_MAX_BYTES"]
    return limit


def _check_declaration(content_type: str, size: int, kind: str) -> None:
    if content_type not in TYPES_BY_KIND[kind]:
        raise field_error(
            "content_type",
            phrase("a %(kind)s must be one of %(types)s", kind=kind, types=", ".join(TYPES_BY_KIND[kind])),
        )
    if size > _max_bytes():
        raise field_error("size", phrase("must be at most %(limit)s bytes", limit=_max_bytes()))


def declare(actor: Actor, data: dict[str, Any]) -> tuple[AttachmentInfo, bool]:
    """Declare a file about to be uploaded; returns (info, created). Declaring a hash again is
    answered with the same attachment (and a fresh upload target while it is still pending).

    While pending, the newest declaration's type and size are what the bytes will be checked
    against: the hash already pins the bytes, so a mistaken first declaration must not block the
    hash forever. Once stored, a declaration that contradicts the bytes is refused."""
    sha256, content_type, size, kind = data["sha256"], data["content_type"], data["size"], data["kind"]
    _check_declaration(content_type, size, kind)
    if db.session.get(Attachment, sha256) is None:
        quotas.check(
            sa.select(Attachment.sha256).where(
                Attachment.uploaded_by_id == actor.user_id, Attachment.status == PENDING
            ),
            current_app.config["ATTACHMENT_PENDING_MAX"],
            "sha256",
            "attachments waiting for their bytes",
        )
    insert = insert_for(db.session)
    now = utcnow()
    # RETURNING, not rowcount: the ORM's bulk insert path does not report rowcount on every driver.
    created = (
        db.session.execute(
            insert(Attachment)
            .values(
                sha256=sha256,
                content_type=content_type,
                size=size,
                kind=kind,
                status=PENDING,
                station_id=actor.station_id,
                uploaded_by_id=actor.user_id,
                created_at=now,
            )
            .on_conflict_do_nothing()
            .returning(Attachment.sha256)
        ).first()
        is not None
    )
    if created:  # the row is this transaction's own, as just written: nothing to read back
        _claim(actor, sha256, now)
        target = get_store().presign_put(sha256, content_type, size)
        return AttachmentInfo(sha256, content_type, size, kind, PENDING, now, None, upload=target), True
    row = db.session.execute(
        sa.select(Attachment)
        .where(Attachment.sha256 == sha256)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    if not _in_scope(actor, sha256):
        # Knowing a digest is no capability: the bytes, their size and their type stay unsaid.
        db.session.rollback()
        raise NotFound("no such attachment", errors={"sha256": ["not found"]})
    if row.status == STORED:
        if row.content_type != content_type:
            raise field_error("content_type", phrase("these bytes were stored as %(type)s", type=row.content_type))
        if row.size != size:
            raise field_error("size", phrase("these bytes are %(size)s bytes long", size=row.size))
    else:
        row.content_type, row.size = content_type, size
    _claim(actor, sha256, now)
    upload = None if row.status == STORED else get_store().presign_put(sha256, row.content_type, row.size)
    info = AttachmentInfo.of(row, upload=upload)
    db.session.flush()
    return info, False


def _claim(actor: Actor, sha256: str, now: datetime) -> None:
    """The caller's station (or the citizen) may see the attachment from now on."""
    db.session.execute(
        insert_for(db.session)(AttachmentClaim)
        .values(sha256=sha256, user_id=actor.user_id, station_id=actor.station_id, created_at=now)
        .on_conflict_do_nothing()
    )


# ---------------------------------------------------------------- arrival


@dataclass(frozen=True)
class _Declared:
    sha256: str
    content_type: str
    size: int


def _verify(declared: _Declared, data: bytes) -> None:
    """The checks every arrival passes, whichever way the bytes came."""
    if len(data) > _max_bytes():
        raise field_error(
            "size", phrase("the file is larger than %(limit)s bytes", limit=_max_bytes()), cls=PayloadTooLarge
        )
    if hashlib.sha256(data).hexdigest() != declared.sha256:
        raise field_error("sha256", "the SHA-256 of the bytes received is not the declared one")
    if len(data) != declared.size:
        raise field_error(
            "size",
            phrase("declared %(declared)s bytes, received %(received)s", declared=declared.size, received=len(data)),
        )
    actual = sniff(data)
    if actual != declared.content_type:
        raise field_error(
            "content_type",
            phrase("declared %(declared)s, but the bytes are %(actual)s", declared=declared.content_type, actual=actual)
            if actual
            else phrase(
                "declared %(declared)s, but the bytes are not an accepted type", declared=declared.content_type
            ),
        )


def _declared_then_release(actor: Actor, sha256: str) -> tuple[_Declared, Attachment | None]:
    """Look the attachment up in the caller's scope, then end the transaction: receiving or
    fetching up to ATTACHMENT_MAX_BYTES can take long, and on SQLite an open write transaction
    would hold every other writer for that time. Returns the row only if it is already stored."""
    row = attachment_for(actor, sha256)
    declared = _Declared(row.sha256, row.content_type, row.size)
    if row.status == STORED:
        return declared, row
    db.session.rollback()
    return declared, None


def _mark_stored(actor: Actor, declared: _Declared, how: str) -> AttachmentInfo:
    """One transaction: lock the row, mark it stored, audit, let waiting records know."""
    row = db.session.execute(
        sa.select(Attachment)
        .where(Attachment.sha256 == declared.sha256)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    if row.status != STORED:
        # The bytes were verified against ``declared``; a re-declaration in between changes nothing.
        row.content_type, row.size = declared.content_type, declared.size
        row.status, row.stored_at = STORED, utcnow()
        audit.record(
            actor,
            "attachment.store",
            "attachment",
            row.sha256,
            after={"content_type": row.content_type, "size": row.size, "kind": row.kind, "via": how},
        )
        for hook in list(_stored_hooks):
            hook(row.sha256)
    info = AttachmentInfo.of(row)
    db.session.flush()
    return info


def receive(actor: Actor, sha256: str, content_type: str | None, read_body: Callable[[int], bytes]) -> AttachmentInfo:
    """The bytes through the API (the local store's upload target; a fallback with S3 too).
    ``read_body(limit)`` reads the request body, raising ``PayloadTooLarge`` above ``limit``."""
    declared, stored = _declared_then_release(actor, sha256)
    if stored is not None:
        return AttachmentInfo.of(stored)  # a retry after a lost answer
    if content_type not in ALLOWED_TYPES:
        raise field_error("content_type", _send_as_one_of(), cls=UnsupportedType)
    if content_type != declared.content_type:
        raise field_error("content_type", phrase("the attachment was declared as %(type)s", type=declared.content_type))
    data = read_body(_max_bytes())
    _verify(declared, data)
    get_store().put(sha256, data, content_type)
    return _mark_stored(actor, declared, "api")


def store(actor: Actor, kind: str, content_type: str | None, data: bytes) -> AttachmentInfo:
    """Declare and store in one step, for a page that has the bytes in hand (the citizens' H5
    posts the photo it has just resized): the declaration's checks, then the arrival's, in the
    caller's unit of work. Storing the same bytes again answers with the stored attachment."""
    if content_type not in ALLOWED_TYPES:
        raise field_error("content_type", _send_as_one_of(), cls=UnsupportedType)
    sha256 = hashlib.sha256(data).hexdigest()
    info, _ = declare(actor, {"sha256": sha256, "content_type": content_type, "size": len(data), "kind": kind})
    if info.status == STORED:
        return info
    declared = _Declared(sha256, content_type, len(data))
    _verify(declared, data)
    get_store().put(sha256, data, content_type)
    return _mark_stored(actor, declared, "page")


def _discard_unless_stored(store: BlobStore, sha256: str) -> None:
    """Delete refused bytes, unless the attachment was stored meanwhile through the API (whose
    upload overwrote the object with verified bytes that must stay)."""
    status = db.session.execute(sa.select(Attachment.status).where(Attachment.sha256 == sha256)).scalar_one()
    db.session.rollback()
    if status != STORED:
        store.delete(sha256)


def confirm(actor: Actor, sha256: str) -> AttachmentInfo:
    """After a client PUT the bytes to a presigned URL: fetch them back and check them ourselves.
    S3 already refused other bytes (the checksum is signed), but an S3-compatible server may not
    enforce it, and the type and size limits are ours to check. Bytes that fail are deleted."""
    declared, stored = _declared_then_release(actor, sha256)
    if stored is not None:
        return AttachmentInfo.of(stored)
    store = get_store()
    head = store.head(sha256)
    if head is None:
        raise NotUploaded(
            "nothing has been uploaded for this attachment yet; PUT it to the upload URL first",
            errors={"sha256": ["not uploaded yet"]},
        )
    try:
        if head.size > _max_bytes():
            raise field_error("size", phrase("the uploaded file is larger than %(limit)s bytes", limit=_max_bytes()))
        if head.content_type != declared.content_type:
            raise field_error(
                "content_type",
                phrase(
                    "uploaded as %(uploaded)s, declared %(declared)s",
                    uploaded=head.content_type,
                    declared=declared.content_type,
                ),
            )
        data = store.get(sha256, max_bytes=_max_bytes())
        if len(data) > _max_bytes():
            raise field_error("size", phrase("the uploaded file is larger than %(limit)s bytes", limit=_max_bytes()))
        _verify(declared, data)
    except BlobMissing:
        raise NotUploaded(
            "the upload disappeared before it could be checked; upload it again", errors={"sha256": ["not uploaded"]}
        ) from None
    except (Unprocessable, PayloadTooLarge):
        _discard_unless_stored(store, sha256)
        log.warning("refused uploaded bytes for attachment %s", sha256, extra={"event": "attachment.refused"})
        raise
    return _mark_stored(actor, declared, "presigned")


# ---------------------------------------------------------------- reading


def detail(actor: Actor, sha256: str) -> AttachmentInfo:
    """Metadata, and where to download the bytes once they are stored: a presigned URL from S3, or
    the API's own content URL for the local store."""
    row = attachment_for(actor, sha256)
    download = None
    if row.status == STORED:
        download = get_store().presign_get(sha256) or {
            "url": API_CONTENT_PATH.format(sha256=sha256),
            "expires_at": None,
        }
    return AttachmentInfo.of(row, download=download)


def content(actor: Actor, sha256: str) -> tuple[bytes, str, str]:
    """The verified bytes, their type, and a file name for the download."""
    row = attachment_for(actor, sha256)
    if row.status != STORED:
        raise NotUploaded("the file has not arrived yet", errors={"sha256": ["not uploaded yet"]})
    try:
        data = get_store().get(sha256)
    except BlobMissing:
        log.error("attachment %s is stored but its bytes are missing", sha256, extra={"event": "attachment.missing"})
        raise BlobStoreUnavailable("the file is missing from the file store") from None
    return data, row.content_type, sha256 + EXTENSIONS.get(row.content_type, "")


def share_with_station(sha256: str | None, station_id: UUID, user_id: UUID) -> None:
    """A record of a station now names these bytes (a citizen's upload attached to an
    application): that station's staff may read them. Only the declarer's own claim is given
    the station, so naming a digest one never declared shares nothing (and grants no read);
    the declarer's claim carries no station until a record gives it one."""
    if not sha256 or station_id is None:
        return
    db.session.execute(
        sa.update(AttachmentClaim)
        .where(
            AttachmentClaim.sha256 == sha256, AttachmentClaim.user_id == user_id, AttachmentClaim.station_id.is_(None)
        )
        .values(station_id=station_id)
    )
