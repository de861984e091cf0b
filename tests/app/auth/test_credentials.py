"""Device credentials: issued with device-bound tokens, verified against the published JWKS, never
usable as access tokens."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from app.auth import keys
from app.auth.credentials import (
    CredentialError,
    b64url,
    b64url_decode,
    compressed_point,
    decode_device_credential,
    encode_device_credential,
    issue_device_credential,
    jws_sign,
)
from app.auth.models import Device, SigningKey
from app.db import utcnow
from app.extensions import db
from app.org.models import User
from tests.app.auth.helpers import bearer, shift_back
from tests.factories import PASSWORD
from tests.problems import assert_problem

LOGIN, REFRESH, ME, JWKS = "/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/me", "/.well-known/jwks.json"


def device_login(client, user, device):
    r = client.post(LOGIN, json={"username": user.username, "password": PASSWORD, "device_id": str(device.id)})
    assert r.status_code == 200, r.json
    return r.json


def parts(token: str):
    h, p, s = token.split(".")
    return json.loads(b64url_decode(h)), b64url_decode(p), s


def test_a_device_bound_login_returns_a_credential_for_that_device(app, client, make, world):
    device = make.device(world.stations[0])
    officer = world.officer[0]
    body = device_login(client, officer, device)
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "device_credential"}
    cred = decode_device_credential(body["device_credential"], client.get(JWKS).json)
    assert (cred["device_id"], cred["officer_id"], cred["station_id"]) == (
        str(device.id),
        str(officer.id),
        str(world.stations[0].id),
    )
    assert compressed_point(cred["public_key"]) == compressed_point(device.private_key.public_key())
    assert cred["public_jwk"] == device.public_jwk
    assert cred["exp"] - cred["iat"] == timedelta(seconds=app.config["DEVICE_CREDENTIAL_TTL"]) == timedelta(hours=24)
    assert abs(cred["iat"] - utcnow()) < timedelta(minutes=1)
    with app.app_context():
        assert cred["kid"] == keys.signing_key()[0]


def test_the_credential_header_is_es256_typ_dc_and_the_payload_is_compact(client, make, world):
    cred = device_login(client, world.auxiliary[0], make.device(world.stations[0]))["device_credential"]
    header, payload, _ = parts(cred)
    assert header == {"alg": "ES256", "typ": "dc"}
    assert len(payload) == 89 and len(cred) < 250


def test_a_refresh_on_the_device_returns_a_fresh_credential(client, make, world):
    device = make.device(world.stations[0])
    first = device_login(client, world.officer[0], device)
    r = client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200, r.json
    cred = decode_device_credential(r.json["device_credential"], client.get(JWKS).json)
    assert cred["device_id"] == str(device.id) and cred["officer_id"] == str(world.officer[0].id)


def test_no_credential_without_a_device(client, world):
    r = client.post(LOGIN, json={"username": world.officer[0].username, "password": PASSWORD})
    assert r.status_code == 200 and "device_credential" not in r.json


def test_a_retired_device_refreshes_without_a_new_credential(app, client, make, world):
    """A retired tablet may still hand in its work, but it signs no new receipts."""
    device = make.device(world.stations[0])
    first = device_login(client, world.officer[0], device)
    with app.app_context():
        db.session.get(Device, device.id).status = "retired"
        db.session.commit()
    r = client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200, r.json
    assert "device_credential" not in r.json and r.json["access_token"]


def test_the_lifetime_follows_the_setting(app, client, make, world, monkeypatch):
    monkeypatch.setitem(app.config, "DEVICE_CREDENTIAL_TTL", 3600)
    cred = decode_device_credential(
        device_login(client, world.officer[0], make.device(world.stations[0]))["device_credential"],
        client.get(JWKS).json,
    )
    assert cred["exp"] - cred["iat"] == timedelta(hours=1)


def test_a_credential_is_not_an_access_token(client, make, world):
    body = device_login(client, world.officer[0], make.device(world.stations[0]))
    assert_problem(client.get(ME, headers=bearer(body["device_credential"])), 401)
    assert client.get(ME, headers=bearer(body["access_token"])).status_code == 200


def test_an_access_token_is_not_a_credential(client, make, world):
    body = device_login(client, world.officer[0], make.device(world.stations[0]))
    with pytest.raises(CredentialError) as info:
        decode_device_credential(body["access_token"], client.get(JWKS).json)
    assert info.value.reason == "credential-invalid"


# --- verification rules, on credentials signed by the server's own key --------------------------


@pytest.fixture
def issued(app, make, world):
    """(credential, jwks, server private key) for an officer on a device, through the real code path."""
    device = make.device(world.stations[0])
    with app.app_context():
        cred = issue_device_credential(db.session.get(Device, device.id), db.session.get(User, world.officer[0].id))
        db.session.commit()
        return cred, keys.jwks(), keys.signing_key()[1]


def test_expired_or_not_yet_valid_credentials_are_refused(issued):
    cred, jwks, _ = issued
    now = utcnow()
    decode_device_credential(cred, jwks, now + timedelta(hours=24, minutes=4))  # within the clock leeway
    for at in (now + timedelta(hours=24, minutes=6), now - timedelta(minutes=6)):
        with pytest.raises(CredentialError) as info:
            decode_device_credential(cred, jwks, at)
        assert info.value.reason == "credential-expired"


def test_a_credential_from_an_unknown_server_key_is_refused(issued):
    cred, jwks, _ = issued
    rogue = ec.generate_private_key(ec.SECP256R1())
    _, payload, _ = parts(cred)
    forged = jws_sign({"alg": "ES256", "typ": "dc"}, payload, rogue)
    with pytest.raises(CredentialError) as info:
        decode_device_credential(forged, jwks)
    assert info.value.reason == "unknown-key"
    with pytest.raises(CredentialError) as info:
        decode_device_credential(cred, {"keys": []})
    assert info.value.reason == "unknown-key"


def test_a_tampered_credential_is_refused(issued):
    cred, jwks, _ = issued
    h, p, s = cred.split(".")
    i = len(p) // 2
    tampered = f"{h}.{p[:i]}{'A' if p[i] != 'A' else 'B'}{p[i + 1 :]}.{s}"
    with pytest.raises(CredentialError):
        decode_device_credential(tampered, jwks)


@pytest.mark.parametrize(
    "header",
    [{"alg": "ES256"}, {"alg": "ES256", "typ": "at+jwt"}, {"alg": "ES384", "typ": "dc"}, {"alg": "none", "typ": "dc"}],
)
def test_alg_and_typ_are_pinned(issued, header):
    cred, jwks, server_private = issued
    _, payload, _ = parts(cred)
    with pytest.raises(CredentialError) as info:
        decode_device_credential(jws_sign(header, payload, server_private), jwks)
    assert info.value.reason == "credential-invalid"


@pytest.mark.parametrize("bad", ["", "a.b", "a.b.c", "x" * 5000, None, 42])
def test_garbage_is_credential_invalid(bad):
    with pytest.raises(CredentialError) as info:
        decode_device_credential(bad, {"keys": []})
    assert info.value.reason == "credential-invalid"


def test_a_payload_of_the_wrong_layout_is_refused_even_when_signed(issued):
    cred, jwks, server_private = issued
    _, payload, _ = parts(cred)
    for wrong in (payload[:-1], payload + b"\0", b"{}"):
        with pytest.raises(CredentialError) as info:
            decode_device_credential(jws_sign({"alg": "ES256", "typ": "dc"}, wrong, server_private), jwks)
        assert info.value.reason == "credential-invalid"


def test_private_or_foreign_keys_in_a_jwks_are_ignored(issued):
    cred, jwks, _ = issued
    polluted = {
        "keys": [
            {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
            "junk",
            {"kty": "EC", "crv": "P-384"},
            {**jwks["keys"][0], "d": b64url(b"\1" * 32)},
        ]
    }
    with pytest.raises(CredentialError) as info:
        decode_device_credential(cred, polluted)
    assert info.value.reason == "unknown-key"
    assert decode_device_credential(cred, {"keys": polluted["keys"][:3] + jwks["keys"]})["device_id"]


def test_the_pure_encoder_round_trips():
    server, device = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ids = [uuid.uuid4() for _ in range(3)]
    iat = datetime(2026, 5, 1, 8, tzinfo=UTC)
    cred = encode_device_credential(
        server,
        device_id=ids[0],
        officer_id=ids[1],
        station_id=ids[2],
        device_public_key=device.public_key(),
        iat=iat,
        exp=iat + timedelta(hours=24),
    )
    out = decode_device_credential(cred, {"keys": [keys.public_jwk(server.public_key(), "k1")]}, iat)
    assert [out["device_id"], out["officer_id"], out["station_id"]] == [str(i) for i in ids]
    assert out["kid"] == "k1" and out["iat"] == iat
    with pytest.raises(ValueError):
        encode_device_credential(
            server,
            device_id=ids[0],
            officer_id=ids[1],
            station_id=ids[2],
            device_public_key=device.public_key(),
            iat=iat,
            exp=iat,
        )


def test_receipt_keys_outlive_the_access_token_window(app, client, make, world):
    """After a rotation the old key stops verifying access tokens within minutes, but receipts
    signed under credentials it issued must verify for years: the published JWKS keeps it."""
    device = make.device(world.stations[0])
    cred = device_login(client, world.officer[0], device)["device_credential"]
    with app.app_context():
        old_kid = keys.signing_key()[0]
        keys.create_key()
        db.session.commit()
    shift_back(app, SigningKey, 3600, "retired_at", kid=old_kid)
    with app.app_context():
        app.extensions.pop("doorstep.signing_keys", None)
        assert keys.verification_key(old_kid) is None  # no longer good for access tokens
        published = client.get("/.well-known/jwks.json").json
    assert old_kid in [k["kid"] for k in published["keys"]]
    assert decode_device_credential(cred, published)["kid"] == old_kid
