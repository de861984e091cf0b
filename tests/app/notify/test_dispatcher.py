"""The dispatcher: claim, send, record; back-off and dead letters; leases and ``unknown``;
quiet hours, opt-outs and the per-recipient limit; two dispatchers at once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app import pii
from app.db import utcnow
from app.extensions import db
from app.notify import dispatcher, policy
from app.notify.dispatcher import dispatch_due
from app.notify.models import Notification, SmsOptOut
from app.notify.senders import SendFailed
from tests.factories import mobile
from tests.fixtures.outbox import NOON, local, row, rows


def dispatch(app, **kw) -> dict:
    with app.app_context():
        return dispatch_due(**kw)


def test_a_due_message_is_rendered_decrypted_sent_and_recorded(app, sms, queue):
    phone = mobile()
    row_id = queue(phone, kind="visit_cancelled", params={"station": "北山街派出所", "reference": "ABCD2345"})
    result = dispatch(app, now=NOON)
    assert result["claimed"] == 1 and result["sent"] == 1
    ((called_phone, text, ref),) = sms.calls
    assert called_phone == phone and ref == str(row_id)
    assert text == "【北山街派出所】您的预约ABCD2345已取消。如需办理请重新预约。"
    sent = row(app, row_id)
    assert (sent.status, sent.attempts, sent.provider_message_id, sent.sender) == ("sent", 1, "rec-1", "recording")
    assert sent.lease_until is None and sent.sent_at is not None and sent.last_error is None
    assert dispatch(app, now=NOON + timedelta(hours=1))["claimed"] == 0  # sent once


def test_rows_not_yet_due_wait(app, sms, queue):
    queue(due_at=NOON + timedelta(minutes=5))
    assert dispatch(app, now=NOON)["claimed"] == 0
    assert dispatch(app, now=NOON + timedelta(minutes=5))["sent"] == 1


def test_a_message_for_an_account_goes_to_the_number_it_has_when_sent(app, sms, queue, make):
    citizen = make.user("citizen", phone=mobile())
    row_id = queue(None, user_id=citizen.id)
    with app.app_context():
        assert row(app, row_id).recipient_bidx == pii.blind_index(pii.PHONE, citizen.phone)
    dispatch(app, now=NOON)
    assert sms.calls[0][0] == citizen.phone


def test_a_failure_backs_off_then_the_message_dies_after_the_last_attempt(app, sms, queue, monkeypatch):
    monkeypatch.setitem(app.config, "SMS_MAX_ATTEMPTS", 3)
    sms.fail = SendFailed("gateway busy")
    row_id = queue()
    now = NOON
    for attempt in (1, 2):
        assert dispatch(app, now=now)["failed"] == 1
        failed = row(app, row_id)
        assert (failed.status, failed.attempts, failed.last_error) == ("failed", attempt, "gateway busy")
        low, high = policy.backoff_bounds(attempt, app.config["SMS_RETRY_BASE_SECONDS"])
        wait = (failed.next_attempt_at - now).total_seconds()
        assert low <= wait <= high + 1
        assert dispatch(app, now=failed.next_attempt_at - timedelta(seconds=1))["claimed"] == 0  # not before
        now = failed.next_attempt_at
    assert dispatch(app, now=now)["dead"] == 1
    dead = row(app, row_id)
    assert (dead.status, dead.attempts) == ("dead", 3)
    assert dispatch(app, now=now + timedelta(days=1))["claimed"] == 0
    assert len(sms.calls) == 3


def test_a_permanent_refusal_dies_at_once(app, sms, queue):
    sms.fail = SendFailed("invalid number", permanent=True)
    row_id = queue()
    assert dispatch(app, now=NOON)["dead"] == 1
    assert row(app, row_id).attempts == 1


def test_a_crashing_sender_fails_the_row_and_the_batch_goes_on(app, sms, queue):
    sms.fail = lambda n: RuntimeError("bug in the sender") if n == 1 else None
    first, second = queue(mobile()), queue(mobile())
    result = dispatch(app, now=NOON)
    assert (result["failed"], result["sent"]) == (1, 1)
    assert {row(app, first).status, row(app, second).status} == {"failed", "sent"}
    failed = next(r for r in rows(app) if r.status == "failed")
    assert failed.last_error == "sender error: RuntimeError: bug in the sender"


def test_a_template_that_cannot_render_is_dead_without_calling_the_provider(app, sms, queue):
    missing_param = queue(params={"station": "x"})
    unknown_template = queue(kind="visit_cancelled", template="no_such_template", params={})
    dispatch(app, now=NOON)
    assert sms.calls == []
    assert row(app, missing_param).status == row(app, unknown_template).status == "dead"
    assert "reference" in row(app, missing_param).last_error


def test_no_phone_number_is_dead(app, sms, queue, make):
    phoneless = make.user("citizen")
    row_id = queue(None, user_id=phoneless.id)
    dispatch(app, now=NOON)
    assert (row(app, row_id).status, row(app, row_id).last_error) == ("dead", "the recipient has no phone number")


# --- leases and unknown --------------------------------------------------------------------


def _claim_and_crash(app, now):
    """What a dispatcher that dies after committing its claim leaves behind."""
    with app.app_context():
        claimed, _ = dispatcher._claim(10, now, "crashed0token000", "recording")
        db.session.remove()
        return claimed


def test_a_claim_whose_lease_expires_unanswered_becomes_unknown_and_is_not_resent(app, sms, queue):
    row_id = queue()
    (_claimed,) = _claim_and_crash(app, NOON)
    held = row(app, row_id)
    assert (held.status, held.attempts) == ("sending", 1)
    lease = app.config["SMS_LEASE_SECONDS"]
    assert held.lease_until == NOON + timedelta(seconds=lease)
    assert dispatch(app, now=NOON + timedelta(seconds=lease - 1))["claimed"] == 0  # still held
    result = dispatch(app, now=NOON + timedelta(seconds=lease + 1))
    assert result["unknown"] == 1 and result["claimed"] == 0
    unknown = row(app, row_id)
    assert unknown.status == "unknown" and unknown.provider_message_id is None
    assert "may have sent" in unknown.last_error
    assert dispatch(app, now=NOON + timedelta(days=2))["claimed"] == 0  # default policy: never
    assert sms.calls == []


def test_unknown_is_resent_after_the_configured_delay(app, sms, queue, monkeypatch):
    monkeypatch.setitem(app.config, "SMS_RESEND_UNKNOWN", "after:600")
    row_id = queue()
    _claim_and_crash(app, NOON)
    expired = NOON + timedelta(seconds=app.config["SMS_LEASE_SECONDS"] + 1)
    assert dispatch(app, now=expired)["unknown"] == 1
    assert dispatch(app, now=expired + timedelta(seconds=300))["requeued_unknown"] == 0
    result = dispatch(app, now=expired + timedelta(seconds=601))
    assert (result["requeued_unknown"], result["sent"]) == (1, 1)
    assert (row(app, row_id).status, row(app, row_id).attempts) == ("sent", 2)


def test_a_late_answer_to_an_expired_claim_still_records_sent(app, sms, queue):
    """The provider answered after the sweep had marked the row unknown: the answer is the truth."""
    row_id = queue()
    (claimed,) = _claim_and_crash(app, NOON)
    dispatch(app, now=NOON + timedelta(seconds=app.config["SMS_LEASE_SECONDS"] + 1))
    assert row(app, row_id).status == "unknown"
    with app.app_context():
        from app.notify.senders import get_sender

        outcome = dispatcher._send_one(get_sender(), claimed, "crashed0token000", utcnow)
    assert outcome == "sent" and row(app, row_id).status == "sent"


def test_a_claim_running_out_hands_the_rest_of_the_batch_back_unsent(app, sms, queue, monkeypatch, time_machine):
    """Each send needs connect + read timeout + 5 s of lease left (here 7 s of an 8 s lease): after
    two slow sends the third would risk outliving the claim, so it goes back unsent."""
    for key, value in {"SMS_CONNECT_TIMEOUT": 1.0, "SMS_READ_TIMEOUT": 1.0, "SMS_LEASE_SECONDS": 8}.items():
        monkeypatch.setitem(app.config, key, value)
    time_machine.move_to(NOON, tick=False)
    sms.on_send = lambda: time_machine.shift(timedelta(seconds=0.6))  # each send takes 0.6 s
    ids = [queue(mobile(), due_at=NOON - timedelta(minutes=3 - i)) for i in range(3)]
    result = dispatch(app, now=NOON)
    assert (result["claimed"], result["sent"], result["released"]) == (3, 2, 1)
    released = row(app, ids[2])
    assert (released.status, released.attempts) == ("pending", 0)
    assert released.claim_token is None and released.lease_until is None


def test_a_lease_shorter_than_one_send_is_refused_before_claiming(app, sms, queue, monkeypatch):
    monkeypatch.setitem(app.config, "SMS_LEASE_SECONDS", 10)  # less than 5 + 10 + 5 s
    row_id = queue()
    with pytest.raises(RuntimeError, match="DOORSTEP_SMS_LEASE_SECONDS"):
        dispatch(app, now=NOON)
    assert row(app, row_id).status == "pending"


def test_one_time_codes_are_never_dispatched_and_a_failed_one_dies(app, sms, queue):
    pending = queue(kind="otp", params={"minutes": 5})
    with app.app_context():
        db.session.execute(sa.update(Notification).where(Notification.id == pending).values(status="failed"))
        db.session.commit()
    result = dispatch(app, now=NOON)
    assert result["claimed"] == 0 and sms.calls == []
    assert row(app, pending).status == "dead"  # the code is gone; the citizen asks for another


# --- quiet hours, opt-outs, rate limit -----------------------------------------------------


def test_at_ten_in_the_evening_a_notice_waits_until_eight(app, sms, queue):
    row_id = queue(due_at=local(21, 55))
    result = dispatch(app, now=local(22))
    assert result["deferred_quiet"] == 1 and sms.calls == []
    waiting = row(app, row_id)
    assert (waiting.status, waiting.skip_reason) == ("pending", "quiet-hours")
    assert waiting.next_attempt_at == local(8, day=24)
    assert dispatch(app, now=local(7, 59, day=24))["claimed"] == 0
    assert dispatch(app, now=local(8, day=24))["sent"] == 1
    assert row(app, row_id).skip_reason is None


def test_one_time_codes_ignore_quiet_hours(app, client, monkeypatch):
    """At 22:00 a citizen signing in still gets a code: the code path never waits."""
    with app.app_context():
        assert dispatcher.quiet_until("otp", local(22)) is None
        assert dispatcher.quiet_until("visit_reminder", local(22)) == local(8, day=24)
    monkeypatch.setitem(app.config, "QUIET_HOURS", "00:00-23:59")  # quiet whenever this test runs
    assert client.post("/api/v1/auth/otp", json={"phone": mobile()}).status_code == 202
    (otp,) = rows(app)
    assert otp.status == "sent"


def test_an_opted_out_number_is_skipped_with_the_reason_on_the_row(app, sms, queue):
    opted, other = mobile(), mobile()
    with app.app_context():
        db.session.add(SmsOptOut(phone_bidx=pii.blind_index(pii.PHONE, opted), source="citizen"))
        db.session.commit()
    skipped, sent = queue(opted), queue(other)
    result = dispatch(app, now=NOON)
    assert (result["skipped"], result["sent"]) == (1, 1)
    assert [c[0] for c in sms.calls] == [other]
    row_skipped = row(app, skipped)
    assert (row_skipped.status, row_skipped.skip_reason, row_skipped.attempts) == ("skipped", "opted-out", 0)
    assert row(app, sent).status == "sent"
    assert dispatch(app, now=NOON + timedelta(days=1))["claimed"] == 0


def test_a_recipient_gets_at_most_the_hourly_limit_and_the_rest_wait(app, sms, queue, monkeypatch):
    monkeypatch.setitem(app.config, "SMS_PER_RECIPIENT_PER_HOUR", 3)
    phone, other = mobile(), mobile()
    queue(phone, kind="otp", params={"minutes": 5})  # one-time codes do not count
    ids = [queue(phone, due_at=NOON - timedelta(minutes=10 - i)) for i in range(5)]
    queue(other)
    result = dispatch(app, now=NOON)
    assert (result["sent"], result["deferred_rate"]) == (4, 2)
    assert sorted(c[0] for c in sms.calls).count(phone) == 3
    waiting = [row(app, i) for i in ids[3:]]
    assert {(w.status, w.skip_reason, w.attempts) for w in waiting} == {("pending", "rate-limited", 0)}
    assert {w.next_attempt_at for w in waiting} == {NOON + timedelta(hours=1)}
    assert dispatch(app, now=NOON + timedelta(minutes=59))["claimed"] == 0
    assert dispatch(app, now=NOON + timedelta(hours=1))["sent"] == 2


def test_the_limit_counts_messages_sent_earlier(app, sms, queue, monkeypatch):
    monkeypatch.setitem(app.config, "SMS_PER_RECIPIENT_PER_HOUR", 2)
    phone = mobile()
    queue(phone, due_at=NOON - timedelta(minutes=30))
    dispatch(app, now=NOON - timedelta(minutes=20))
    queue(phone)
    queue(phone)
    result = dispatch(app, now=NOON)
    assert (result["sent"], result["deferred_rate"]) == (1, 1)
    waiting = next(r for r in rows(app) if r.status == "pending")
    assert waiting.next_attempt_at == NOON + timedelta(minutes=40)  # when the first one leaves the hour


# --- concurrency ---------------------------------------------------------------------------


def test_two_dispatchers_at_once_never_send_a_row_twice(app, sms, queue):
    """On PostgreSQL the two claim different rows at the same time (SKIP LOCKED); on SQLite their
    claims take turns (BEGIN IMMEDIATE). Either way every row is sent exactly once."""
    ids = {str(queue(mobile())) for _ in range(30)}
    errors, barrier, sent_by = [], threading.Barrier(2), []
    # Each dispatcher's first send waits for the other's: both hold a claim at once, so both
    # take part however the threads are scheduled.
    rendezvous, first_sends = threading.Barrier(2), set()

    def first_send_waits_for_the_other():
        if threading.get_ident() not in first_sends:
            first_sends.add(threading.get_ident())
            rendezvous.wait(timeout=30)

    sms.on_send = first_send_waits_for_the_other

    def worker():
        try:
            barrier.wait()
            sent = 0
            with app.app_context():
                while (result := dispatch_due(batch=4, now=NOON))["claimed"]:
                    sent += result["sent"]
                db.session.remove()
            sent_by.append(sent)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(sms.refs) == sorted(ids)  # each once, none missing
    assert sorted(sent_by)[0] > 0 and sum(sent_by) == 30  # both took part
    assert {r.status for r in rows(app)} == {"sent"}
