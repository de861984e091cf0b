"""Console sessions: the cookie's flags, a new id at every log-in, the idle timeout and the absolute
lifetime, logout that really ends the session, and the audit trail of each log-in."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from app import clock
from app.extensions import db
from tests.app.web.helpers import cookie, log_in, session_token


def _sessions(app) -> int:
    with app.app_context():
        return db.session.execute(sa.text("SELECT count(*) FROM console_session")).scalar_one()


def _audit(app, action: str) -> list:
    with app.app_context():
        from app.audit.models import AuditEvent

        return db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == action)).scalars().all()


def test_log_in_opens_a_session_with_a_strict_http_only_cookie(client, app, world):
    resp = log_in(client, world.staff[0])
    assert resp.status_code == 302 and resp.headers["Location"] == "/console/"
    set_cookie = next(h for h in resp.headers.getlist("Set-Cookie") if h.startswith("doorstep="))
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie and "Path=/" in set_cookie
    assert "Secure" not in set_cookie  # tests run as development does, over plain HTTP
    assert "Max-Age" not in set_cookie and "Expires" not in set_cookie  # gone when the browser closes
    page = client.get("/console/")
    assert page.status_code == 200 and "今日" in page.get_data(as_text=True)
    assert _sessions(app) == 1


def test_outside_development_the_cookie_is_secure_and_host_only(app):
    from app.web import sessions

    with app.test_request_context("/console/login"):
        app.config["ENV"] = "production"
        try:
            assert sessions.cookie_secure() and sessions.cookie_name() == "__Host-doorstep"
        finally:
            app.config["ENV"] = "test"
        assert not sessions.cookie_secure() and sessions.cookie_name() == "doorstep"


def test_log_in_issues_a_new_session_id_whatever_the_browser_brought(client, app, world):
    """Session fixation: an id planted before log-in, or a live one from an earlier log-in, is
    never the id of the new session (and the earlier session is ended)."""
    from tests.app.web.helpers import form_token

    page = client.get("/console/login")
    token, nonce = form_token(page.get_data(as_text=True)), client.get_cookie("doorstep-login").value
    form = {"csrf_token": token, "username": world.staff[0].username, "password": world.staff[0].password}
    client.set_cookie("doorstep", "planted-by-an-attacker")
    assert client.post("/console/login", data=form).status_code == 302
    first = cookie(client).value
    assert first != "planted-by-an-attacker"
    client.set_cookie("doorstep-login", nonce)  # the same log-in form, submitted again while logged in
    assert client.post("/console/login", data=form).status_code == 302
    second = cookie(client).value
    assert second != first
    assert _sessions(app) == 1  # the earlier session was ended, not left behind
    other = app.test_client()
    other.set_cookie("doorstep", first)
    assert other.get("/console/").status_code == 302


def test_a_session_ends_after_the_idle_timeout(client, app, world, time_machine):
    time_machine.move_to(clock.now(), tick=False)
    log_in(client, world.staff[0])
    time_machine.shift(timedelta(minutes=29))
    assert client.get("/console/").status_code == 200  # a request moves the deadline on
    time_machine.shift(timedelta(minutes=29))
    assert client.get("/console/").status_code == 200
    time_machine.shift(timedelta(minutes=30))
    resp = client.get("/console/")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/console/login")
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "会话已结束，请重新登录。" in page


def test_the_idle_timeout_is_configurable(client, app, world, time_machine):
    time_machine.move_to(clock.now(), tick=False)
    app.config["CONSOLE_IDLE_MINUTES"] = 5
    try:
        log_in(client, world.staff[0])
        time_machine.shift(timedelta(minutes=6))
        assert client.get("/console/").status_code == 302
    finally:
        app.config["CONSOLE_IDLE_MINUTES"] = 30


def test_a_busy_session_still_ends_at_its_absolute_lifetime(client, app, world, time_machine):
    time_machine.move_to(clock.now(), tick=False)
    log_in(client, world.staff[0])
    for _ in range(11 * 3):  # a request every 20 minutes for 11 hours
        time_machine.shift(timedelta(minutes=20))
        assert client.get("/console/").status_code == 200
    time_machine.shift(timedelta(minutes=61))
    assert client.get("/console/").status_code == 302


def test_log_out_deletes_the_session_and_is_audited(client, app, world):
    log_in(client, world.staff[0])
    stolen = cookie(client).value
    resp = client.post("/console/logout", data={"csrf_token": session_token(client)})
    assert resp.status_code == 302 and resp.headers["Location"] == "/console/login?bye=1"
    assert _sessions(app) == 0
    assert "您已退出登录。" in client.get("/console/login?bye=1").get_data(as_text=True)
    replay = app.test_client()
    replay.set_cookie("doorstep", stolen)
    assert replay.get("/console/").status_code == 302  # the copied cookie opens nothing
    [event] = _audit(app, "auth.logout")
    assert str(event.actor_id) == str(world.staff[0].id) and event.after == {"channel": "console"}


def test_log_in_is_audited_as_the_api_audits_it(client, app, world):
    log_in(client, world.staff[0])
    [event] = _audit(app, "auth.login")
    assert str(event.entity_id) == str(world.staff[0].id) and event.actor_role == "staff"
    assert event.after == {"channel": "console"}
    assert event.client_addr == "127.0.0.1"


def test_a_wrong_password_is_refused_audited_and_counted(client, app, world):
    resp = log_in(client, world.staff[0], "not the password")
    assert resp.status_code == 401
    assert "用户名或密码错误。" in resp.get_data(as_text=True)
    assert cookie(client) is None and _sessions(app) == 0
    assert len(_audit(app, "auth.login_failed")) == 1


def test_the_api_lock_out_holds_for_the_console(client, app, world, time_machine):
    """Ten wrong passwords lock the account for the console as for the API (one shared counter)."""
    time_machine.move_to(clock.now(), tick=False)
    staff = world.staff[0]
    for i in range(1, app.config["LOGIN_LOCK_AFTER"] + 1):
        assert log_in(client, staff, "wrong password").status_code == 401
        time_machine.shift(timedelta(seconds=2 ** max(0, i - 2)))  # past each slow-down, within the window
    resp = log_in(client, staff)  # the right password, too late
    assert resp.status_code == 429
    assert "登录失败次数过多" in resp.get_data(as_text=True)
    api = client.post("/api/v1/auth/login", json={"username": staff.username, "password": staff.password})
    assert api.status_code == 429
    assert _sessions(app) == 0


def test_officers_auxiliaries_and_citizens_are_refused_with_a_reason(client, app, world):
    for user in (world.officer[0], world.auxiliary[0]):
        resp = log_in(client, user)
        assert resp.status_code == 403
        assert "此账号不能登录派出所工作台" in resp.get_data(as_text=True)
    refused = _audit(app, "auth.login_failed")
    assert [e.after["reason"] for e in refused] == ["role may not use the console"] * 2
    assert _sessions(app) == 0 and _audit(app, "auth.login") == []


def test_an_inactive_account_is_refused_and_its_open_session_ends(client, app, world, make):
    log_in(client, world.staff[0])
    with app.app_context():
        from app.org.models import User

        db.session.get(User, world.staff[0].id).active = False
        db.session.commit()
    assert client.get("/console/").status_code == 302
    assert log_in(client, world.staff[0]).status_code == 401


def test_the_bearer_token_of_the_api_opens_no_console_page(client, make, world):
    resp = client.get("/console/", headers=make.auth(world.staff[0]))
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/console/login")


def test_after_log_in_the_clerk_returns_to_the_page_asked_for_but_never_off_site(app, world):
    from tests.app.web.helpers import form_token

    staff = world.staff[0]
    for asked, lands in (
        ("/console/", "/console/"),
        ("https://evil.example/", "/console/"),
        ("//evil.example/x", "/console/"),
        ("/api/v1/me", "/console/"),
    ):
        client = app.test_client()
        page = client.get("/console/login", query_string={"next": asked}).get_data(as_text=True)
        resp = client.post(
            "/console/login",
            data={
                "csrf_token": form_token(page),
                "username": staff.username,
                "password": staff.password,
                "next": asked,
            },
        )
        assert resp.headers["Location"] == lands, asked
