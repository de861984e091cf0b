"""Citizen sign-in by SMS code: the code reaches only the phone, works once, resists guessing
(also in parallel), expires, is superseded by a newer one and cannot be requested in bulk."""

from __future__ import annotations

import re

import sqlalchemy as sa

from app.auth.models import OtpChallenge, Throttle
from app.extensions import db
from app.notify.models import Notification
from app.org.models import User
from tests.app.auth.helpers import age_throttle, bearer, in_parallel, retry_after, shift_back
from tests.factories import mobile
from tests.problems import assert_problem

OTP, VERIFY, ME = "/api/v1/auth/otp", "/api/v1/auth/otp/verify", "/api/v1/me"


def ask(client, phone, **extra):
    return client.post(OTP, json={"phone": phone, **extra})


def verify(client, phone, code):
    return client.post(VERIFY, json={"phone": phone, "code": code})


def sent_code(client, sms, phone, normalized=None) -> str:
    r = ask(client, phone)
    assert r.status_code == 202, r.json
    assert r.json == {"expires_in": 300}
    code = sms.last_code(normalized or phone)
    assert code not in r.get_data(as_text=True)
    return code


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_code_by_sms_signs_in_and_creates_the_citizen_once(app, client, sms):
    phone = mobile()
    code = sent_code(client, sms, phone)
    r = verify(client, phone, code)
    assert r.status_code == 200, r.json
    assert r.json["token_type"] == "Bearer" and r.json["expires_in"] == 900
    assert code not in r.get_data(as_text=True)
    me = client.get(ME, headers=bearer(r.json["access_token"])).json
    assert me["role"] == "citizen" and me["station_id"] is None
    assert me["phone"] == f"{phone[:3]}****{phone[-4:]}"

    age_throttle(app, 61)
    r2 = verify(client, phone, sent_code(client, sms, phone))
    assert r2.status_code == 200, r2.json
    assert client.get(ME, headers=bearer(r2.json["access_token"])).json["id"] == me["id"]
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).where(User.role == "citizen")).scalar() == 1


def test_phone_is_normalised_so_formats_reach_one_account(app, client, sms):
    phone = mobile()
    code = sent_code(client, sms, f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}", phone)
    r = verify(client, f"0086{phone}", code)
    assert r.status_code == 200, r.json
    assert client.get(ME, headers=bearer(r.json["access_token"])).json["phone"].endswith(phone[-4:])


def test_an_existing_citizen_signs_into_the_same_account(client, sms, world):
    phone = world.citizen.phone
    r = verify(client, phone, sent_code(client, sms, phone))
    assert client.get(ME, headers=bearer(r.json["access_token"])).json["id"] == str(world.citizen.id)


def test_staff_phone_does_not_open_the_staff_account(client, sms, world):
    phone = world.staff[0].phone
    r = verify(client, phone, sent_code(client, sms, phone))
    me = client.get(ME, headers=bearer(r.json["access_token"])).json
    assert me["role"] == "citizen" and me["id"] != str(world.staff[0].id)


def test_disabled_citizen_is_refused(app, client, make, sms):
    phone = mobile()
    make.user("citizen", phone=phone, active=False)
    assert_problem(verify(client, phone, sent_code(client, sms, phone)), 401)


def test_a_code_works_once(client, sms):
    phone = mobile()
    code = sent_code(client, sms, phone)
    assert verify(client, phone, code).status_code == 200
    assert_problem(verify(client, phone, code), 401, "otp-invalid")


def test_a_code_is_bound_to_its_phone(client, sms):
    phone, other = mobile(), mobile()
    code = sent_code(client, sms, phone)
    assert_problem(verify(client, other, code), 401, "otp-invalid")
    assert verify(client, phone, code).status_code == 200


def test_the_code_never_appears_in_responses_or_the_outbox(app, client, sms):
    phone = mobile()
    r = ask(client, phone, locale="en")
    code = sms.last_code(phone)
    assert "Your code is" in sms.messages()[-1]
    assert phone not in sms.messages()[-1]  # the log line masks the number
    bad = verify(client, phone, wrong(code))
    good = verify(client, phone, code)
    for resp in (r, bad, good):
        assert code not in resp.get_data(as_text=True)
    with app.app_context():
        rows = db.session.execute(sa.select(Notification)).scalars().all()
        assert len(rows) == 1
        row = rows[0]
        assert row.kind == "otp" and row.template == "otp" and row.locale == "en"
        assert row.status == "sent" and row.sent_at is not None and row.sender == "console"
        assert row.params == {"minutes": 5}
        assert code not in str(row.params) and code not in str(row.last_error or "")
        assert phone not in (row.recipient_phone_enc or "")
        challenge = db.session.execute(sa.select(OtpChallenge)).scalar_one()
        assert code not in challenge.code_hash


def test_bad_phone_is_422_naming_phone(client, sms):
    for phone in (
        "12345",
        "23812345678",
        "1381234567",
        "138123456789",
        "+1 415 555 0100",
        "",
        "１３８１２３４５６７８",
        "13８12345678",
        "1381234567٨",
    ):
        assert_problem(ask(client, phone), 422, field="phone", case=phone)
        assert_problem(verify(client, phone, "123456"), 422, field="phone", case=phone)
    assert sms.messages() == []


def test_malformed_otp_request_is_422_naming_the_field(client):
    for body, field in (
        ({}, "phone"),
        ({"phone": 13812345678}, "phone"),
        ({"phone": "13812345678", "locale": "fr"}, "locale"),
        ({"phone": "13812345678", "extra": 1}, "extra"),
    ):
        assert_problem(client.post(OTP, json=body), 422, field=field, case=body)


def test_malformed_code_is_422_naming_code(client):
    for code in ("12345", "1234567", "abcdef", "12 456", "", "１２３４５６", 123456):
        assert_problem(verify(client, mobile(), code), 422, field="code", case=code)


def test_verify_without_a_challenge_is_refused(client):
    assert_problem(verify(client, mobile(), "123456"), 401, "otp-invalid")


def test_five_wrong_codes_burn_the_challenge(app, client, sms):
    phone = mobile()
    code = sent_code(client, sms, phone)
    for i in range(5):
        assert_problem(verify(client, phone, f"{(int(code) + 1 + i) % 10**6:06d}"), 401, "otp-invalid")
    assert_problem(verify(client, phone, code), 401, "otp-invalid")  # the right one, too late
    with app.app_context():
        assert db.session.execute(sa.select(OtpChallenge.attempts)).scalar_one() == 5


def test_parallel_wrong_guesses_share_one_budget(app, client, sms):
    phone = mobile()
    code = sent_code(client, sms, phone)
    guesses = [f"{(int(code) + 1 + i) % 10**6:06d}" for i in range(12)]
    results = in_parallel(app, 12, lambda c, i: verify(c, phone, guesses[i]))
    for r in results:
        assert_problem(r, 401, "otp-invalid")
    with app.app_context():
        assert db.session.execute(sa.select(OtpChallenge.attempts)).scalar_one() == 5
    assert_problem(verify(client, phone, code), 401, "otp-invalid")


def test_parallel_right_code_signs_in_once(app, client, sms):
    phone = mobile()
    code = sent_code(client, sms, phone)
    results = in_parallel(app, 6, lambda c, i: verify(c, phone, code))
    assert sorted(r.status_code for r in results) == [200] + [401] * 5
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).where(User.role == "citizen")).scalar() == 1


def test_an_expired_code_is_refused(app, client, sms):
    phone = mobile()
    code = sent_code(client, sms, phone)
    shift_back(app, OtpChallenge, 301, "created_at", "expires_at")
    assert_problem(verify(client, phone, code), 401, "otp-invalid")


def test_a_code_just_inside_its_lifetime_works(app, client, sms):
    phone = mobile()
    code = sent_code(client, sms, phone)
    shift_back(app, OtpChallenge, 290, "created_at", "expires_at")
    assert verify(client, phone, code).status_code == 200


def test_a_new_code_supersedes_the_old_one(app, client, sms):
    phone = mobile()
    old = sent_code(client, sms, phone)
    age_throttle(app, 61)
    new = sent_code(client, sms, phone)
    if old != new:  # one chance in a million they coincide
        assert_problem(verify(client, phone, old), 401, "otp-invalid")
    assert verify(client, phone, new).status_code == 200
    if old != new:  # once the new code is used up, the old one must not come back to life
        assert_problem(verify(client, phone, old), 401, "otp-invalid")
    with app.app_context():
        assert all(c.consumed_at is not None for c in db.session.execute(sa.select(OtpChallenge)).scalars())


def test_guessing_across_fresh_codes_is_capped_by_the_hourly_limit(app, client, sms):
    # Each new code has a fresh budget of five, so the hourly limit caps guesses at 25 an hour.
    phone = mobile()
    for _ in range(5):
        sent_code(client, sms, phone)
        for i in range(5):
            verify(client, phone, f"{i:06d}")
        age_throttle(app, 61)
    r = ask(client, phone)
    assert_problem(r, 429, "too-many-requests")
    with app.app_context():
        assert sum(db.session.execute(sa.select(OtpChallenge.attempts)).scalars()) <= 25


def test_second_request_within_a_minute_is_429(app, client, sms):
    phone = mobile()
    sent_code(client, sms, phone)
    r = ask(client, phone)
    assert_problem(r, 429, "too-many-requests")
    assert 55 <= retry_after(r) <= 60
    assert len(sms.messages()) == 1
    age_throttle(app, retry_after(r))
    assert ask(client, phone).status_code == 202


def test_more_than_five_an_hour_is_429(app, client, sms):
    phone = mobile()
    for _ in range(5):
        sent_code(client, sms, phone)
        age_throttle(app, 61)
    r = ask(client, phone)
    assert_problem(r, 429, "too-many-requests")
    assert 3600 - 6 * 61 - 5 <= retry_after(r) <= 3600
    assert len(sms.messages()) == 5
    age_throttle(app, retry_after(r), "last_at", "window_started_at")
    assert ask(client, phone).status_code == 202


def test_rate_limit_is_per_phone_number_not_per_format(client, sms):
    phone = mobile()
    sent_code(client, sms, phone)
    assert_problem(ask(client, f"+86{phone}"), 429)
    assert_problem(ask(client, f"{phone[:3]}-{phone[3:7]}-{phone[7:]}"), 429)
    # Look-alike digits are not another number with its own budget (nor another account).
    lookalike = phone[:2] + chr(ord("０") + int(phone[2])) + phone[3:]
    assert_problem(ask(client, lookalike), 422, field="phone")


def test_per_address_limit(app, sms):
    limit = app.config["OTP_ADDRESS_PER_HOUR"]
    assert limit == 30
    sender = app.test_client()
    sender.environ_base["REMOTE_ADDR"] = "198.51.100.9"
    for _ in range(limit):
        assert ask(sender, mobile()).status_code == 202
    r = ask(sender, mobile())
    assert_problem(r, 429, "too-many-requests")
    retry_after(r)
    assert len(sms.messages()) == limit
    neighbour = app.test_client()
    neighbour.environ_base["REMOTE_ADDR"] = "198.51.100.10"
    assert ask(neighbour, mobile()).status_code == 202


def test_refused_requests_send_no_sms_and_create_no_challenge(app, client, sms):
    phone = mobile()
    sent_code(client, sms, phone)
    for _ in range(3):
        assert ask(client, phone).status_code == 429
    assert len(sms.messages()) == 1
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(OtpChallenge)).scalar() == 1
        assert db.session.execute(sa.select(sa.func.count()).select_from(Notification)).scalar() == 1
        keys = [t.key for t in db.session.execute(sa.select(Throttle)).scalars()]
        assert all(phone not in k for k in keys)  # counters are keyed by the blind index


def test_provider_failure_is_503_and_leaves_no_code_behind(app, client, monkeypatch):
    from app.notify import senders

    seen = []

    class Refusing:
        name = "refusing"

        def send_sms(self, phone, text):
            seen.append(text)
            raise senders.SendFailed("provider said no")

    monkeypatch.setitem(senders.SENDERS, "refusing", Refusing)
    monkeypatch.setitem(app.config, "SMS_SENDER", "refusing")
    phone = mobile()
    r = ask(client, phone)
    assert_problem(r, 503, "sms-unavailable")
    (text,) = seen
    code = re.search(r"\d{6}", text).group(0)
    assert code not in r.get_data(as_text=True)
    with app.app_context():
        row = db.session.execute(sa.select(Notification)).scalar_one()
        assert row.status == "failed" and row.last_error == "provider said no"
        assert code not in str(row.params)
