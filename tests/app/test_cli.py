"""Operator commands, run the way ``flask --app wsgi <command>`` runs them."""

from __future__ import annotations

import re

import jwt
import pytest
import sqlalchemy as sa

from app.extensions import db


@pytest.fixture
def cli(app):
    """Each command sets up its own app context, as it does under ``flask --app wsgi``."""
    runner = app.test_cli_runner()

    def invoke(*args, input=None):
        return runner.invoke(args=list(args), input=input)

    return invoke


def login(client, username, password):
    return client.post("/api/v1/auth/login", json={"username": username, "password": password})


def sql(app, statement: str):
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(sa.text(statement))


def count(app, table: str) -> int:
    with app.app_context(), db.engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


# --- create-admin ---------------------------------------------------------------------------


def test_create_admin_makes_an_account_that_can_log_in(cli, client):
    result = cli("create-admin", "--username", "chief.zhang", "--password", "a long enough password")
    assert result.exit_code == 0, result.output
    assert re.match(r"^created admin chief\.zhang \([0-9a-f-]{36}\)$", result.output.strip())
    resp = login(client, "chief.zhang", "a long enough password")
    assert resp.status_code == 200, resp.json
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {resp.json['access_token']}"})
    assert me.json["role"] == "admin" and me.json["station_id"] is None


def test_create_admin_is_audited_as_the_system(cli, client, make):
    cli("create-admin", "--username", "chief.zhang", "--password", "a long enough password")
    events = client.get("/api/v1/audit-events?action=user.create", headers=make.auth(make.user("admin"))).json
    assert len(events) == 1
    assert events[0]["actor_role"] == "system" and events[0]["after"]["username"] == "chief.zhang"


def test_create_admin_refuses_a_short_password(cli, client):
    result = cli("create-admin", "--username", "chief.zhang", "--password", "short")
    assert result.exit_code != 0
    assert "password: must be at least 10 characters" in result.output
    assert login(client, "chief.zhang", "short").status_code == 401


def test_create_admin_refuses_a_taken_username(cli):
    assert cli("create-admin", "--username", "chief.zhang", "--password", "a long enough password").exit_code == 0
    result = cli("create-admin", "--username", "chief.zhang", "--password", "another long password")
    assert result.exit_code != 0
    assert "taken" in result.output


def test_create_admin_asks_for_a_password_it_was_not_given(cli, client):
    result = cli("create-admin", "--username", "chief.zhang")
    assert result.exit_code != 0 and "Password:" in result.output
    result = cli("create-admin", "--username", "chief.zhang", input="a long enough password\n" * 2)
    assert result.exit_code == 0, result.output
    assert login(client, "chief.zhang", "a long enough password").status_code == 200


# --- seed-demo -------------------------------------------------------------------------------


def _credentials(output: str) -> dict[str, tuple[str, str]]:
    found = {}
    for line in output.splitlines():
        m = re.match(r"^\s+(admin|staff|officer|auxiliary)\s+(\S+)\s+(\S+)$", line)
        if m:
            found[m.group(1)] = (m.group(2), m.group(3))
    return found


def test_seed_demo_prints_four_working_credentials(cli, client):
    result = cli("seed-demo")
    assert result.exit_code == 0, result.output
    creds = _credentials(result.output)
    assert set(creds) == {"admin", "staff", "officer", "auxiliary"}
    assert len({password for _, password in creds.values()}) == 4
    for role, (username, password) in creds.items():
        resp = login(client, username, password)
        assert resp.status_code == 200, (role, resp.json)
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {resp.json['access_token']}"}).json
        assert me["role"] == role
    officer = client.get(
        "/api/v1/me", headers={"Authorization": "Bearer " + login(client, *creds["officer"]).json["access_token"]}
    ).json
    assert len(officer["area_ids"]) == 1


def test_seed_demo_leaves_two_failed_messages_for_staff_to_retry(cli, app):
    assert cli("seed-demo").exit_code == 0
    with app.app_context(), db.engine.connect() as conn:
        dead = conn.execute(sa.text("SELECT recipient_bidx FROM notification WHERE status = 'dead'")).scalars().all()
        pending = conn.execute(sa.text("SELECT count(*) FROM notification WHERE status = 'pending'")).scalar_one()
    assert len(dead) == 2 and len(set(dead)) == 2  # two numbers: one to resend, one still to show
    assert pending > 0  # the other confirmations wait for the dispatcher as usual


def test_seed_demo_passwords_differ_between_runs(cli, app):
    first = _credentials(cli("seed-demo").output)
    from tests.fixtures.database import empty_database

    empty_database(app)
    second = _credentials(cli("seed-demo").output)
    assert first["admin"][1] != second["admin"][1]


def test_seed_demo_if_empty_leaves_a_seeded_database_alone(cli, app):
    assert cli("seed-demo").exit_code == 0
    counts = [count(app, t) for t in ("station", "area", "user_account", "audit_event")]
    result = cli("seed-demo", "--if-empty")
    assert result.exit_code == 0
    assert result.output == ""
    assert [count(app, t) for t in ("station", "area", "user_account", "audit_event")] == counts


def test_seed_demo_refuses_a_database_with_stations(cli, make):
    make.station()
    result = cli("seed-demo")
    assert result.exit_code != 0
    assert "already has stations" in result.output


# --- rotate-keys -----------------------------------------------------------------------------


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_rotate_keys_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key(cli, client, make, world):
    old_token = make.tokens(world.staff[0])["access_token"]
    old_kid = jwt.get_unverified_header(old_token)["kid"]

    result = cli("rotate-keys")
    assert result.exit_code == 0, result.output
    new_kid = re.fullmatch(r"new signing key (\w+)", result.output.strip()).group(1)
    assert new_kid != old_kid

    assert client.get("/api/v1/me", headers=_bearer(old_token)).status_code == 200
    kids = [k["kid"] for k in client.get("/.well-known/jwks.json").json["keys"]]
    assert kids == [new_kid, old_kid]
    new_token = login(client, world.staff[0].username, world.staff[0].password).json["access_token"]
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    assert client.get("/api/v1/me", headers=_bearer(new_token)).status_code == 200


def test_a_retired_key_stops_verifying_once_its_tokens_have_expired(cli, client, make, world, app):
    old_token = make.tokens(world.staff[0])["access_token"]
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    cli("rotate-keys")
    window = app.config["ACCESS_TOKEN_TTL"] + 61
    _age_retired_key(app, old_kid, window)
    app.extensions.pop("doorstep.signing_keys", None)  # the 30 s process cache would hide the change
    assert client.get("/api/v1/me", headers=_bearer(old_token)).status_code == 401
    assert old_kid in [k["kid"] for k in client.get("/.well-known/jwks.json").json["keys"]]


def _age_retired_key(app, kid, seconds):
    from datetime import timedelta

    from app.auth.models import SigningKey

    with app.app_context():
        key = db.session.get(SigningKey, kid)
        key.retired_at = key.retired_at - timedelta(seconds=seconds)
        db.session.commit()


# --- audit-verify ----------------------------------------------------------------------------


@pytest.fixture
def audited(cli):
    """Chained events written the ordinary way (the demo's records, bookings and registrations)."""
    assert cli("seed-demo").exit_code == 0


def test_audit_verify_reports_an_intact_chain(cli, app, audited):
    result = cli("audit-verify")
    assert result.exit_code == 0
    events = count(app, "audit_event")
    assert events > 7 and result.output.strip() == f"audit chain intact: {events} events"


def test_audit_verify_on_an_empty_trail(cli):
    result = cli("audit-verify")
    assert result.exit_code == 0
    assert "intact: 0 events" in result.output


def test_audit_verify_fails_after_an_event_is_edited(cli, app, audited):
    sql(app, "UPDATE audit_event SET action='x' WHERE id=1")
    result = cli("audit-verify")
    assert result.exit_code == 1
    assert "BROKEN at event 1" in result.output and "altered" in result.output


def test_audit_verify_fails_after_a_middle_event_is_deleted(cli, app, audited):
    sql(app, "DELETE FROM audit_event WHERE id=4")
    result = cli("audit-verify")
    assert result.exit_code == 1
    assert "BROKEN at event 4" in result.output and "missing" in result.output


def test_audit_verify_fails_after_the_last_event_is_deleted(cli, app, audited):
    last = count(app, "audit_event")
    sql(app, "DELETE FROM audit_event WHERE id=(SELECT max(id) FROM audit_event)")
    result = cli("audit-verify")
    assert result.exit_code == 1
    assert f"BROKEN at event {last}" in result.output and "removed" in result.output


def test_audit_verify_fails_after_an_edit_with_a_recomputed_hash(cli, app, audited):
    """Rewriting one row's hash to match its edit still breaks the link from the next row."""
    from app.audit.models import AuditEvent
    from app.audit.services import _digest, _hashed_fields

    with app.app_context():
        ev = db.session.get(AuditEvent, 3)
        ev.action = "station.delete"
        ev.hash = _digest(ev.prev_hash, ev.id, _hashed_fields(ev))
        db.session.commit()
    result = cli("audit-verify")
    assert result.exit_code == 1
    assert "BROKEN at event 4" in result.output and "does not link" in result.output
