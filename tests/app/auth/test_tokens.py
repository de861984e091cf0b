"""Access tokens: what a genuine one carries, and every forgery /me must refuse with a 401."""

from __future__ import annotations

import json
import uuid

import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from app.auth import keys
from app.auth.models import SigningKey
from app.db import utcnow
from app.extensions import db
from app.org.models import User
from tests.app.auth.helpers import access_claims, b64json, b64url, bearer, hs256, server_key, shift_back, sign
from tests.problems import assert_problem

ME = "/api/v1/me"


@pytest.fixture
def officer(world):
    return world.officer[0]


def _set_user(app, user_id, **values):
    with app.app_context():
        db.session.execute(sa.update(User).where(User.id == user_id).values(**values))
        db.session.commit()


# --- the genuine article ----------------------------------------------------------------


def test_valid_token_works_and_carries_the_registered_claims(app, client, make, officer):
    token = make.tokens(officer)["access_token"]
    r = client.get(ME, headers=bearer(token))
    assert r.status_code == 200, r.json
    assert r.json["id"] == str(officer.id) and r.json["role"] == "officer"

    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256" and header["typ"] == "at+jwt"
    kid, private = server_key(app)
    assert header["kid"] == kid
    claims = jwt.decode(
        token,
        private.public_key(),
        algorithms=["ES256"],
        audience=app.config["JWT_AUDIENCE"],
        issuer=app.config["JWT_ISSUER"],
    )
    for name in ("iss", "aud", "exp", "iat", "jti", "sub"):
        assert name in claims
    assert claims["exp"] - claims["iat"] == 900
    assert claims["sub"] == str(officer.id) and claims["role"] == "officer"
    assert "dev" not in claims


def test_every_token_has_its_own_jti(make, officer):
    first, second = make.tokens(officer)["access_token"], make.tokens(officer)["access_token"]
    assert (
        jwt.decode(first, options={"verify_signature": False})["jti"]
        != jwt.decode(second, options={"verify_signature": False})["jti"]
    )


def test_a_token_signed_by_hand_with_the_server_key_is_accepted(app, client, officer):
    # Guards the forgery tests below: they fail for the reason they name, not a helper bug.
    assert client.get(ME, headers=bearer(sign(app, access_claims(app, officer)))).status_code == 200


def test_jwks_lists_the_signing_key_with_public_members_only(app, client, make, officer):
    make.tokens(officer)
    kid, private = server_key(app)
    r = client.get("/.well-known/jwks.json")
    assert r.status_code == 200
    assert "public" in r.headers["Cache-Control"]
    jwks = r.json["keys"]
    assert [k["kid"] for k in jwks] == [kid]
    key = jwks[0]
    assert key["kty"] == "EC" and key["crv"] == "P-256" and key["alg"] == "ES256" and key["use"] == "sig"
    assert set(key) <= {"kty", "crv", "x", "y", "kid", "alg", "use"}
    assert "d" not in key
    assert ECAlgorithm.from_jwk(json.dumps(key)).public_numbers() == private.public_key().public_numbers()


# --- refused: each one a 401 problem --------------------------------------------------------


def _refused(client, token, slug="unauthorized", case=None):
    r = client.get(ME, headers=bearer(token))
    assert_problem(r, 401, slug, case=case)
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")
    return r


def test_missing_or_malformed_authorization_is_refused(client, world):
    for header in (
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token abc",
        "Bearer not-a-jwt",
        "Bearer a.b.c",
        "Bearer ....",
        "Bearer " + "A" * 5000,
    ):
        headers = {} if header is None else {"Authorization": header}
        assert_problem(client.get(ME, headers=headers), 401, case=header)


def test_alg_none_is_refused(app, client, officer):
    kid, _ = server_key(app)
    claims = access_claims(app, officer)
    for alg in ("none", "None", "NONE"):
        for sig in ("", "AAAA"):
            token = f"{b64json({'alg': alg, 'typ': 'at+jwt', 'kid': kid})}.{b64json(claims)}.{sig}"
            _refused(client, token, case=(alg, sig))


def test_hs256_with_the_public_key_as_hmac_secret_is_refused(app, client, make, officer):
    make.tokens(officer)
    kid, private = server_key(app)
    public = private.public_key()
    jwk = client.get("/.well-known/jwks.json").json["keys"][0]
    numbers = public.public_numbers()
    raw_x, raw_y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
    secrets = [
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).strip(),
        public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint),
        json.dumps(jwk).encode(),
        json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode(),
        json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":")).encode(),
        raw_x + raw_y,
        jwk["x"].encode(),
        jwk["y"].encode(),
    ]
    claims = access_claims(app, officer)
    for secret in secrets:
        for typ in ("at+jwt", "JWT"):
            _refused(client, hs256({"alg": "HS256", "typ": typ, "kid": kid}, claims, secret))


def test_unknown_kid_is_refused(app, client, officer):
    claims = access_claims(app, officer)
    server_key(app)
    for kid in ("0000000000000000", "x" * 33, "y" * 5000, "../../etc/passwd", "' OR 1=1 --", ""):
        _refused(client, sign(app, claims, headers={"kid": kid}))
    _refused(client, sign(app, claims, omit=("kid",)))


def test_unknown_kids_do_not_grow_the_key_cache(app, client, officer):
    # Every request with a fresh made-up kid must not leave something behind in memory.
    claims = access_claims(app, officer)
    assert client.get(ME, headers=bearer(sign(app, claims))).status_code == 200
    sign(app, claims)  # the signing side caches the current key too, once it is committed
    before = len(app.extensions["doorstep.signing_keys"])
    for i in range(50):
        _refused(client, sign(app, claims, headers={"kid": f"{i:016x}" + "z" * (i * 10)}))
    assert len(app.extensions["doorstep.signing_keys"]) == before


def test_non_string_kid_is_refused(app, client, officer):
    kid, _ = server_key(app)
    claims = access_claims(app, officer)
    for bad in (["x"], {"k": kid}, 7, None):
        token = f"{b64json({'alg': 'ES256', 'typ': 'at+jwt', 'kid': bad})}.{b64json(claims)}.{b64url(b'x' * 64)}"
        _refused(client, token)


def test_known_kid_but_another_key_is_refused(app, client, officer):
    attacker = ec.generate_private_key(ec.SECP256R1())
    _refused(client, sign(app, access_claims(app, officer), private_key=attacker))


def test_embedded_jwk_or_jku_header_is_not_trusted(app, client, officer):
    attacker = ec.generate_private_key(ec.SECP256R1())
    jwk = ECAlgorithm.to_jwk(attacker.public_key(), as_dict=True)
    claims = access_claims(app, officer)
    _refused(client, sign(app, claims, private_key=attacker, headers={"jwk": jwk}))
    _refused(
        client,
        sign(
            app, claims, private_key=attacker, headers={"kid": "attacker", "jku": "https://attacker.example/jwks.json"}
        ),
    )


def test_wrong_audience_is_refused(app, client, officer):
    for aud in ("another-api", ["another-api"], ""):
        _refused(client, sign(app, access_claims(app, officer, aud=aud)))


def test_wrong_issuer_is_refused(app, client, officer):
    for iss in ("https://attacker.example", app.config["JWT_ISSUER"] + "/", ""):
        _refused(client, sign(app, access_claims(app, officer, iss=iss)))


def test_wrong_typ_header_is_refused(app, client, officer):
    for typ in ("JWT", "jwt", "refresh+jwt", "AT+JWT", "at+JWT ", "application/at+jwt", None):
        _refused(client, sign(app, access_claims(app, officer), headers={"typ": typ}), case=typ)


def test_missing_typ_header_is_refused(app, client, officer):
    token = sign(app, access_claims(app, officer), omit=("typ",))
    assert "typ" not in jwt.get_unverified_header(token)
    _refused(client, token)


def test_hand_resigned_token_helper_is_sound(app, client, officer):
    # omit=() of nothing still re-signs correctly, so the omission tests refuse for the omission.
    token = sign(app, access_claims(app, officer), omit=("x5u",))
    assert client.get(ME, headers=bearer(token)).status_code == 200


def test_expired_token_is_refused(app, client, officer):
    now = access_claims(app, officer)["iat"]
    token = sign(app, access_claims(app, officer, iat=now - 1000, nbf=now - 1000, exp=now - 100))
    _refused(client, token, "token-expired")


def test_a_token_already_accepted_still_expires(app, client, officer, time_machine):
    """The process remembers a token's verified signature; its expiry is checked every time."""
    time_machine.move_to(utcnow(), tick=False)
    now = access_claims(app, officer)["iat"]
    token = sign(app, access_claims(app, officer, iat=now, nbf=now, exp=now + 120))
    assert client.get(ME, headers=bearer(token)).status_code == 200
    assert client.get(ME, headers=bearer(token)).status_code == 200
    time_machine.shift(180)  # past expiry and the 30 s leeway
    _refused(client, token, "token-expired")


def test_a_token_already_accepted_is_refused_once_its_key_is_withdrawn(app, client, officer):
    token = sign(app, access_claims(app, officer))
    assert client.get(ME, headers=bearer(token)).status_code == 200
    with app.app_context():
        kid = jwt.get_unverified_header(token)["kid"]
        db.session.get(SigningKey, kid).public_jwk = None  # as if the key were struck off
        db.session.commit()
        keys._cache().clear()
    _refused(client, token)


def test_token_from_the_future_is_refused(app, client, officer):
    now = access_claims(app, officer)["iat"]
    _refused(client, sign(app, access_claims(app, officer, nbf=now + 600, exp=now + 1500)))


def test_missing_required_claim_is_refused(app, client, officer):
    for claim in ("exp", "iat", "iss", "aud", "sub", "jti"):
        claims = access_claims(app, officer)
        del claims[claim]
        _refused(client, sign(app, claims), case=claim)


def test_tampered_payload_is_refused(app, client, make, world, officer):
    token = make.tokens(officer)["access_token"]
    header, payload, signature = token.split(".")
    assert client.get(ME, headers=bearer(token)).status_code == 200
    # One flipped character of the payload.
    flipped = payload[:10] + ("A" if payload[10] != "A" else "B") + payload[11:]
    _refused(client, f"{header}.{flipped}.{signature}")
    # A payload re-encoded to claim to be the administrator, with the original signature.
    claims = jwt.decode(token, options={"verify_signature": False})
    claims.update(sub=str(world.admin.id), role="admin")
    _refused(client, f"{header}.{b64json(claims)}.{signature}")
    # And the signature itself altered.
    sig = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    _refused(client, f"{header}.{payload}.{sig}")


def test_refresh_token_is_not_an_access_token(client, make, officer):
    _refused(client, make.tokens(officer)["refresh_token"])


def test_token_of_a_deactivated_user_is_refused(app, client, make, officer):
    token = make.tokens(officer)["access_token"]
    _set_user(app, officer.id, active=False)
    _refused(client, token)


def test_token_of_a_deleted_or_unknown_user_is_refused(app, client, officer):
    _refused(client, sign(app, access_claims(app, officer, sub=str(uuid.uuid4()))))
    _refused(client, sign(app, access_claims(app, officer, sub="not-a-uuid")))


def test_token_whose_role_no_longer_matches_is_refused(app, client, make, officer):
    token = make.tokens(officer)["access_token"]
    _set_user(app, officer.id, role="auxiliary")
    _refused(client, token)


def test_token_claiming_a_role_the_user_does_not_have_is_refused(app, client, officer):
    _refused(client, sign(app, access_claims(app, officer, role="admin")))


def test_deactivation_through_the_api_cuts_off_the_access_token(client, make, world, officer):
    token = make.tokens(officer)["access_token"]
    staff = make.auth(world.staff[0])
    r = client.patch(f"/api/v1/users/{officer.id}", json={"active": False}, headers=staff)
    assert r.status_code == 200, r.json
    _refused(client, token)


def test_changed_areas_are_seen_by_the_next_request_of_the_same_token(client, make, world, officer):
    token = make.tokens(officer)["access_token"]
    assert client.get(ME, headers=bearer(token)).json["area_ids"] == [str(world.areas[0][0].id)]
    other = str(world.areas[0][1].id)
    r = client.patch(f"/api/v1/users/{officer.id}", json={"area_ids": [other]}, headers=make.auth(world.staff[0]))
    assert r.status_code == 200, r.json
    assert client.get(ME, headers=bearer(token)).json["area_ids"] == [other]


# --- key rotation -----------------------------------------------------------------------


def test_retired_key_verifies_access_tokens_for_one_lifetime_and_stays_published(app, client, make, officer):
    old_token = make.tokens(officer)["access_token"]
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    with app.app_context():
        new_kid = keys.create_key().kid
        db.session.commit()
    new_token = make.tokens(officer)["access_token"]
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid

    assert client.get(ME, headers=bearer(old_token)).status_code == 200
    assert {k["kid"] for k in client.get("/.well-known/jwks.json").json["keys"]} == {old_kid, new_kid}

    shift_back(app, SigningKey, app.config["ACCESS_TOKEN_TTL"] + 61, "retired_at", kid=old_kid)
    app.extensions.pop("doorstep.signing_keys", None)  # another node's cache would expire within 30 s
    _refused(client, old_token)
    assert client.get(ME, headers=bearer(new_token)).status_code == 200
    # still published, newest first: receipts signed under it must keep verifying
    assert [k["kid"] for k in client.get("/.well-known/jwks.json").json["keys"]] == [new_kid, old_kid]


def test_a_device_token_is_useless_without_the_device_key(app, make, world):
    """A token copied off a tablet (or out of a log) gets nothing: every request must carry a
    proof signed by the tablet's key, for this method and path, with this token, and fresh."""
    from flask.testing import FlaskClient

    from app.auth import proof
    from app.db import utcnow

    device = make.device(world.stations[0])
    token = make.tokens(world.officer[0], device)["access_token"]
    copied = FlaskClient(app, app.response_class)  # an HTTP client that does not hold the key
    headers = {"Authorization": f"Bearer {token}"}
    now = int(utcnow().timestamp())

    def me(extra):
        return copied.get("/api/v1/me", headers={**headers, **extra})

    resp = me({})
    assert resp.status_code == 401 and resp.json["type"].endswith("/device-proof-required")
    thief = ec.generate_private_key(ec.SECP256R1())
    for bad in (
        proof.sign(thief, "GET", "/api/v1/me", token, now),  # another key
        proof.sign(device.private_key, "GET", "/api/v1/devices", token, now),  # another path
        proof.sign(device.private_key, "POST", "/api/v1/me", token, now),  # another method
        proof.sign(device.private_key, "GET", "/api/v1/me", token, now - 3600),  # stale
        proof.sign(device.private_key, "GET", "/api/v1/me", "another.token.x", now),  # another token
        "not-a-proof",
    ):
        resp = me({proof.HEADER: bad})
        assert resp.status_code == 401 and resp.json["type"].endswith("/device-proof-required"), bad
    stale = me({proof.HEADER: proof.sign(device.private_key, "GET", "/api/v1/me", token, now - 3600)})
    assert abs(stale.json["server_time"] - now) < 60  # so a tablet with a wrong clock can date the next one
    good = me({proof.HEADER: proof.sign(device.private_key, "GET", "/api/v1/me", token, now)})
    assert good.status_code == 200 and good.json["id"] == str(world.officer[0].id)
    # the token names the key it is bound to
    assert jwt.decode(token, options={"verify_signature": False})["cnf"]["jkt"] == proof.thumbprint(device.public_jwk)
    # a desk log-in (no device) needs no proof
    assert copied.get("/api/v1/me", headers=make.auth(world.staff[0])).status_code == 200
