"""Field tablets: registered by staff, enrolled once with a code and a P-256 public key, bound
to their station, and revoked as lost (refused at once) or retired (may still hand in work)."""

from __future__ import annotations

import functools
import uuid
from datetime import datetime

import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import g
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from app.audit.models import AuditEvent
from app.auth.models import Device, RefreshToken
from app.auth.tokens import actor_from_access_token
from app.db import utcnow
from app.errors import DeviceRevoked
from app.extensions import db
from tests.app.auth.helpers import b64url, bearer, in_parallel, shift_back
from tests.factories import PASSWORD, device_key
from tests.problems import assert_problem

DEVICES, ENROLL, LOGIN, ME = "/api/v1/devices", "/api/v1/devices/enroll", "/api/v1/auth/login", "/api/v1/me"


def tablet_key():
    private = device_key()
    return private, ECAlgorithm.to_jwk(private.public_key(), as_dict=True)


def register(client, headers, label="Tablet 07", **extra):
    return client.post(DEVICES, json={"label": label, **extra}, headers=headers)


def enroll(client, code, jwk=None):
    return client.post(ENROLL, json={"enrollment_code": code, "public_key": tablet_key()[1] if jwk is None else jwk})


def device_login(client, user, device_id, password=PASSWORD):
    return client.post(LOGIN, json={"username": user.username, "password": password, "device_id": str(device_id)})


def revoke(client, headers, device_id, mode):
    return client.post(f"{DEVICES}/{device_id}/revoke", json={"mode": mode}, headers=headers)


def audit_actions(app):
    with app.app_context():
        return [a for (a,) in db.session.execute(sa.select(AuditEvent.action).order_by(AuditEvent.id))]


@pytest.fixture
def staff_a(make, world):
    return make.auth(world.staff[0])


# --- registration and enrollment -------------------------------------------------------------


def test_staff_registers_and_the_tablet_enrolls(app, client, world, staff_a):
    r = register(client, staff_a)
    assert r.status_code == 201, r.json
    body = r.json
    assert set(body) == {"id", "enrollment_code", "enrollment_expires_at", "station_id"}
    assert body["station_id"] == str(world.stations[0].id)
    expires = datetime.fromisoformat(body["enrollment_expires_at"])
    assert 23.9 * 3600 < (expires - utcnow()).total_seconds() <= 24 * 3600

    listed = client.get(f"{DEVICES}/{body['id']}", headers=staff_a).json
    assert listed["status"] == "pending" and listed["enrolled_at"] is None
    assert "enrollment_code" not in listed and "public_jwk" not in listed

    private, jwk = tablet_key()
    r = client.post(ENROLL, json={"enrollment_code": body["enrollment_code"], "public_key": jwk})  # no auth
    assert r.status_code == 201, r.json
    assert r.json == {"device_id": body["id"], "station_id": body["station_id"]}
    with app.app_context():
        device = db.session.get(Device, uuid.UUID(body["id"]))
        assert device.status == "active" and device.enrollment_code_hash is None
        assert device.public_jwk == {k: jwk[k] for k in ("kty", "crv", "x", "y")}
        stored = ECAlgorithm.from_jwk(device.public_jwk)
        assert stored.public_numbers() == private.public_key().public_numbers()
    assert {"device.register", "device.enroll"} <= set(audit_actions(app))


def test_the_enrollment_code_is_stored_only_as_a_hash(app, client, staff_a):
    code = register(client, staff_a).json["enrollment_code"]
    with app.app_context():
        (stored,) = db.session.execute(sa.select(Device.enrollment_code_hash)).one()
        assert code not in stored and code.replace("-", "") not in stored


def test_the_code_is_forgiving_about_case_and_dashes(client, staff_a):
    code = register(client, staff_a).json["enrollment_code"]
    assert enroll(client, f" {code.replace('-', '').lower()} ").status_code == 201


def test_the_code_is_single_use(client, staff_a):
    code = register(client, staff_a).json["enrollment_code"]
    assert enroll(client, code).status_code == 201
    body = assert_problem(enroll(client, code), 422, "enrollment-code-invalid", field="enrollment_code")
    assert "public_key" not in body.get("errors", {})


def test_concurrent_enrollment_with_one_code_has_one_winner(app, client, staff_a):
    code = register(client, staff_a).json["enrollment_code"]
    results = in_parallel(app, 6, lambda c, i: enroll(c, code))
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(201) == 1, statuses
    for r in results:
        if r.status_code != 201:
            assert_problem(r, r.status_code, "enrollment-code-invalid")


def test_an_unknown_code_is_refused(client, world):
    assert_problem(enroll(client, "AAAA-BBBB-CCCC"), 422, "enrollment-code-invalid", field="enrollment_code")


def test_an_expired_code_is_refused(app, client, staff_a):
    body = register(client, staff_a).json
    shift_back(app, Device, 24 * 3600 + 1, "enrollment_expires_at", id=uuid.UUID(body["id"]))
    assert_problem(enroll(client, body["enrollment_code"]), 422, "enrollment-code-invalid")


def test_a_revoked_pending_device_cannot_enroll(client, staff_a):
    body = register(client, staff_a).json
    assert revoke(client, staff_a, body["id"], "lost").status_code == 200
    assert_problem(enroll(client, body["enrollment_code"]), 422, "enrollment-code-invalid")


def _off_curve(jwk):
    y = int.from_bytes(jwt.utils.base64url_decode(jwk["y"]), "big")
    p = 2**256 - 2**224 + 2**192 + 2**96 - 1
    return {**jwk, "y": b64url(((y + 1) % p).to_bytes(32, "big"))}


@functools.lru_cache(maxsize=1)
def _bad_keys():
    private, jwk = tablet_key()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    p384 = ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP384R1()).public_key(), as_dict=True)
    return {
        "private": ECAlgorithm.to_jwk(private, as_dict=True),
        "rsa": RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True),
        "rsa-private": RSAAlgorithm.to_jwk(rsa_key, as_dict=True),
        "p384": p384,
        "p256-label-on-p384-point": {**p384, "crv": "P-256"},
        "off-curve": _off_curve(jwk),
        "zero-point": {**jwk, "x": b64url(bytes(32)), "y": b64url(bytes(32))},
        "missing-y": {k: v for k, v in jwk.items() if k != "y"},
        "short-x": {**jwk, "x": b64url(b"\x01" * 16)},
        "not-base64": {**jwk, "x": "!!!not base64!!!"},
        "number-x": {**jwk, "x": 12345},
        "oct": {"kty": "oct", "k": b64url(b"secret")},
        "empty": {},
    }


def test_bad_public_keys_are_422_naming_public_key(app, client, staff_a):
    body = register(client, staff_a).json
    for name, jwk in _bad_keys().items():
        assert_problem(enroll(client, body["enrollment_code"], jwk), 422, field="public_key", case=name)
    for value in ("a string", ["list"], None, 42):
        r = client.post(ENROLL, json={"enrollment_code": body["enrollment_code"], "public_key": value})
        assert_problem(r, 422, field="public_key", case=value)
    with app.app_context():
        assert db.session.get(Device, uuid.UUID(body["id"])).status == "pending"  # the code still works
    assert enroll(client, body["enrollment_code"]).status_code == 201


def test_registration_input_is_checked(client, world, staff_a, make):
    assert_problem(register(client, staff_a, label=""), 422, field="label")
    assert_problem(client.post(DEVICES, json={}, headers=staff_a), 422, field="label")
    assert_problem(register(client, staff_a, status="active"), 422, field="status")
    # Staff may not register a tablet for another station; an administrator must name one.
    assert_problem(register(client, staff_a, station_id=str(world.stations[1].id)), 422, field="station_id")
    admin = make.auth(world.admin)
    assert_problem(register(client, admin), 422, field="station_id")
    r = register(client, admin, station_id=str(world.stations[1].id))
    assert r.status_code == 201 and r.json["station_id"] == str(world.stations[1].id)


# --- signing in on a tablet ------------------------------------------------------------------


def test_field_accounts_get_device_bound_tokens(app, client, make, world):
    device = make.device(world.stations[0])
    for role in ("officer", "auxiliary"):
        user = world.user(role, 0)
        r = device_login(client, user, device.id)
        assert r.status_code == 200, (role, r.json)
        claims = jwt.decode(r.json["access_token"], options={"verify_signature": False})
        assert claims["dev"] == str(device.id) and claims["sub"] == str(user.id)
        assert client.get(ME, headers=bearer(r.json["access_token"])).status_code == 200
        refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": r.json["refresh_token"]}).json
        assert jwt.decode(refreshed["access_token"], options={"verify_signature": False})["dev"] == str(device.id)
    with app.app_context():
        assert {t.device_id for t in db.session.execute(sa.select(RefreshToken)).scalars()} == {device.id}


def test_an_officer_of_another_station_cannot_use_the_device(client, make, world):
    device = make.device(world.stations[0])
    assert_problem(device_login(client, world.officer[1], device.id), 422, field="device_id")
    assert_problem(device_login(client, world.officer[0], uuid.uuid4()), 422, field="device_id")


def test_staff_and_admins_cannot_log_in_on_a_device(client, make, world):
    device = make.device(world.stations[0])
    for role in ("staff", "admin"):
        assert_problem(device_login(client, world.user(role, 0), device.id), 422, field="device_id", case=role)


def test_a_wrong_password_on_a_device_is_still_invalid_credentials(client, make, world):
    device = make.device(world.stations[0])
    assert_problem(device_login(client, world.officer[0], device.id, "wrong password!"), 401, "invalid-credentials")


def test_no_sign_in_on_a_device_that_is_not_active(client, make, world):
    for status in ("pending", "lost", "retired"):
        device = make.device(world.stations[0], status=status)
        assert_problem(device_login(client, world.officer[0], device.id), 401, "device-revoked", case=status)


# --- revocation --------------------------------------------------------------------------


def test_lost_device_is_refused_at_once(app, client, make, world, staff_a):
    device = make.device(world.stations[0])
    pair = make.tokens(world.officer[0], device)
    other = make.tokens(world.officer[0])  # the same officer's browser session, not on the tablet
    assert client.get(ME, headers=bearer(pair["access_token"])).status_code == 200

    r = revoke(client, staff_a, device.id, "lost")
    assert r.status_code == 200, r.json
    assert r.json["status"] == "lost" and r.json["revoked_at"]
    assert_problem(client.get(ME, headers=bearer(pair["access_token"])), 401, "device-revoked")
    assert_problem(client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}), 401)
    assert_problem(device_login(client, world.officer[0], device.id), 401, "device-revoked")
    assert client.get(ME, headers=bearer(other["access_token"])).status_code == 200
    assert "device.revoke_lost" in audit_actions(app)


def test_retired_device_is_refused_on_normal_endpoints(app, client, make, world, staff_a):
    device = make.device(world.stations[0])
    pair = make.tokens(world.auxiliary[0], device)
    r = revoke(client, staff_a, device.id, "retired")
    assert r.status_code == 200 and r.json["status"] == "retired"
    assert_problem(client.get(ME, headers=bearer(pair["access_token"])), 401, "device-revoked")
    assert_problem(device_login(client, world.auxiliary[0], device.id), 401, "device-revoked")
    # It may still refresh so it can hand in what it holds, but the new token is no better.
    r = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert r.status_code == 200, r.json
    assert_problem(client.get(ME, headers=bearer(r.json["access_token"])), 401, "device-revoked")
    assert "device.revoke_retired" in audit_actions(app)


def _actor(app, token, device, **kw):
    """The actor of ``token``, as a request proved by ``device``'s key would have it."""
    from app.auth import proof
    from app.auth.tokens import RequestProof
    from app.db import utcnow

    with app.test_request_context():
        header = proof.sign(device.private_key, "GET", "/api/v1/me", token, int(utcnow().timestamp()))
        actor = actor_from_access_token(token, request_proof=RequestProof(header, "GET", "/api/v1/me"), **kw)
        g.pop("actor", None)
        return actor


def test_endpoints_marked_for_retired_devices_accept_retired_not_lost(app, client, make, world, staff_a):
    retired, lost = make.device(world.stations[0]), make.device(world.stations[0])
    retired_token = make.tokens(world.officer[0], retired)["access_token"]
    lost_token = make.tokens(world.officer[0], lost)["access_token"]
    assert revoke(client, staff_a, retired.id, "retired").status_code == 200
    assert revoke(client, staff_a, lost.id, "lost").status_code == 200

    actor = _actor(app, retired_token, retired, allow_retired_device=True)
    assert actor.device_id == retired.id and actor.user_id == world.officer[0].id
    with pytest.raises(DeviceRevoked):
        _actor(app, retired_token, retired)
    with pytest.raises(DeviceRevoked):
        _actor(app, lost_token, lost, allow_retired_device=True)


def test_a_retired_device_can_still_be_marked_lost_but_not_back(client, make, world, staff_a):
    device = make.device(world.stations[0])
    pair = make.tokens(world.officer[0], device)
    assert revoke(client, staff_a, device.id, "retired").status_code == 200
    assert_problem(revoke(client, staff_a, device.id, "retired"), 409, "device-already-revoked")
    assert revoke(client, staff_a, device.id, "lost").status_code == 200
    assert_problem(client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}), 401)
    assert_problem(revoke(client, staff_a, device.id, "retired"), 409, "device-already-revoked")
    assert_problem(revoke(client, staff_a, device.id, "lost"), 409, "device-already-revoked")


def test_revoke_mode_is_checked(client, make, world, staff_a):
    device = make.device(world.stations[0])
    for body in ({"mode": "stolen"}, {}, {"mode": "lost", "reason": "x"}):
        r = client.post(f"{DEVICES}/{device.id}/revoke", json=body, headers=staff_a)
        assert_problem(r, 422, field="reason" if "reason" in body else "mode")


# --- who may manage devices ------------------------------------------------------------------


def test_staff_of_another_station_gets_404(client, make, world):
    device = make.device(world.stations[0])
    staff_b = make.auth(world.staff[1])
    assert_problem(client.get(f"{DEVICES}/{device.id}", headers=staff_b), 404)
    assert_problem(revoke(client, staff_b, device.id, "lost"), 404)
    assert client.get(f"{DEVICES}/{device.id}", headers=make.auth(world.staff[0])).json["status"] == "active"
    assert_problem(client.get(f"{DEVICES}/{uuid.uuid4()}", headers=staff_b), 404)


def test_field_accounts_and_citizens_get_403_on_device_management(client, make, world):
    device = make.device(world.stations[0])
    for role in ("officer", "auxiliary", "citizen"):
        headers = make.auth(world.user(role, 0))
        assert_problem(client.get(DEVICES, headers=headers), 403, case=role)
        assert_problem(client.get(f"{DEVICES}/{device.id}", headers=headers), 403, case=role)
        assert_problem(register(client, headers), 403, case=role)
        assert_problem(revoke(client, headers, device.id, "lost"), 403, case=role)
    assert client.get(f"{DEVICES}/{device.id}", headers=make.auth(world.staff[0])).json["status"] == "active"


def test_device_management_requires_authentication(client, make, world):
    device = make.device(world.stations[0])
    assert_problem(client.get(DEVICES), 401)
    assert_problem(client.post(DEVICES, json={"label": "x"}), 401)
    assert_problem(client.post(f"{DEVICES}/{device.id}/revoke", json={"mode": "lost"}), 401)


def test_listing_is_scoped_to_the_station(client, make, world, staff_a):
    mine = [register(client, staff_a, label=f"A{i}").json["id"] for i in range(2)]
    theirs = register(client, make.auth(world.staff[1]), label="B").json["id"]
    r = client.get(DEVICES, headers=staff_a)
    assert r.status_code == 200
    assert sorted(d["id"] for d in r.json) == sorted(mine)
    assert all(d["station_id"] == str(world.stations[0].id) for d in r.json)
    everything = client.get(DEVICES, headers=make.auth(world.admin)).json
    assert {d["id"] for d in everything} == set(mine) | {theirs}


def test_an_officer_moved_to_another_station_loses_the_old_stations_tablet(client, make, world):
    device = make.device(world.stations[0])
    officer = world.officer[0]
    pair = make.tokens(officer, device)
    r = client.patch(
        f"/api/v1/users/{officer.id}", json={"station_id": str(world.stations[1].id)}, headers=make.auth(world.admin)
    )
    assert r.status_code == 200, r.json
    # The login check (the device must be of the officer's station) also holds for live sessions.
    assert_problem(client.get(ME, headers=bearer(pair["access_token"])), 401)
    assert_problem(client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}), 401)
    assert_problem(device_login(client, officer, device.id), 422, field="device_id")


def test_enrolments_waiting_for_their_code_are_capped_per_account(app, client, make, world):
    staff = make.auth(world.staff[0])
    saved = app.config["DEVICE_PENDING_MAX"]
    app.config["DEVICE_PENDING_MAX"] = 2
    try:
        codes = [register(client, staff).json["enrollment_code"] for _ in range(2)]
        refused = register(client, staff)
        assert refused.status_code == 409 and refused.json["type"].endswith("/quota-exceeded")
        assert "label" in refused.json["errors"]
        assert enroll(client, codes[0]).status_code == 201  # one enrolled: room for another
        assert register(client, staff).status_code == 201
    finally:
        app.config["DEVICE_PENDING_MAX"] = saved
