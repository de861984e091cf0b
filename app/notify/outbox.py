"""Putting messages in the outbox, and sending the ones that cannot wait for a scheduler tick."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from flask import current_app

from app import pii, refcache
from app.db import new_id, table_of, utcnow
from app.extensions import db
from app.notify.models import Notification
from app.notify.senders import SendFailed, get_sender
from app.notify.templates import render
from app.org.models import Station, User
from app.unit_buffer import UnitBuffer, memo
from app.unit_of_work import commit_now

_queued = UnitBuffer("outbox", lambda: table_of(Notification))

log = logging.getLogger("doorstep.sms")


def enqueue(
    kind: str,
    template: str,
    params: dict[str, Any],
    *,
    phone: str | None = None,
    user_id: UUID | None = None,
    station_id: UUID | None = None,
    locale: str = "zh",
    due_at: datetime | None = None,
    dedupe_key: str | None = None,
) -> Notification:
    """Add a row in the caller's transaction; it commits or rolls back with the business change.

    ``phone`` (normalized) wins over ``user_id``; a row for an account alone is sent to whatever
    number the account has when the message goes."""
    bidx = pii.blind_index(pii.PHONE, phone)
    if bidx is None and user_id is not None:
        user = db.session.get(User, user_id)
        bidx = user.phone_bidx if user is not None else None
    due_at = due_at or utcnow()
    row = Notification(
        kind=kind,
        template=template,
        params=params,
        locale=locale,
        recipient_phone_enc=pii.encrypt(pii.PHONE, phone),
        recipient_user_id=user_id,
        recipient_bidx=bidx,
        station_id=station_id,
        due_at=due_at,
        next_attempt_at=due_at,
        dedupe_key=dedupe_key,
    )
    db.session.add(row)
    db.session.flush()
    return row


def queue(kind: str, params: dict[str, Any], **recipient: Any) -> None:
    """A notice (template ``kind``) for the outbox, written with the unit's others in one INSERT
    as the unit commits (``app.unit_buffer``): it commits or rolls back with the business change
    and is sent by the dispatcher after the commit. ``notice`` says who ``recipient`` names."""
    add(notice(kind, params, **recipient))


def notice(
    kind: str,
    params: dict[str, Any],
    *,
    phone_enc: str | None,
    user_id: UUID | None = None,
    station_id: UUID | None = None,
    locale: str = "zh",
    dedupe_key: str | None = None,
) -> dict[str, Any]:
    """The outbox row of a notice, made now and queued by ``add`` when the change it is about is
    written: a write section that sends one then holds its lock for none of this.

    ``phone_enc`` is the recipient's number as stored on the record the notice is about; it is
    decrypted, re-encrypted for the outbox and blind-indexed once per unit, however many notices
    go to it. With no number, the row is for the account ``user_id`` (as in ``enqueue``). With a
    ``station_id``, the params get the station's name as ``station``, read once per unit."""
    enc, bidx = _recipient_in_unit(phone_enc)
    if bidx is None and user_id is not None:
        bidx = memo(("outbox.user_bidx", user_id), lambda: _user_bidx(user_id))
    if station_id is not None:
        params = {"station": station_name(station_id), **params}
    return outbox_row(
        kind,
        params,
        enc,
        bidx,
        station_id=station_id,
        dedupe_key=dedupe_key,
        now=utcnow(),
        user_id=user_id,
        locale=locale,
    )


def add(row: dict[str, Any]) -> None:
    """Queue a row ``notice`` made, with the unit's others (as ``queue`` does)."""
    _queued.add(row)


def _recipient_in_unit(phone_enc: str | None) -> tuple[str | None, str | None]:
    return memo(("outbox.recipient", phone_enc), lambda: _recipient(phone_enc))


# The reference cache's key of a station's name (decision 98): a unit that will queue notices
# reads its version ahead with the others it reads (``refcache.prefetch``).
STATION = "station"
refcache.watch(Station, STATION, lambda row: row.id)


def station_name(station_id: UUID) -> str:
    """The station's name as its notices sign them, from the process's reference cache."""
    return refcache.cached(STATION, station_id, lambda: db.session.get_one(Station, station_id).name)


def _recipient(phone_enc: str | None) -> tuple[str | None, str | None]:
    phone = pii.decrypt(pii.PHONE, phone_enc)
    return pii.encrypt(pii.PHONE, phone), pii.blind_index(pii.PHONE, phone)


def _user_bidx(user_id: UUID) -> str | None:
    user = db.session.get(User, user_id)
    return user.phone_bidx if user is not None else None


def outbox_row(
    kind: str,
    params: dict[str, Any],
    phone_enc: str | None,
    phone_bidx: str | None,
    *,
    station_id: UUID | None,
    dedupe_key: str | None,
    now: datetime,
    user_id: UUID | None = None,
    locale: str = "zh",
) -> dict[str, Any]:
    """The values of one outbox row, for a bulk insert (``enqueue`` adds one ORM object at a
    time): a job's rows, or a unit's ``queue``. The ciphertext and blind index are what the row
    stores (a job passes the resident's or account's own)."""
    return {
        "id": new_id(),
        "kind": kind,
        "template": kind,
        "params": params,
        "locale": locale,
        "recipient_phone_enc": phone_enc,
        "recipient_bidx": phone_bidx,
        "recipient_user_id": user_id,
        "station_id": station_id,
        "due_at": now,
        "next_attempt_at": now,
        "status": "pending",
        "attempts": 0,
        "dedupe_key": dedupe_key,
        "created_at": now,
    }


def send_immediately(row: Notification, secret_params: dict[str, Any] | None = None) -> bool:
    """Send now, outside the scheduler: the row is committed as ``sending`` (with a lease, so the
    dispatcher's sweep marks it ``unknown`` if this process dies mid-call) before the provider is
    called. ``secret_params`` (an OTP code) reach the provider and nowhere else."""
    sender = get_sender()
    now = utcnow()
    row.status, row.sender, row.attempts = "sending", sender.name, row.attempts + 1
    row.claim_token, row.claimed_at = secrets.token_hex(8), now
    row.lease_until = now + timedelta(seconds=current_app.config["SMS_LEASE_SECONDS"])
    text = render(row.template, row.locale, {**row.params, **(secret_params or {})})
    phone = pii.decrypt(pii.PHONE, row.recipient_phone_enc)
    kind, row_id = row.kind, row.id
    # The claim is durable before the provider is called: if this process dies mid-call the
    # dispatcher's sweep finds the lease and marks the row ``unknown`` rather than sending twice.
    commit_now("outbox row claimed before the SMS leaves")
    try:
        row.provider_message_id = sender.send_sms(phone, text)
        row.status, row.sent_at = "sent", utcnow()
    except SendFailed as exc:
        row.status, row.last_error = "failed", str(exc)[:500]
        log.warning("immediate %s message %s failed: %s", kind, row_id, exc, extra={"event": "sms.failed"})
    row.lease_until = None
    # What the provider answered is kept even when the caller then refuses the request (a code
    # that could not be sent is answered 503, and the row must say ``failed``).
    commit_now("outbox row's send outcome recorded")
    return row.status == "sent"
