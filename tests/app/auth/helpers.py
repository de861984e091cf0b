"""Helpers shared by the authentication tests: problem+json checks, clock travel on stored
rows, hand-made JWTs, captured SMS codes and a barrier-started thread pool."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import uuid
from datetime import timedelta

import jwt
import sqlalchemy as sa

from app.auth import keys
from app.auth.models import Throttle
from app.db import utcnow
from app.extensions import db


def retry_after(resp) -> int:
    value = resp.headers.get("Retry-After")
    assert value is not None and value.isdigit(), dict(resp.headers)
    assert int(value) >= 1
    return int(value)


def shift_back(app, model, seconds: float, *fields: str, **filter_by) -> int:
    """Move the named datetime columns of matching rows ``seconds`` into the past."""
    with app.app_context():
        rows = db.session.execute(sa.select(model).filter_by(**filter_by)).scalars().all()
        for row in rows:
            for name in fields:
                value = getattr(row, name)
                if value is not None:
                    setattr(row, name, value - timedelta(seconds=seconds))
        db.session.commit()
        return len(rows)


def age_throttle(app, seconds: float, *fields: str) -> None:
    """Pretend ``seconds`` passed for every throttle counter (default: only since the last event)."""
    shift_back(app, Throttle, seconds, *(fields or ("last_at",)))


def throttle_rows(app) -> dict:
    with app.app_context():
        return {t.key: t.count for t in db.session.execute(sa.select(Throttle)).scalars()}


# --- JWTs made by hand ------------------------------------------------------------------


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64json(obj) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def server_key(app):
    """(kid, private key) the server signs access tokens with (created on first use, and then
    committed by the caller's transaction like any write)."""
    with app.app_context():
        key = keys.signing_key()
        db.session.commit()
        return key


def access_claims(app, user, **overrides) -> dict:
    now = utcnow()
    claims = {
        "iss": app.config["JWT_ISSUER"],
        "aud": app.config["JWT_AUDIENCE"],
        "sub": str(user.id),
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=app.config["ACCESS_TOKEN_TTL"])).timestamp()),
        "jti": uuid.uuid4().hex,
        "role": user.role,
    }
    if user.station_id:
        claims["sid"] = str(user.station_id)
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign(app, claims: dict, *, headers: dict | None = None, private_key=None, omit: tuple = ()) -> str:
    """ES256 with the server's own key and kid unless told otherwise; ``headers`` override the
    defaults (a ``typ`` of None drops it) and ``omit`` removes header members."""
    server_kid, server_private = server_key(app)
    hdrs = {"kid": server_kid, "typ": "at+jwt", **(headers or {})}
    token = jwt.encode(claims, private_key or server_private, algorithm="ES256", headers=hdrs)
    if not omit:
        return token
    header, payload, _signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    for name in omit:
        decoded.pop(name, None)
    # Re-sign over the new header so only the omission is wrong.
    signing_input = f"{b64json(decoded)}.{payload}"
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    der = (private_key or server_private).sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def hs256(header: dict, claims: dict, secret: bytes) -> str:
    signing_input = f"{b64json(header)}.{b64json(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# --- SMS ------------------------------------------------------------------------------


class SmsBox:
    """What the console sender logged, read back the way a phone would."""

    def __init__(self, caplog):
        self.caplog = caplog

    def messages(self) -> list[str]:
        return [r.getMessage() for r in self.caplog.records if r.name == "doorstep.sms"]

    def last_code(self, phone: str | None = None) -> str:
        masked = f"{phone[:3]}****{phone[-4:]}" if phone else ""
        for text in reversed(self.messages()):
            if masked in text:
                m = re.search(r"(?<!\d)(\d{6})(?!\d)", text.split(":", 1)[1])
                assert m, text
                return m.group(1)
        raise AssertionError(f"no SMS to {masked or 'anyone'}: {self.messages()}")


# --- concurrency ------------------------------------------------------------------------


def in_parallel(app, n: int, call):
    """Run ``call(client, i)`` on ``n`` threads released together; each has its own test client."""
    barrier = threading.Barrier(n)
    results: list = [None] * n
    errors: list = []

    def run(i):
        client = app.test_client()
        try:
            barrier.wait(timeout=30)
            results[i] = call(client, i)
        except BaseException as exc:  # reported below, not swallowed
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, errors
    return results
