"""Journey 2, log in by SMS code: the API's OTP flow behind a citizen cookie session (HttpOnly,
SameSite, CSRF on every form); refusals in words; the console's and the H5's cookies apart."""

from __future__ import annotations

import re

from tests.factories import mobile

ZH = {"Accept-Language": "zh-CN"}


def _csrf(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def _ask_code(client, phone: str):
    token = _csrf(client.get("/m/login", headers=ZH))
    return client.post("/m/login/code", data={"phone": phone, "csrf_token": token}, headers=ZH)


def log_in(client, sms, phone: str, page=None):
    page = page or _ask_code(client, phone)
    assert page.status_code == 200, page.get_data(as_text=True)
    return client.post(
        "/m/login", data={"phone": phone, "code": sms.last_code(phone), "csrf_token": _csrf(page)}, headers=ZH
    )


def test_a_citizen_logs_in_by_code_into_an_httponly_lax_cookie(client, sms):
    phone = mobile()
    asked = _ask_code(client, phone)
    assert "验证码已发送" in asked.get_data(as_text=True)
    done = log_in(client, sms, phone, asked)
    assert done.status_code == 302 and done.headers["Location"].endswith("/m/me")
    cookie = next(c for c in done.headers.getlist("Set-Cookie") if c.startswith("doorstep-citizen="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    me = client.get("/m/me", headers=ZH).get_data(as_text=True)
    assert f"{phone[:3]}****{phone[-4:]}" in me and phone not in me


def test_a_page_for_citizens_sends_a_stranger_to_log_in_and_back(client):
    page = client.get("/m/me")
    assert page.status_code == 302 and "/m/login?next=/m/me" in page.headers["Location"]


def test_a_wrong_code_is_refused_in_words_and_no_session_opens(client, sms):
    phone = mobile()
    page = _ask_code(client, phone)
    code = sms.last_code(phone)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    refused = client.post("/m/login", data={"phone": phone, "code": wrong, "csrf_token": _csrf(page)}, headers=ZH)
    assert refused.status_code == 401
    assert "验证码" in refused.get_data(as_text=True)
    assert client.get("/m/me").status_code == 302


def test_asking_again_too_soon_is_refused_in_minutes(client, sms):
    phone = mobile()
    _ask_code(client, phone)
    again = _ask_code(client, phone)
    assert again.status_code == 429
    assert "分钟后再试" in again.get_data(as_text=True)


def test_a_bad_number_is_named_in_words(client):
    page = _ask_code(client, "12345")
    assert page.status_code == 422
    assert "手机号" in page.get_data(as_text=True)


def test_a_form_without_its_token_changes_nothing(client, sms):
    phone = mobile()
    assert client.post("/m/login/code", data={"phone": phone}).status_code == 400
    assert sms.messages() == []
    log_in(client, sms, phone)
    assert client.post("/m/logout", data={"csrf_token": "forged"}).status_code == 403
    assert client.get("/m/me").status_code == 200


def test_log_out_ends_the_session(client, sms):
    log_in(client, sms, mobile())
    token = _csrf(client.get("/m/me"))
    assert client.post("/m/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/m/me").status_code == 302


def test_the_citizens_cookie_opens_no_console_page(client, sms):
    log_in(client, sms, mobile())
    assert client.get("/console/").status_code == 302  # to the console's log-in


def test_an_expired_form_is_refused_with_a_page_in_words(client):
    refused = client.post("/m/login/code", data={"phone": mobile(), "csrf_token": "stale"}, headers=ZH)
    assert refused.status_code == 403
    assert refused.mimetype == "text/html"
    assert "请刷新页面后重新提交" in refused.get_data(as_text=True)
