"""Device credentials: a short-lived ES256 JWS from the server that binds an enrolled tablet's id
and public key to the officer signed in on it and their station.

The tablet puts its credential in the protected header of every receipt it signs, so a verifier
needs nothing but the server's JWKS (``field_api/delivery/receipt_token.py``). The credential travels inside a
QR code, base64url inside base64url, so every byte counts three times over; the payload is therefore
a fixed 89-byte binary layout rather than JSON (RFC 7515 lets a JWS payload be any octets, and the
header's ``typ`` names the layout)::

    offset  size  field
         0    16  device id (UUID bytes)
        16    16  officer id (UUID bytes, the account signed in on the device)
        32    16  station id (UUID bytes)
        48    33  device public key, P-256 compressed point (SEC 1)
        81     4  iat, seconds since the epoch, unsigned big-endian
        85     4  exp, idem

Header: ``{"alg":"ES256","typ":"dc"}``. ``typ`` keeps a credential from ever passing as an access
token (those are ``at+jwt``, with a ``kid`` and a JSON payload) or as a receipt (``dr``). There is no
``kid``: inside a receipt it would cost 44 of the QR's 666 characters, so a verifier tries each ES256
key of the JWKS instead (one or two in practice; a verification is ~0.1 ms).

The compact-JWS helpers here are shared with the receipt code; they are strict (canonical unpadded
base64url only, no duplicate JSON members), so no two different strings carry the same signature.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from flask import current_app
from jwt.algorithms import ECAlgorithm

from app import clock
from app.auth import keys as server_keys
from app.auth.models import Device
from app.db import utcnow
from app.org.models import User
from doorstep_protocol.credentials import CREDENTIAL_TYP
from doorstep_protocol.credentials import LAYOUT as _LAYOUT
from doorstep_protocol.encoding import P256_ORDER, b64url, b64url_decode, json_bytes, raw_signature

ALGORITHM = "ES256"
CLOCK_LEEWAY = timedelta(minutes=5)  # tablet clocks drift; device and server clocks are compared
MAX_CREDENTIAL_CHARS = 400  # a real one is 242


class CredentialError(ValueError):
    """A credential or receipt failed a check. ``reason`` is a stable machine-readable slug
    (``credential-invalid``, ``credential-expired``, ``unknown-key``, …), ``detail`` a sentence."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


# --- compact JWS, strict --------------------------------------------------------------------


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate member {key!r}")
        obj[key] = value
    return obj


def json_object(raw: bytes) -> dict[str, Any]:
    """A JSON object from UTF-8 bytes; ValueError for anything else."""
    obj = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    return obj


def es256_sign(private_key: ec.EllipticCurvePrivateKey, signing_input: bytes) -> bytes:
    return raw_signature(*decode_dss_signature(private_key.sign(signing_input, ec.ECDSA(hashes.SHA256()))))


def es256_verify(public_key: ec.EllipticCurvePublicKey, signing_input: bytes, signature: bytes) -> bool:
    """Raw (r || s) ES256 signatures in low-S form only."""
    if len(signature) != 64:
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not 0 < s <= P256_ORDER // 2:
        return False
    try:
        public_key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def jws_sign(header: dict[str, Any], payload: bytes, private_key: ec.EllipticCurvePrivateKey) -> str:
    signing_input = f"{b64url(json_bytes(header))}.{b64url(payload)}"
    return f"{signing_input}.{b64url(es256_sign(private_key, signing_input.encode('ascii')))}"


def jws_split(token: str) -> tuple[dict[str, Any], bytes, bytes, bytes]:
    """(header, payload bytes, signature, signing input) of a compact JWS; ValueError if malformed."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("a compact JWS has three parts")
    header = json_object(b64url_decode(parts[0]))
    payload = b64url_decode(parts[1])
    signature = b64url_decode(parts[2])
    if header.get("alg") != ALGORITHM:
        raise ValueError("alg must be ES256")
    if len(signature) != 64:
        raise ValueError("an ES256 signature is 64 bytes")
    return header, payload, signature, f"{parts[0]}.{parts[1]}".encode("ascii")


# --- keys -----------------------------------------------------------------------------------


def compressed_point(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)


def public_key_from_jwk(jwk: object) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from a public JWK (any JSON value); ValueError for any other key (or a private one)."""
    if not isinstance(jwk, dict) or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256" or "d" in jwk:
        raise ValueError("not a P-256 public JWK")
    if jwk.get("alg") not in (None, ALGORITHM) or jwk.get("use") not in (None, "sig"):
        raise ValueError("not an ES256 signing key")
    x, y = b64url_decode(jwk.get("x", "")), b64url_decode(jwk.get("y", ""))
    if len(x) != 32 or len(y) != 32:
        raise ValueError("P-256 coordinates are 32 bytes")
    # from_encoded_point checks the point is on the curve.
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)


def jwks_keys(jwks: object) -> list[tuple[str | None, ec.EllipticCurvePublicKey]]:
    """(kid, key) of every usable ES256 P-256 public key of a JWKS (any JSON value), in its order;
    others are skipped."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    usable: list[tuple[str | None, ec.EllipticCurvePublicKey]] = []
    for jwk in keys if isinstance(keys, list) else []:
        try:
            usable.append((jwk.get("kid"), public_key_from_jwk(jwk)))
        except (ValueError, AttributeError):
            continue
    return usable


# --- credentials ----------------------------------------------------------------------------


def _epoch(value: datetime) -> int:
    if value.tzinfo is None:
        raise ValueError("naive datetime; use UTC")
    return int(value.timestamp())


def _datetime(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def encode_device_credential(
    server_private_key: ec.EllipticCurvePrivateKey,
    *,
    device_id: UUID,
    officer_id: UUID | str,
    station_id: UUID,
    device_public_key: object,
    iat: datetime,
    exp: datetime,
) -> str:
    """The pure signing step (no database): tests, benchmarks and test vectors call it directly.
    The credential names no key id; the server key is found by trying the JWKS."""
    if not isinstance(device_public_key, ec.EllipticCurvePublicKey) or device_public_key.curve.name != "secp256r1":
        raise ValueError("the device key must be a P-256 public key")
    if exp <= iat:
        raise ValueError("exp must be after iat")
    payload = _LAYOUT.pack(
        uuid.UUID(str(device_id)).bytes,
        uuid.UUID(str(officer_id)).bytes,
        uuid.UUID(str(station_id)).bytes,
        compressed_point(device_public_key),
        _epoch(iat),
        _epoch(exp),
    )
    return jws_sign({"alg": ALGORITHM, "typ": CREDENTIAL_TYP}, payload, server_private_key)


def parse_credential_payload(payload: bytes) -> dict[str, Any]:
    """The fields of a credential payload, signature NOT checked; ValueError if the layout is wrong."""
    if len(payload) != _LAYOUT.size:
        raise ValueError(f"a credential payload is {_LAYOUT.size} bytes")
    device, officer, station, point, iat, exp = _LAYOUT.unpack(payload)
    return {
        "device_id": str(uuid.UUID(bytes=device)),
        "officer_id": str(uuid.UUID(bytes=officer)),
        "station_id": str(uuid.UUID(bytes=station)),
        "public_key": ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point),
        "iat": _datetime(iat),
        "exp": _datetime(exp),
    }


def open_device_credential(token: object, jwks: dict[str, Any]) -> dict[str, Any]:
    """Check structure, type and the server's signature, not the time; raise CredentialError."""
    if not isinstance(token, str) or len(token) > MAX_CREDENTIAL_CHARS:
        raise CredentialError("credential-invalid", "the credential is missing or too long")
    try:
        header, payload, signature, signing_input = jws_split(token)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CredentialError("credential-invalid", f"the credential is malformed: {exc}") from None
    if header.get("typ") != CREDENTIAL_TYP:
        raise CredentialError("credential-invalid", "the token is not a device credential")
    try:
        claims = parse_credential_payload(payload)
    except ValueError as exc:
        raise CredentialError("credential-invalid", str(exc)) from None
    for kid, key in jwks_keys(jwks):
        if es256_verify(key, signing_input, signature):
            claims["kid"] = kid
            return claims
    # Without a kid, "no key verifies" covers both a key this JWKS does not hold (stale cache,
    # forged issuer) and an altered credential; the receipt verifier tells the two apart.
    raise CredentialError(
        "unknown-key",
        "no key of the JWKS verifies the credential's server signature "
        "(an unknown or stale key, or an altered credential)",
    )


def check_credential_time(claims: dict[str, Any], at: datetime) -> None:
    """The credential was in force at ``at`` (within the clock leeway), else ``credential-expired``."""
    if at < claims["iat"] - CLOCK_LEEWAY:
        raise CredentialError("credential-expired", "the credential was issued after that time")
    if at > claims["exp"] + CLOCK_LEEWAY:
        raise CredentialError("credential-expired", f"the credential expired at {claims['exp'].isoformat()}")


def decode_device_credential(token: object, jwks: dict[str, Any], at: datetime | None = None) -> dict[str, Any]:
    """Verify a credential against ``jwks`` (``{"keys": [...]}``), pinned to ES256 and ``typ`` dc,
    in force at ``at`` (default: now). Returns device_id, officer_id, station_id (UUID strings),
    public_key (a cryptography key), public_jwk, kid (of the JWKS key that verified it), iat and exp
    (aware datetimes)."""
    claims = open_device_credential(token, jwks)
    check_credential_time(claims, at or clock.now())

    claims["public_jwk"] = ECAlgorithm.to_jwk(claims["public_key"], as_dict=True)
    return claims


# --- issued by the server -------------------------------------------------------------------


def issue_device_credential(device: Device, user: User) -> str:
    """A credential for ``device`` with ``user`` signed in on it, signed with the current server key."""
    if device.public_jwk is None:
        raise ValueError("the device has no enrolled key")
    _, private = server_keys.signing_key()
    now = utcnow().replace(microsecond=0)
    return encode_device_credential(
        private,
        device_id=device.id,
        officer_id=user.id,
        station_id=device.station_id,
        device_public_key=public_key_from_jwk(device.public_jwk),
        iat=now,
        exp=now + timedelta(seconds=current_app.config["DEVICE_CREDENTIAL_TTL"]),
    )


def receipt_jwks() -> dict[str, Any]:
    """The key set receipts verify against: the published JWKS, which keeps retired keys."""
    return server_keys.jwks()
