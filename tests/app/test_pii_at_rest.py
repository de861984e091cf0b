"""Phone numbers never rest in plain text in any table; responses mask them unless the
caller's role needs them, and every unmasked read leaves an audit event."""

from __future__ import annotations

import json
import re
import uuid

import pytest
import sqlalchemy as sa

from app import pii
from app.extensions import db
from app.notify import senders
from app.org.models import User
from tests.factories import PASSWORD

STAFF_PHONE = "13912345678"
NEW_STAFF_PHONE = "15987654321"
CITIZEN_PHONE = "13712345678"


@pytest.fixture
def sms(monkeypatch):
    """Messages handed to the (console) SMS provider, so a test can read its code like a citizen."""
    sent = []
    original = senders.ConsoleSender.send_sms

    def record(self, phone, text):
        sent.append((phone, text))
        return original(self, phone, text)

    monkeypatch.setattr(senders.ConsoleSender, "send_sms", record)
    return sent


def every_stored_text(app) -> str:
    """Every value of every column of every table, as one string."""
    chunks = []
    with app.app_context(), db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                for value in row:
                    chunks.append(json.dumps(value, ensure_ascii=False, default=str))
    return "\n".join(chunks)


@pytest.fixture
def activity(client, make, world, sms):
    """Phone numbers going through every kernel path that takes one."""
    admin = make.auth(world.admin)
    resp = client.post(
        "/api/v1/users",
        headers=admin,
        json={
            "username": "wang.fang",
            "password": PASSWORD,
            "role": "staff",
            "station_id": str(world.stations[0].id),
            "phone": "+86 139-1234-5678",
        },
    )
    assert resp.status_code == 201, resp.json
    user_id = resp.json["id"]
    resp = client.patch(f"/api/v1/users/{user_id}", headers=admin, json={"phone": NEW_STAFF_PHONE})
    assert resp.status_code == 200, resp.json
    resp = client.patch(f"/api/v1/users/{user_id}", headers=admin, json={"phone": STAFF_PHONE})
    assert resp.status_code == 200, resp.json

    assert client.post("/api/v1/auth/otp", json={"phone": CITIZEN_PHONE}).status_code == 202
    ((to, text),) = sms
    assert to == CITIZEN_PHONE
    code = re.search(r"\d{6}", text).group()
    resp = client.post("/api/v1/auth/otp/verify", json={"phone": CITIZEN_PHONE, "code": code})
    assert resp.status_code == 200, resp.json
    return {"user_id": user_id, "citizen_token": resp.json["access_token"]}


def test_no_plaintext_phone_in_any_table(app, world, activity):
    stored = every_stored_text(app)
    world_phones = [u.phone for u in (*world.staff.values(), *world.officer.values(), world.citizen)]
    for phone in (STAFF_PHONE, NEW_STAFF_PHONE, CITIZEN_PHONE, *world_phones):
        assert phone not in stored
    assert "****" in stored  # the masked forms are there, so the dump did read the snapshots
    assert "139-1234-5678" not in stored


def test_the_rows_that_hold_phones_hold_ciphertext_and_masks(app, activity):
    from app.audit.models import AuditEvent
    from app.notify.models import Notification

    with app.app_context():
        staff = db.session.get(User, uuid.UUID(activity["user_id"]))
        assert staff.phone == STAFF_PHONE  # decrypts back
        citizen = db.session.execute(
            sa.select(User).where(User.role == "citizen", User.phone_bidx == pii.blind_index(pii.PHONE, CITIZEN_PHONE))
        ).scalar_one()
        assert citizen.phone == CITIZEN_PHONE
        (notification,) = db.session.execute(sa.select(Notification)).scalars().all()
        assert notification.status == "sent"
        assert pii.decrypt(pii.PHONE, notification.recipient_phone_enc) == CITIZEN_PHONE
        events = (
            db.session.execute(sa.select(AuditEvent).where(AuditEvent.entity == "user").order_by(AuditEvent.id))
            .scalars()
            .all()
        )
        snapshots = [(e.action, e.before, e.after) for e in events if e.action in ("user.create", "user.update")]
    staff_create, first_update, second_update, citizen_create = snapshots
    assert staff_create[2]["phone"] == "139****5678"
    assert (first_update[1]["phone"], first_update[2]["phone"]) == ("139****5678", "159****4321")
    assert (second_update[1]["phone"], second_update[2]["phone"]) == ("159****4321", "139****5678")
    assert citizen_create[2] == {"role": "citizen", "phone": "137****5678"}


def test_a_read_shows_the_phone_masked(client, world, make, activity):
    for viewer in (world.admin, world.staff[0]):
        resp = client.get(f"/api/v1/users/{activity['user_id']}", headers=make.auth(viewer))
        assert resp.status_code == 200
        assert resp.json["phone"] == "139****5678"
    listed = client.get("/api/v1/users", headers=make.auth(world.admin)).json
    assert STAFF_PHONE not in json.dumps(listed)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {activity['citizen_token']}"}).json
    assert me["phone"] == "137****5678"


@pytest.mark.parametrize("role", ["admin", "staff"])
def test_an_unmasked_read_returns_the_number_and_is_audited(client, world, make, activity, role):
    reader = world.user(role)
    headers = make.auth(reader)
    resp = client.get(f"/api/v1/users/{activity['user_id']}/pii", headers={**headers, "X-Request-ID": "pii-read-1"})
    assert resp.status_code == 200
    assert resp.json == {"id": activity["user_id"], "phone": STAFF_PHONE}

    events = client.get("/api/v1/audit-events?action=pii.read", headers=make.auth(world.admin)).json
    assert len(events) == 1
    (event,) = events
    assert event["actor_id"] == str(reader.id) and event["actor_role"] == role
    assert event["entity"] == "user" and event["entity_id"] == activity["user_id"]
    assert event["request_id"] == "pii-read-1"
    assert STAFF_PHONE not in json.dumps(event)


def test_each_unmasked_read_is_audited_again(client, world, make, activity):
    headers = make.auth(world.staff[0])
    for _ in range(2):
        assert client.get(f"/api/v1/users/{activity['user_id']}/pii", headers=headers).status_code == 200
    events = client.get("/api/v1/audit-events?action=pii.read", headers=make.auth(world.admin)).json
    assert len(events) == 2


@pytest.mark.parametrize("role", ["officer", "auxiliary", "citizen"])
def test_field_roles_and_citizens_may_not_read_unmasked(client, world, make, activity, role):
    resp = client.get(f"/api/v1/users/{activity['user_id']}/pii", headers=make.auth(world.user(role)))
    assert resp.status_code == 403
    assert resp.mimetype == "application/problem+json"
    assert STAFF_PHONE not in resp.get_data(as_text=True)
    events = client.get("/api/v1/audit-events?action=pii.read", headers=make.auth(world.admin)).json
    assert events == []


def test_staff_of_another_station_cannot_read_it_at_all(client, world, make, activity):
    resp = client.get(f"/api/v1/users/{activity['user_id']}/pii", headers=make.auth(world.staff[1]))
    assert resp.status_code == 404
    events = client.get("/api/v1/audit-events?action=pii.read", headers=make.auth(world.admin)).json
    assert events == []


def test_a_phone_typed_as_a_username_is_not_kept_in_plain_text(app, client):
    """Citizens do type their phone number into the staff log-in form; the failed attempt is
    audited, but the number must not rest in the trail unmasked."""
    resp = client.post("/api/v1/auth/login", json={"username": CITIZEN_PHONE, "password": "whatever-it-is"})
    assert resp.status_code == 401
    stored = every_stored_text(app)
    assert CITIZEN_PHONE not in stored
    assert "137****5678" in stored
