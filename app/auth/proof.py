"""Proof of possession for device-bound access tokens.

A token issued to a tablet names the device key it is bound to (``cnf.jkt``, the key's RFC 7638
thumbprint), and every request made with it carries a ``Device-Proof`` header signed by that key:

    Device-Proof: <unix seconds>.<nonce>.<signature>

The signature (ES256, raw r||s, low-S, base64url) covers, one per line, the request method, the
path as the API names it (``/api/v1/sync/push``, with ``?query`` if any), the seconds, the nonce
and the base64url SHA-256 of the access token (``ath``). A copied token without the tablet's
private key is refused; a copied proof is good only for that method and path, with that token,
within ``DEVICE_PROOF_MAX_AGE`` seconds. The body is not covered: TLS carries it, and hashing
bodies would mean reading a photo upload before knowing who sends it.

One ECDSA verification (about 0.1 ms) per request, and the parsed key is cached per device key:
cheap on the sync hot path. This module is shared with the reference client, which signs.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from app.auth.credentials import es256_sign, es256_verify, public_key_from_jwk
from app.errors import phrase
from doorstep_protocol.device_proof import HEADER, header_value, parse_header, signing_input, token_hash  # noqa: F401
from doorstep_protocol.encoding import b64url


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint of an EC public JWK: what ``cnf.jkt`` names."""
    members = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
    return b64url(hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest())


def sign(private_key: ec.EllipticCurvePrivateKey, method: str, target: str, access_token: str, seconds: int) -> str:
    """The header value for one request; ``seconds``: the signer's clock, as Unix seconds."""
    nonce = secrets.token_urlsafe(12)
    signature = es256_sign(private_key, signing_input(method, target, seconds, nonce, access_token))
    return header_value(seconds, nonce, signature)


class ProofError(ValueError):
    """Why a proof was refused (said to the caller: it names nothing secret)."""


_keys: dict[str, ec.EllipticCurvePublicKey] = {}


def _key(jwk: dict[str, Any]) -> ec.EllipticCurvePublicKey:
    jkt = thumbprint(jwk)
    key = _keys.get(jkt)
    if key is None:
        if len(_keys) > 10_000:
            _keys.clear()
        key = _keys[jkt] = public_key_from_jwk(jwk)
    return key


def verify(
    header: str | None,
    *,
    jwk: dict[str, Any],
    method: str,
    target: str,
    access_token: str,
    now_seconds: int,
    max_age: int,
) -> None:
    """Raise ``ProofError`` unless ``header`` is a fresh proof by the key ``jwk`` for this request."""
    if not header:
        raise ProofError(
            phrase("this token is bound to a device key: send a %(header)s header signed by it", header=HEADER)
        )
    try:
        seconds, nonce, signature = parse_header(header)
    except (ValueError, TypeError):
        raise ProofError(phrase("the %(header)s header is malformed", header=HEADER)) from None
    if not 8 <= len(nonce) <= 64:
        raise ProofError(phrase("the %(header)s nonce must be 8-64 characters", header=HEADER))
    if abs(now_seconds - seconds) > max_age:
        raise ProofError(phrase("the %(header)s is stale or from the future (check the tablet's clock)", header=HEADER))
    if not es256_verify(_key(jwk), signing_input(method, target, seconds, nonce, access_token), signature):
        raise ProofError(phrase("the %(header)s signature does not verify for this request and device", header=HEADER))
