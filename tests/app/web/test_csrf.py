"""CSRF: every console request that is not a GET needs the session's token (form field or
htmx header); the log-in form needs its own. Refusals change nothing."""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from tests.app.web.helpers import log_in, session_token


def _sessions(app) -> int:
    with app.app_context():
        return db.session.execute(sa.text("SELECT count(*) FROM console_session")).scalar_one()


def _locale(app, user):
    with app.app_context():
        from app.org.models import User

        return db.session.get(User, user.id).locale


def test_a_post_without_a_token_is_refused_400_and_changes_nothing(client, app, world):
    log_in(client, world.staff[0])
    resp = client.post("/console/language", data={"locale": "en"})
    assert resp.status_code == 400
    body = resp.get_data(as_text=True)
    assert resp.mimetype == "text/html" and "表单缺少安全令牌" in body
    assert _locale(app, world.staff[0]) is None


def test_a_post_with_a_wrong_token_is_refused_403_and_changes_nothing(client, app, world):
    log_in(client, world.staff[0])
    resp = client.post("/console/logout", data={"csrf_token": "forged"})
    assert resp.status_code == 403 and "表单安全令牌错误或已过期" in resp.get_data(as_text=True)
    assert _sessions(app) == 1 and client.get("/console/").status_code == 200


def test_another_sessions_token_does_not_pass(client, app, world):
    other = app.test_client()
    log_in(other, world.staff[1])
    foreign = session_token(other)
    log_in(client, world.staff[0])
    assert client.post("/console/language", data={"locale": "en", "csrf_token": foreign}).status_code == 403


def test_htmx_sends_the_token_as_a_header(client, app, world):
    log_in(client, world.staff[0])
    page = client.get("/console/").get_data(as_text=True)
    token = session_token(client)
    assert f'hx-headers=\'{{"X-CSRF-Token": "{token}"}}\'' in page
    resp = client.post("/console/language", data={"locale": "en"}, headers={"X-CSRF-Token": token})
    assert resp.status_code == 302 and _locale(app, world.staff[0]) == "en"


def test_the_log_in_form_needs_its_own_token(client, app, world):
    staff = world.staff[0]
    resp = client.post("/console/login", data={"username": staff.username, "password": staff.password})
    assert resp.status_code == 400
    client.get("/console/login")  # a nonce cookie, but the token below is not its token
    resp = client.post(
        "/console/login", data={"username": staff.username, "password": staff.password, "csrf_token": "0" * 64}
    )
    assert resp.status_code == 403
    assert _sessions(app) == 0 and client.get_cookie("doorstep") is None
