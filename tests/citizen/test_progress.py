"""Journey 5, 进度查询: a reference (a booking's or an application's) and the SMS code sent to the
phone on file show the progress without an account; an unknown reference and a wrong code are
refused alike, nothing is told about which references exist, and nothing personal is shown."""

from __future__ import annotations

import re

from appointments.booking import reference as references
from tests.factories import mobile
from tests.field_api.delivery.test_deliveries import ALL
from tests.snapshots import BOOKKEEPING, changed_tables, database_state

ZH = {"Accept-Language": "zh-CN"}
# a wrong code is counted against the code it guessed: that count is the OTP's attempt limit
COUNTED = BOOKKEEPING | {"otp_challenge"}


def _csrf(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def _ask(client, reference: str):
    token = _csrf(client.get("/m/progress", headers=ZH))
    return client.post("/m/progress/code", data={"reference": reference, "csrf_token": token}, headers=ZH)


def _check(client, reference: str, code: str):
    token = _csrf(client.get("/m/progress", headers=ZH))
    return client.post("/m/progress", data={"reference": reference, "code": code, "csrf_token": token}, headers=ZH)


def _unknown_reference(app) -> str:
    """A well-formed reference with its check character that names nothing."""
    return references.display("ZZZZ2222")


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_a_booking_reference_and_the_code_show_its_progress(client, make, world, booker, sms):
    assert 'href="/m/progress"' in client.get("/m/", headers=ZH).get_data(as_text=True)
    phone = mobile()
    booking = booker.as_citizen(contact_phone=phone).json
    shown = references.display(booking["reference"])
    asked = _ask(client, shown.lower().replace("-", " "))  # as someone might type it
    assert asked.status_code == 200 and "验证码" in asked.get_data(as_text=True)
    page = _check(client, shown, sms.last_code(phone))
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert "待派民警" in html and "预约成功" in html and booking["reference"] in html.replace("-", "")
    assert "当前状态：<strong>待派民警</strong>" in html  # a Chinese colon, as the reader writes it
    for personal in (phone, phone[-4:], "北山街道", "李娜"):
        assert personal not in html
    # the code is the log-in's: used once
    again = _check(client, shown, sms.last_code(phone))
    assert again.status_code == 401 and "待派民警" not in again.get_data(as_text=True)


def test_an_application_reference_works_the_same_way(client, make, world, field, sms):
    phone = mobile()
    body, _ = field.matured_resident(phone=phone)
    application = field.apply(world.staff[0], identity_number=body["identity_number"], materials=ALL).json
    _ask(client, application["reference"])
    page = _check(client, application["reference"], sms.last_code(phone))
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert "已受理" in html and body["name"] not in html and body["identity_number"] not in html


def test_an_unknown_reference_and_a_wrong_code_are_refused_alike(app, client, booker, sms):
    phone = mobile()
    known = references.display(booker.as_citizen(contact_phone=phone).json["reference"])
    unknown = _unknown_reference(app)
    # asking: the same answer, and a text only to the phone on file
    asked_known, asked_unknown = _ask(client, known), _ask(client, unknown)
    assert asked_known.status_code == asked_unknown.status_code == 200
    strip = lambda resp, ref: resp.get_data(as_text=True).replace(ref, "REF")  # noqa: E731
    assert strip(asked_known, known) == strip(asked_unknown, unknown)
    assert len([m for m in sms.messages() if "****" in m]) == 1
    # checking: one refusal, word for word, for both; nothing kept but the counts of attempts
    code = sms.last_code(phone)
    before = database_state(app, exclude=COUNTED)
    wrong_code, no_such = _check(client, known, _wrong(code)), _check(client, unknown, code)
    assert wrong_code.status_code == no_such.status_code == 401
    assert strip(wrong_code, known) == strip(no_such, unknown)
    assert "编号或验证码不正确" in no_such.get_data(as_text=True)
    assert changed_tables(before, database_state(app, exclude=COUNTED)) == []
    # the right code still works after a wrong one
    assert _check(client, known, code).status_code == 200


def test_asking_again_is_limited_alike_for_known_and_unknown(app, client, booker, sms):
    known = references.display(booker.as_citizen().json["reference"])
    unknown = _unknown_reference(app)
    _ask(client, known), _ask(client, unknown)
    before = database_state(app)
    again_known, again_unknown = _ask(client, known), _ask(client, unknown)
    assert again_known.status_code == again_unknown.status_code == 429
    strip = lambda resp, ref: resp.get_data(as_text=True).replace(ref, "REF")  # noqa: E731
    assert strip(again_known, known) == strip(again_unknown, unknown) and "分钟后再试" in strip(again_known, known)
    assert changed_tables(before, database_state(app)) == []


def test_a_malformed_reference_is_said_and_a_form_needs_its_token(app, client, sms):
    before = database_state(app)
    good = references.with_check("ZZZZ2222")
    typo = _ask(client, good[:-1] + ("A" if good[-1] != "A" else "B"))  # a wrong check character
    assert typo.status_code == 422 and "请逐位核对" in typo.get_data(as_text=True)
    assert _ask(client, "").status_code == 422
    assert _ask(client, "7KQ-2MX-9PO").status_code == 422  # no O in a reference
    assert client.post("/m/progress/code", data={"reference": "ZZZZ2222"}).status_code == 400
    assert client.post("/m/progress", data={"reference": "ZZZZ2222", "code": "1", "csrf_token": "x"}).status_code == 403
    assert sms.messages() == []
    assert changed_tables(before, database_state(app)) == []
