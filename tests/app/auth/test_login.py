"""Password log-in: the token pair, one answer for every wrong credential, slow-down, lock-out
and the per-address limit, all counted in the database."""

from __future__ import annotations

import jwt
import sqlalchemy as sa

from app.audit.models import AuditEvent
from app.auth.models import Throttle
from app.auth.services import login_account_key, login_address_key
from app.extensions import db
from tests.app.auth.helpers import age_throttle, bearer, in_parallel, retry_after, throttle_rows
from tests.factories import PASSWORD
from tests.problems import assert_problem
from tests.queries import statements

LOGIN = "/api/v1/auth/login"


def login(client, username, password=PASSWORD, **extra):
    return client.post(LOGIN, json={"username": username, "password": password, **extra})


def fail(client, username):
    r = login(client, username, "wrong password!")
    assert_problem(r, 401, "invalid-credentials")
    return r


def audit_actions(app, action=None):
    with app.app_context():
        query = sa.select(AuditEvent).order_by(AuditEvent.id)
        if action:
            query = query.where(AuditEvent.action == action)
        return [(e.action, e.entity_id, e.after) for e in db.session.execute(query).scalars()]


# --- success ----------------------------------------------------------------------------


def test_login_returns_a_bearer_pair(app, client, world):
    for role in ("admin", "staff", "officer", "auxiliary"):
        user = world.user(role)
        r = login(client, user.username)
        assert r.status_code == 200, (role, r.json)
        body = r.json
        assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
        assert body["token_type"] == "Bearer" and body["expires_in"] == 900
        assert body["refresh_token"] != body["access_token"] and "." not in body["refresh_token"]
        assert "password" not in r.get_data(as_text=True)
        me = client.get("/api/v1/me", headers=bearer(body["access_token"]))
        assert me.status_code == 200 and me.json["id"] == str(user.id)
        claims = jwt.decode(body["access_token"], options={"verify_signature": False})
        assert claims["role"] == role and "dev" not in claims
        assert ("auth.login", str(user.id), None) in audit_actions(app, "auth.login")


def test_username_is_case_insensitive(client, world):
    assert login(client, world.staff[0].username.upper()).status_code == 200


# --- one answer for every wrong credential ------------------------------------------------


def test_wrong_password_and_unknown_user_get_the_same_answer(client, world):
    wrong = fail(client, world.staff[0].username).json
    unknown = fail(client, "nobody-at-all").json
    assert wrong == unknown


def test_inactive_account_gets_the_same_answer_even_with_the_right_password(app, client, make, world):
    username = make.user("officer", world.stations[0], active=False).username
    assert_problem(login(client, username), 401, "invalid-credentials")
    assert audit_actions(app, "auth.login_failed")


def test_malformed_login_is_422_naming_the_field(client, world):
    for body, field in (
        ({"password": PASSWORD}, "username"),
        ({"username": "x"}, "password"),
        ({"username": "x", "password": PASSWORD, "device_id": "not-a-uuid"}, "device_id"),
        ({"username": "x", "password": PASSWORD, "role": "admin"}, "role"),
        ({"username": "x" * 65, "password": PASSWORD}, "username"),
    ):
        assert_problem(client.post(LOGIN, json=body), 422, field=field, case=body)


def test_login_failures_are_audited(app, client, world):
    staff = world.staff[0]
    fail(client, staff.username)
    fail(client, "ghost")
    events = audit_actions(app, "auth.login_failed")
    assert ("auth.login_failed", str(staff.id), {"username": staff.username}) in events
    assert ("auth.login_failed", None, {"username": "ghost"}) in events
    with app.app_context():
        row = (
            db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "auth.login_failed")).scalars().first()
        )
        assert row.client_addr == "127.0.0.1" and row.request_id
        assert PASSWORD not in str(row.after) and "wrong password" not in str(row.after)


# --- slow-down and lock-out -----------------------------------------------------------------


def test_slow_down_after_three_failures(app, client, world):
    username = world.officer[0].username
    for _ in range(3):
        fail(client, username)
    r = login(client, username)  # the right password, but inside the back-off
    body = assert_problem(r, 429, "too-many-requests")
    assert retry_after(r) == 1 and body["retry_after"] == 1
    age_throttle(app, 1.5)
    fail(client, username)  # 4th failure counted; the back-off now doubles
    r = login(client, username)
    assert_problem(r, 429)
    assert retry_after(r) == 2
    assert login(client, username).status_code == 429


def test_a_client_that_obeys_retry_after_gets_in(app, client, world):
    username = world.officer[0].username
    for _ in range(3):
        fail(client, username)
    for _ in range(4):
        r = login(client, username)
        assert_problem(r, 429)
        age_throttle(app, retry_after(r))  # exactly as long as we were told, not a second more
        fail(client, username)  # a 401 again, not another 429
    r = login(client, username)
    assert_problem(r, 429)
    assert retry_after(r) == 2**4
    age_throttle(app, retry_after(r))
    assert login(client, username).status_code == 200


def test_lock_after_ten_failures_for_fifteen_minutes(app, client, world):
    username = world.officer[0].username
    for _ in range(10):
        fail(client, username)
        age_throttle(app, 300)  # always past the back-off (at most 2**6 s here), within the window
    r = login(client, username)
    assert_problem(r, 429, "too-many-requests")
    assert 14 * 60 < retry_after(r) <= 15 * 60
    with app.app_context():
        row = db.session.get(Throttle, login_account_key(username))
        assert row.count == 10 and row.locked_until is not None

    age_throttle(app, 14 * 60, "last_at", "window_started_at", "locked_until")
    assert_problem(login(client, username), 429)  # still locked with a minute to go
    age_throttle(app, 61, "last_at", "window_started_at", "locked_until")
    r = login(client, username)
    assert r.status_code == 200, r.json
    assert login_account_key(username) not in throttle_rows(app)


def test_lock_does_not_spill_to_other_accounts(app, client, world):
    for _ in range(10):
        fail(client, world.officer[0].username)
        age_throttle(app, 300)
    assert_problem(login(client, world.officer[0].username), 429)
    assert login(client, world.officer[1].username).status_code == 200


def test_throttle_key_ignores_username_case(app, client, world):
    username = world.officer[0].username
    for variant in (username, username.upper(), username.title()):
        fail(client, variant)
    assert_problem(login(client, username.upper()), 429)


def test_successful_login_resets_the_account_counter(app, client, world):
    username = world.staff[0].username
    for _ in range(3):
        fail(client, username)
    age_throttle(app, 2)
    assert login(client, username).status_code == 200
    assert login_account_key(username) not in throttle_rows(app)
    for _ in range(3):
        fail(client, username)  # three fresh failures: no back-off yet
    assert_problem(login(client, username), 429)


def test_per_address_limit_spans_accounts(app, client, world):
    limit = app.config["LOGIN_ADDRESS_LOCK_AFTER"]
    assert limit == 50
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "203.0.113.7"
    for i in range(limit):
        r = attacker.post(LOGIN, json={"username": f"guess{i}", "password": "wrong password!"})
        assert_problem(r, 401, "invalid-credentials")
    r = attacker.post(LOGIN, json={"username": world.staff[0].username, "password": PASSWORD})
    assert_problem(r, 429, "too-many-requests")
    assert 14 * 60 < retry_after(r) <= 15 * 60
    # The account itself was never attacked: from another address it works.
    assert login(client, world.staff[0].username).status_code == 200
    assert throttle_rows(app)[login_address_key("203.0.113.7")] == limit


def test_per_address_limit_with_a_lowered_setting(app, client, world):
    saved = app.config["LOGIN_ADDRESS_LOCK_AFTER"]
    app.config["LOGIN_ADDRESS_LOCK_AFTER"] = 4
    try:
        for i in range(4):
            fail(client, f"spray{i}")
        assert_problem(login(client, world.staff[0].username), 429)
        age_throttle(app, 15 * 60 + 1, "last_at", "window_started_at", "locked_until")
        assert login(client, world.staff[0].username).status_code == 200
    finally:
        app.config["LOGIN_ADDRESS_LOCK_AFTER"] = saved


def test_good_logins_do_not_use_up_the_address_budget(app, client, world):
    saved = app.config["LOGIN_ADDRESS_LOCK_AFTER"]
    app.config["LOGIN_ADDRESS_LOCK_AFTER"] = 3
    try:
        for _ in range(6):  # an office of colleagues behind one address
            assert login(client, world.staff[0].username).status_code == 200
            assert login(client, world.officer[0].username).status_code == 200
    finally:
        app.config["LOGIN_ADDRESS_LOCK_AFTER"] = saved


def test_parallel_guesses_cannot_slip_past_the_back_off(app, world):
    username = world.officer[0].username
    results = in_parallel(
        app, 8, lambda c, i: c.post(LOGIN, json={"username": username, "password": f"wrong {i} password"})
    )
    statuses = sorted(r.status_code for r in results)
    # Three counted failures may go straight through; the rest wait behind the back-off.
    assert statuses.count(401) <= 4 and statuses.count(401) + statuses.count(429) == 8, statuses
    assert throttle_rows(app)[login_account_key(username)] == statuses.count(401)


def test_picking_the_wrong_tablet_is_not_a_password_guess(app, client, make, world):
    """A right password refused only for the device (another station's tablet) must not push the
    officer towards the lock-out."""
    officer = world.officer[0]
    foreign = make.device(world.stations[1])
    for _ in range(app.config["LOGIN_SLOWDOWN_AFTER"] + 2):
        resp = client.post(
            "/api/v1/auth/login",
            json={"username": officer.username, "password": PASSWORD, "device_id": str(foreign.id)},
        )
        assert resp.status_code == 422 and "device_id" in resp.json["errors"]
    assert login_account_key(officer.username) not in throttle_rows(app)
    ok = client.post("/api/v1/auth/login", json={"username": officer.username, "password": PASSWORD})
    assert ok.status_code == 200


def test_a_refusal_of_the_limiter_is_not_counted_against_the_address(app, client, world):
    """A colleague retrying a locked-out account from the station's one address (NAT) must not
    use up the address's budget: only real failures count, and per account and per address apart."""
    saved = app.config["LOGIN_ADDRESS_LOCK_AFTER"]
    app.config["LOGIN_ADDRESS_LOCK_AFTER"] = 6
    try:
        username = world.officer[0].username
        for _ in range(3):
            fail(client, username)
        for _ in range(10):  # inside the back-off: refused by the limiter, never counted
            assert_problem(login(client, username), 429)
        address = throttle_rows(app)[login_address_key("127.0.0.1")]
        assert address == 3
        assert login(client, world.staff[0].username).status_code == 200  # the station still gets in
    finally:
        app.config["LOGIN_ADDRESS_LOCK_AFTER"] = saved


def test_the_password_is_checked_outside_any_transaction(client, world, monkeypatch):
    """Argon2id takes about 100 ms: run inside a transaction it would hold SQLite's write lock (or
    PostgreSQL's row locks) and stall every other writer for that long."""
    from app.auth import services

    seen: list[bool] = []
    real = services.verify_password

    def spy(stored, password):
        seen.append(db.session().in_transaction())
        return real(stored, password)

    monkeypatch.setattr(services, "verify_password", spy)
    assert login(client, world.staff[0].username).status_code == 200
    assert_problem(login(client, world.staff[0].username, "wrong password!"), 401, "invalid-credentials")
    assert_problem(login(client, "nobody-at-all"), 401, "invalid-credentials")
    assert seen == [False, False, False]


def test_a_tablet_log_in_verifies_the_password_once_in_a_few_statements(app, client, make, world, monkeypatch):
    """One Argon2id verification a log-in, none for the device; the statements counted so that a
    read or write added to every log-in shows (on SQLite each transaction's BEGIN is one)."""
    from app.auth import passwords, services

    officer, device = world.officer[0], make.device(world.stations[0])
    body = {"username": officer.username, "password": PASSWORD, "device_id": str(device.id)}
    assert client.post(LOGIN, json=body).status_code == 200  # the throttle rows exist from here on
    verified, hashed = [], []
    monkeypatch.setattr(services, "verify_password", lambda *a: verified.append(a) or passwords.verify_password(*a))
    monkeypatch.setattr(passwords, "hash_password", lambda *a: hashed.append(a))
    with statements(app) as sent:
        resp = client.post(LOGIN, json=body)
    assert resp.status_code == 200 and resp.json["device_credential"]
    assert (len(verified), hashed) == (1, [])
    # three transactions: the attempt counted, the throttle cleared, the tokens and the audit
    with app.app_context():
        dialect = db.engine.dialect.name
    assert len(sent) == {"sqlite": 18, "postgresql": 15}[dialect], sent
