"""The server's ES256 signing keys: stored in the database (so every node shares them),
private halves wrapped with a key derived from ``DOORSTEP_SECRET_KEY``, rotated by command.

A retired key keeps verifying for one access-token lifetime, then leaves the JWKS.
"""

from __future__ import annotations

import base64
import os
import secrets
import time
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from jwt.algorithms import ECAlgorithm

from app.auth.models import SigningKey
from app.db import utcnow
from app.extensions import db
from app.unit_of_work import commit_now

_CACHE_SECONDS = 30


def _wrapping_key() -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"doorstep", info=b"signing-key-wrap").derive(
        str(current_app.config["SECRET_KEY"]).encode()
    )


def _wrap(pem: bytes, kid: str) -> str:
    nonce = os.urandom(12)
    return base64.b64encode(nonce + AESGCM(_wrapping_key()).encrypt(nonce, pem, kid.encode())).decode()


def _unwrap(blob: str, kid: str) -> bytes:
    raw = base64.b64decode(blob)
    return AESGCM(_wrapping_key()).decrypt(raw[:12], raw[12:], kid.encode())


def public_jwk(public_key: ec.EllipticCurvePublicKey, kid: str | None = None) -> dict[str, Any]:
    jwk = ECAlgorithm.to_jwk(public_key, as_dict=True)
    jwk.update({"use": "sig", "alg": "ES256"})
    if kid:
        jwk["kid"] = kid
    return jwk


def create_key() -> SigningKey:
    """Add a new key and retire the previous ones; the caller's unit of work commits."""
    now = utcnow()
    db.session.execute(sa.update(SigningKey).where(SigningKey.retired_at.is_(None)).values(retired_at=now))
    private = ec.generate_private_key(ec.SECP256R1())
    kid = secrets.token_hex(8)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key = SigningKey(
        kid=kid, private_key_enc=_wrap(pem, kid), public_jwk=public_jwk(private.public_key(), kid), created_at=now
    )
    db.session.add(key)
    db.session.flush()
    _cache().clear()
    return key


def _cache() -> dict[object, Any]:
    """Entries by kid (or ``__current__``): a tuple whose last member is when it was read (monotonic)."""
    cache: dict[object, Any] = current_app.extensions.setdefault("doorstep.signing_keys", {})
    return cache


def signing_key() -> tuple[str, ec.EllipticCurvePrivateKey]:
    """(kid, private key) of the newest active key, creating the first one on demand."""
    cache = _cache()
    entry = cache.get("__current__")
    if entry and time.monotonic() - entry[2] < _CACHE_SECONDS:
        return entry[0], entry[1]
    row = db.session.execute(
        sa.select(SigningKey).where(SigningKey.retired_at.is_(None)).order_by(SigningKey.created_at.desc()).limit(1)
    ).scalar_one_or_none()
    created = row is None
    if row is None:
        # The very first key of a deployment. Outside a commit hook it is committed at once (as
        # before any other use: a token it signs must verify even if the unit that asked for it
        # fails); inside one (the change feed signing a manifest entry) it joins that commit.
        # Either way it is cached only once read back, so a key that was rolled back never signs
        # twice.
        row = create_key()
        if not db.session.info.get("sync_publishing"):
            commit_now("the deployment's first signing key")
    private = serialization.load_pem_private_key(_unwrap(row.private_key_enc, row.kid), password=None)
    if not isinstance(private, ec.EllipticCurvePrivateKey):  # create_key makes only P-256 keys
        raise TypeError(f"signing key {row.kid} is not an EC key")
    kid: str = row.kid
    if not created:
        cache["__current__"] = (kid, private, time.monotonic())
    return kid, private


def _verify_window() -> timedelta:
    return timedelta(seconds=current_app.config["ACCESS_TOKEN_TTL"] + 60)


def verification_key(kid: object) -> ec.EllipticCurvePublicKey | None:
    """The public key for ``kid`` if tokens signed with it may still be accepted, else None."""
    cache = _cache()
    entry = cache.get(kid)
    if entry is None or time.monotonic() - entry[2] >= _CACHE_SECONDS:
        row = db.session.get(SigningKey, kid) if isinstance(kid, str) and len(kid) <= 32 else None
        if row is None:
            return None  # not cached: a made-up kid per request must not grow memory
        key = ECAlgorithm.from_jwk(row.public_jwk) if row.public_jwk else None
        if key is not None and not isinstance(key, ec.EllipticCurvePublicKey):  # public halves only
            raise TypeError(f"the stored JWK of key {kid!r} is not a public EC key")
        # The same key object while the entry lasts: tokens.decode_access_token remembers the
        # tokens a key verified for as long as this very object is returned.
        entry = (key, row.retired_at, time.monotonic())
        cache[kid] = entry
    key, retired_at, _ = entry
    if key is None or (retired_at is not None and utcnow() - retired_at > _verify_window()):
        return None
    return key


def jwks() -> dict[str, Any]:
    """Every public key the server ever signed with, newest first. A retired key stops
    verifying access tokens one token lifetime after rotation (``verification_key``), but it
    stays published: device credentials it signed sit inside receipts that must verify for
    years, with nothing but this document."""
    rows = db.session.execute(sa.select(SigningKey).order_by(SigningKey.created_at.desc())).scalars().all()
    return {"keys": [row.public_jwk for row in rows]}
