"""The outbox as staff see it, a hand retry of what the dispatcher gave up on, and opt-outs."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import sqlalchemy as sa

from app import audit, pii
from app.auth.actor import Actor
from app.db import affected, insert_for, one_or_404, utcnow
from app.errors import Conflict, field_error, phrase
from app.extensions import db
from app.notify import policy
from app.notify.models import STATUSES, Notification, SmsOptOut
from app.notify.templates import render_masked
from app.org.models import User

RETRYABLE = ("dead", "unknown")


# --- the outbox ----------------------------------------------------------------------------


def outbox_visible_to(actor: Actor) -> sa.Select[Notification]:
    """Administrators see every message; staff their station's. One-time codes have no station,
    so only administrators see those."""
    query = sa.select(Notification).order_by(Notification.created_at.desc(), Notification.id)
    return query if actor.is_admin else query.where(Notification.station_id == actor.station_id)


def outbox_for(actor: Actor, notification_id: UUID) -> Notification:
    return one_or_404(outbox_visible_to(actor).where(Notification.id == notification_id), "message")


def filtered(actor: Actor, args: dict[str, Any]) -> sa.Select[Notification]:
    query = outbox_visible_to(actor)
    if "status" in args:
        query = query.where(Notification.status == args["status"])
    if "kind" in args:
        query = query.where(Notification.kind == args["kind"])
    return query


def masked_recipient(row: Notification) -> str | None:
    enc: str | None = row.recipient_phone_enc
    if enc is None and row.recipient_user_id is not None:
        user = db.session.get(User, row.recipient_user_id)
        enc = user.phone_enc if user is not None else None
    return pii.mask_phone(pii.decrypt(pii.PHONE, enc))


def masked_text(row: Notification) -> str | None:
    return render_masked(row.template, row.locale, row.params)


def stats(actor: Actor) -> dict[str, Any]:
    """Counts by status (every status, zeros included) and by kind and status."""
    scoped = outbox_visible_to(actor).order_by(None).subquery()
    rows = db.session.execute(
        sa.select(scoped.c.kind, scoped.c.status, sa.func.count()).group_by(scoped.c.kind, scoped.c.status)
    ).all()
    by_status = dict.fromkeys(STATUSES, 0)
    by_kind: dict[str, dict[str, int]] = {}
    for kind, status, count in rows:
        by_status[status] = by_status.get(status, 0) + count
        by_kind.setdefault(kind, {})[status] = count
    return {"total": sum(by_status.values()), "by_status": by_status, "by_kind": by_kind}


def retry(actor: Actor, notification_id: UUID) -> Notification:
    """Send a dead or unknown message again, from a fresh set of attempts. For an ``unknown`` one
    this is a person's decision that a possible duplicate is better than a possible gap."""
    row = one_or_404(outbox_visible_to(actor).where(Notification.id == notification_id).with_for_update(), "message")
    if row.status not in RETRYABLE:
        raise Conflict(
            phrase(
                "status: a %(status)s message cannot be retried (only %(retryable)s)",
                status=row.status,
                retryable=", ".join(RETRYABLE),
            ),
            errors={"status": [phrase("the message is %(status)s", status=row.status)]},
            slug="message-not-retryable",
        )
    if row.kind in policy.IMMEDIATE_KINDS:
        raise Conflict(
            "kind: a one-time code is not kept, so it cannot be resent; the citizen asks for a new one",
            errors={"kind": ["one-time codes are never resent"]},
            slug="message-not-retryable",
        )
    before = {"status": row.status, "attempts": row.attempts, "last_error": row.last_error}
    now = utcnow()
    row.status, row.attempts, row.next_attempt_at = "pending", 0, now
    row.claim_token = row.lease_until = row.skip_reason = None
    audit.record(
        actor,
        "outbox.retry",
        "notification",
        row.id,
        before=before,
        after={"status": "pending", "attempts": 0},
        station_id=row.station_id,
    )
    db.session.flush()
    return row


# --- opt-outs ------------------------------------------------------------------------------


def _add_opt_out(actor: Actor, bidx: str, masked: str | None, source: str) -> tuple[dict[str, Any], bool]:
    """Insert-or-keep: the primary key, not a prior look-up, decides whether this is new."""
    insert = insert_for(db.session)
    created = (
        db.session.execute(
            insert(SmsOptOut)
            .values(
                phone_bidx=bidx,
                source=source,
                created_by_id=actor.user_id,
                station_id=actor.station_id,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing()
            .returning(SmsOptOut.phone_bidx)
        ).scalar()
        is not None
    )
    if created:
        audit.record(actor, "sms_opt_out.create", "sms_opt_out", bidx[:16], after={"phone": masked, "source": source})
    row = db.session.get_one(SmsOptOut, bidx)  # inserted above, or there already
    db.session.flush()
    return {"phone": masked, "opted_out": True, "source": row.source, "since": row.created_at}, created


def opt_out_phone(actor: Actor, raw_phone: str) -> tuple[dict[str, Any], bool]:
    """Staff record a resident's wish (at the counter, on the phone) to receive no notices."""
    try:
        phone = pii.normalize_phone(raw_phone)
    except pii.InvalidPII as exc:
        raise field_error("phone", str(exc)) from None
    return _add_opt_out(actor, pii.blind_index(pii.PHONE, phone), pii.mask_phone(phone), "staff")


def _own_phone(actor: Actor) -> User:
    user = db.session.get(User, actor.user_id)
    if user is None or user.phone_bidx is None:
        raise field_error("phone", "your account has no phone number")
    return user


def my_opt_out(actor: Actor) -> dict[str, Any]:
    user = _own_phone(actor)
    row = db.session.get(SmsOptOut, user.phone_bidx)
    return {
        "phone": pii.mask_phone(user.phone),
        "opted_out": row is not None,
        "source": row.source if row else None,
        "since": row.created_at if row else None,
    }


def opt_out_self(actor: Actor) -> tuple[dict[str, Any], bool]:
    user = _own_phone(actor)
    return _add_opt_out(actor, user.phone_bidx, pii.mask_phone(user.phone), "citizen")


def opt_in_self(actor: Actor) -> None:
    """Opting back in is the citizen's own act (staff record opt-outs, never undo them)."""
    user = _own_phone(actor)
    removed = affected(sa.delete(SmsOptOut).where(SmsOptOut.phone_bidx == user.phone_bidx))
    if removed:
        audit.record(
            actor,
            "sms_opt_out.delete",
            "sms_opt_out",
            user.phone_bidx[:16],
            before={"phone": pii.mask_phone(user.phone)},
        )
    db.session.flush()
