"""Sending the outbox: claim due rows, commit the claim, call the provider, record the outcome.

The order is the point. A claim (``sending`` with a lease) is committed *before* the provider is
called, so two dispatchers never send the same row, and a process that dies mid-call leaves a row
that says so: once its lease runs out the sweep marks it ``unknown`` — the provider may or may not
have sent it — and it is resent only under ``DOORSTEP_SMS_RESEND_UNKNOWN`` (default ``never``)
or by a person (``POST /outbox/<id>/retry``). The outcome is written in a transaction of its own,
conditional on the claim still being this dispatcher's.

Claiming takes rows with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent dispatchers share
the work without waiting on each other; on SQLite the claim runs under ``BEGIN IMMEDIATE``, which
serialises dispatchers, and the claiming UPDATE is conditional on the row still being claimable.
No transaction is open while a provider is called.

Decisions taken at claim time, each leaving its reason on the row (``skip_reason``):
quiet hours (wait until they end), the per-recipient hourly limit (wait until a slot frees) and
opt-outs (``skipped``, never sent). One-time codes never pass through here (``IMMEDIATE_KINDS``).
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from app import pii
from app.db import affected, is_postgres, sqlite_begin_mode, utcnow
from app.extensions import db
from app.notify import policy
from app.notify.models import CLAIMABLE, Notification, SmsOptOut
from app.notify.senders import SendFailed, SmsSender, get_sender, send
from app.notify.templates import UnknownTemplate, render
from app.org.models import User
from app.unit_of_work import commit_now

log = logging.getLogger("doorstep.sms")

RATE_WINDOW = timedelta(hours=1)
# A send starts only while the claim has the provider's full timeout plus this margin left;
# otherwise the rest of the batch is handed back unsent rather than racing the sweep.
LEASE_MARGIN_SECONDS = 5
COUNTED_STATUSES = ("sending", "sent", "unknown")  # a message that (may have) reached the phone
UNKNOWN_ERROR = "no answer before the claim expired (crash or timeout); the provider may have sent it"


def dispatch_due(batch: int = 100, now: datetime | None = None) -> dict[str, Any]:
    """Send up to ``batch`` due messages; returns counts of what happened to them.

    ``claimed`` counts the due rows this call took up — each was then sent, failed, died, deferred
    (``deferred_quiet``, ``deferred_rate``), skipped or ``released`` unsent — so a value below
    ``batch`` means nothing more is due. ``unknown`` and ``requeued_unknown`` report the sweep.
    Runs its own transactions (anything the caller left open is committed first). ``now`` fixes
    the clock for tests; the time spent sending, as the app's clock measures it, is added to it
    (leases are compared with times other processes wrote, so that clock is the one to measure
    with, and a test can make a send take time by moving it)."""
    started = utcnow()
    base = now or started

    def clock() -> datetime:
        return base + (utcnow() - started)

    cfg = current_app.config
    sender = get_sender()  # a misconfigured sender fails here, before anything is claimed
    budget = timedelta(seconds=cfg["SMS_CONNECT_TIMEOUT"] + cfg["SMS_READ_TIMEOUT"] + LEASE_MARGIN_SECONDS)
    if timedelta(seconds=cfg["SMS_LEASE_SECONDS"]) <= budget:
        raise RuntimeError(
            f"DOORSTEP_SMS_LEASE_SECONDS must exceed the SMS connect and read timeouts plus "
            f"{LEASE_MARGIN_SECONDS} s ({budget.total_seconds():g} s), or no message could ever go"
        )
    # The dispatcher runs a sequence of transactions of its own (claim, send, record), each
    # committed by name below: that order is what keeps two dispatchers from sending one row.
    commit_now("end the caller's transaction before the dispatcher's own")
    mode = sqlite_begin_mode.set("IMMEDIATE")
    try:
        result = Counter(_sweep(base))
        token = secrets.token_hex(8)
        claimed, decided = _claim(batch, base, token, sender.name)
        result.update(decided)
        for i, row in enumerate(claimed):
            if clock() + budget > row["lease_until"]:
                result["released"] += _release([r["id"] for r in claimed[i:]], token)
                break
            result[_send_one(sender, row, token, clock)] += 1
    finally:
        sqlite_begin_mode.reset(mode)
    counts = {
        key: result.get(key, 0)
        for key in (
            "claimed",
            "sent",
            "failed",
            "dead",
            "skipped",
            "deferred_quiet",
            "deferred_rate",
            "unknown",
            "requeued_unknown",
            "released",
        )
    }
    if any(counts.values()):
        log.info("outbox dispatch: %s", counts, extra={"event": "sms.dispatch"})
    return counts


# --- sweep ---------------------------------------------------------------------------------


def _sweep(now: datetime) -> dict[str, Any]:
    """Expired claims become ``unknown``; failed one-time codes die (their code is gone, the
    citizen asks again); ``unknown`` rows are requeued if the resend policy says so."""
    cfg = current_app.config
    n = Notification
    counts = {}
    counts["unknown"] = affected(
        sa.update(n)
        .where(n.status == "sending", n.lease_until < now)
        .values(status="unknown", last_error=UNKNOWN_ERROR)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        sa.update(n)
        .where(n.status == "failed", n.kind.in_(policy.IMMEDIATE_KINDS))
        .values(status="dead")
        .execution_options(synchronize_session=False)
    )
    after = policy.parse_resend_unknown(cfg["SMS_RESEND_UNKNOWN"])
    counts["requeued_unknown"] = 0
    if after is not None:
        stale = (
            n.status == "unknown",
            n.kind.not_in(policy.IMMEDIATE_KINDS),
            n.lease_until <= now - timedelta(seconds=after),
        )
        counts["requeued_unknown"] = affected(
            sa.update(n)
            .where(*stale, n.attempts < cfg["SMS_MAX_ATTEMPTS"])
            .values(status="pending", next_attempt_at=now, claim_token=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )
        db.session.execute(
            sa.update(n)
            .where(*stale, n.attempts >= cfg["SMS_MAX_ATTEMPTS"])
            .values(status="dead")
            .execution_options(synchronize_session=False)
        )
    commit_now("expired claims swept before claiming")
    return counts


# --- claim ---------------------------------------------------------------------------------


def quiet_until(kind: str, now: datetime) -> datetime | None:
    """When a message of ``kind`` due at ``now`` may go, if quiet hours hold it back."""
    if kind in policy.IMMEDIATE_KINDS:
        return None
    quiet = policy.parse_quiet_hours(current_app.config["QUIET_HOURS"])
    return quiet.end_after(now) if quiet else None


def _claim(batch: int, now: datetime, token: str, sender_name: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One transaction: pick due rows, defer or skip those that must not go now, claim the rest."""
    cfg = current_app.config
    n = Notification
    query = (
        sa.select(n.id, n.kind, n.recipient_bidx, n.recipient_user_id, n.recipient_phone_enc)
        .where(
            n.status.in_(CLAIMABLE), n.kind.not_in(policy.IMMEDIATE_KINDS), n.due_at <= now, n.next_attempt_at <= now
        )
        .order_by(n.next_attempt_at, n.id)
        .limit(batch)
    )
    if is_postgres():
        query = query.with_for_update(skip_locked=True)
    candidates = db.session.execute(query).all()
    decided = Counter(claimed=len(candidates))
    if not candidates:
        commit_now("claim transaction ends: nothing due")
        return [], decided

    def mark(ids: list[Any], **values: Any) -> None:
        if ids:
            db.session.execute(
                sa.update(n)
                .where(n.id.in_(ids), n.status.in_(CLAIMABLE))
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    # Quiet hours apply to every kind that reaches here, so they hold back the whole batch.
    until = quiet_until(candidates[0].kind, now)
    if until is not None:
        mark([c.id for c in candidates], next_attempt_at=until, skip_reason="quiet-hours")
        commit_now("quiet-hours deferral")
        decided["deferred_quiet"] = len(candidates)
        return [], decided

    bidx = {c.id: _recipient_bidx(c) for c in candidates}
    for c in candidates:
        if bidx[c.id] and not c.recipient_bidx:
            mark([c.id], recipient_bidx=bidx[c.id])
    known = sorted({b for b in bidx.values() if b})
    opted_out = (
        set(db.session.execute(sa.select(SmsOptOut.phone_bidx).where(SmsOptOut.phone_bidx.in_(known))).scalars())
        if known
        else set()
    )
    skipped = {c.id for c in candidates if bidx[c.id] in opted_out}
    mark(list(skipped), status="skipped", skip_reason="opted-out", last_error="the recipient opted out of SMS notices")
    decided["skipped"] = len(skipped)

    limit = cfg["SMS_PER_RECIPIENT_PER_HOUR"]
    counted = sorted(b for b in known if b not in opted_out)
    _lock_recipients(counted)
    used, oldest = {}, {}
    if counted:
        for b, count, first in db.session.execute(
            sa.select(n.recipient_bidx, sa.func.count(), sa.func.min(n.claimed_at))
            .where(
                n.recipient_bidx.in_(counted),
                n.kind.not_in(policy.IMMEDIATE_KINDS),
                n.status.in_(COUNTED_STATUSES),
                n.claimed_at > now - RATE_WINDOW,
            )
            .group_by(n.recipient_bidx)
        ):
            used[b], oldest[b] = count, first
    to_claim, waits = [], {}
    for c in candidates:
        b = bidx[c.id]
        if c.id in skipped:
            continue
        if b and used.get(b, 0) >= limit:
            waits[c.id] = (oldest.get(b) or now) + RATE_WINDOW
            continue
        if b:
            used[b] = used.get(b, 0) + 1
            oldest.setdefault(b, now)
        to_claim.append(c.id)
    for until in set(waits.values()):
        mark([i for i, u in waits.items() if u == until], next_attempt_at=until, skip_reason="rate-limited")
    decided["deferred_rate"] = len(waits)

    lease_until = now + timedelta(seconds=cfg["SMS_LEASE_SECONDS"])
    mark(
        to_claim,
        status="sending",
        claim_token=token,
        claimed_at=now,
        lease_until=lease_until,
        attempts=n.attempts + 1,
        sender=sender_name,
        skip_reason=None,
    )
    claimed = []
    if to_claim:
        rows = db.session.execute(
            sa.select(
                n.id,
                n.kind,
                n.template,
                n.params,
                n.locale,
                n.attempts,
                n.recipient_phone_enc,
                User.phone_enc.label("user_phone_enc"),
                n.lease_until,
            )
            .outerjoin(User, User.id == n.recipient_user_id)
            .where(n.id.in_(to_claim), n.claim_token == token, n.status == "sending")
            .order_by(n.next_attempt_at, n.id)
        ).all()
        claimed = [r._asdict() for r in rows]
    commit_now("claim durable before the provider is called")
    return claimed, decided


def _recipient_bidx(c: sa.Row[*tuple[Any, ...]]) -> str | None:
    """Rows queued before ``recipient_bidx`` existed (or for an account that had no phone yet)
    get it here; every row ``enqueue`` writes today already carries it."""
    known: str | None = c.recipient_bidx
    if known:
        return known
    phone_enc: str | None = c.recipient_phone_enc
    if phone_enc:
        return pii.blind_index(pii.PHONE, pii.decrypt(pii.PHONE, phone_enc))
    if c.recipient_user_id:
        bidx: str | None = db.session.execute(sa.select(User.phone_bidx).where(User.id == c.recipient_user_id)).scalar()
        return bidx
    return None


def _lock_recipients(bidxs: list[str]) -> None:
    """PostgreSQL: serialise the rate-limit count per recipient across concurrent dispatchers
    (each holds the lock until its claim commits, so the next one counts that claim). Taken in
    sorted order, so two dispatchers never deadlock. SQLite's IMMEDIATE transaction already
    serialises whole claims."""
    if not is_postgres():
        return
    for b in bidxs:
        key = int.from_bytes(bytes.fromhex(b[:16]), "big", signed=True)
        db.session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


# --- send and record -----------------------------------------------------------------------


def _send_one(sender: SmsSender, row: dict[str, Any], token: str, clock: Callable[[], datetime]) -> str:
    """Render and decrypt only now, call the provider with no transaction open, then record."""
    try:
        text = render(row["template"], row["locale"], row["params"] or {})
    except (UnknownTemplate, KeyError, IndexError, ValueError) as exc:
        return _record_failure(
            row,
            token,
            clock(),
            f"template {row['template']!r} cannot be rendered: {type(exc).__name__} {exc}",
            permanent=True,
        )
    phone_enc = row["recipient_phone_enc"] or row["user_phone_enc"]
    if phone_enc is None:
        return _record_failure(row, token, clock(), "the recipient has no phone number", permanent=True)
    phone = pii.decrypt(pii.PHONE, phone_enc)
    try:
        provider_id = send(sender, phone, text, str(row["id"]))
    except SendFailed as exc:
        return _record_failure(row, token, clock(), str(exc), permanent=exc.permanent)
    except Exception as exc:  # a sender's bug must not stop the batch or leave the row claimed
        log.exception("sender %s crashed on message %s", sender.name, row["id"], extra={"event": "sms.error"})
        return _record_failure(row, token, clock(), f"sender error: {type(exc).__name__}: {exc}", permanent=False)
    n = Notification
    done = affected(
        sa.update(n)
        .where(n.id == row["id"], n.claim_token == token, n.status.in_(("sending", "unknown")))
        .values(
            status="sent",
            provider_message_id=provider_id,
            sent_at=clock(),
            lease_until=None,
            last_error=None,
            skip_reason=None,
        )
        .execution_options(synchronize_session=False)
    )
    commit_now("send outcome recorded before the next message")
    if not done:
        log.warning(
            "message %s was sent but its claim had been taken over; the result is only logged",
            row["id"],
            extra={"event": "sms.late_result"},
        )
    log.info("sms %s (%s) sent via %s", row["id"], row["kind"], sender.name, extra={"event": "sms.sent"})
    return "sent"


def _record_failure(row: dict[str, Any], token: str, now: datetime, error: str, *, permanent: bool) -> str:
    cfg = current_app.config
    attempts = row["attempts"]
    dead = permanent or attempts >= cfg["SMS_MAX_ATTEMPTS"]
    status = "dead" if dead else "failed"
    values: dict[str, object] = {"status": status, "last_error": pii.scrub(error)[:500], "lease_until": None}
    if not dead:
        values["next_attempt_at"] = now + timedelta(
            seconds=policy.backoff_seconds(attempts, cfg["SMS_RETRY_BASE_SECONDS"])
        )
    n = Notification
    db.session.execute(
        sa.update(n)
        .where(n.id == row["id"], n.claim_token == token, n.status.in_(("sending", "unknown")))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    commit_now("send failure recorded before the next message")
    log.warning(
        "sms %s (%s) %s after attempt %d: %s",
        row["id"],
        row["kind"],
        values["status"],
        attempts,
        values["last_error"],
        extra={"event": f"sms.{values['status']}"},
    )
    return status


def _release(ids: list[Any], token: str) -> int:
    """Hand unsent claims back (their attempt did not happen) so another tick sends them."""
    n = Notification
    count = affected(
        sa.update(n)
        .where(n.id.in_(ids), n.claim_token == token, n.status == "sending")
        .values(status="pending", attempts=n.attempts - 1, claim_token=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    commit_now("unsent claims handed back")
    return count
