"""Putting messages in the outbox, and sending the ones that cannot wait for a scheduler tick."""
from __future__ import annotations

from app import pii
from app.db import utcnow
from app.extensions import db
from app.notify.models import Notification
from app.notify.senders import SendFailed, get_sender
from app.notify.templates import render


def enqueue(kind: str, template: str, params: dict, *, phone: str | None = None, user_id=None,
            station_id=None, locale: str = "zh", due_at=None, dedupe_key: str | None = None) -> Notification:
    """Add a row in the caller's transaction; it commits or rolls back with the business change."""
    row = Notification(kind=kind, template=template, params=params, locale=locale,
                       recipient_phone_enc=pii.encrypt(pii.PHONE, phone), recipient_user_id=user_id,
                       station_id=station_id, due_at=due_at or utcnow(), dedupe_key=dedupe_key)
    db.session.add(row)
    db.session.flush()
    return row


def send_immediately(row: Notification, secret_params: dict | None = None) -> bool:
    """Send now, outside the scheduler: the row is committed as ``sending`` first so a crash
    mid-call leaves a trace. ``secret_params`` (an OTP code) reach the provider and nowhere else."""
    sender = get_sender()
    row.status, row.sender, row.attempts = "sending", sender.name, row.attempts + 1
    db.session.commit()
    text = render(row.template, row.locale, {**row.params, **(secret_params or {})})
    try:
        row.provider_message_id = sender.send_sms(pii.decrypt(pii.PHONE, row.recipient_phone_enc), text)
        row.status, row.sent_at = "sent", utcnow()
    except SendFailed as exc:
        row.status, row.last_error = "failed", str(exc)[:500]
    db.session.commit()
    return row.status == "sent"
