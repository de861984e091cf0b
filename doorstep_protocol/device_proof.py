"""The ``Device-Proof`` header: what a tablet signs on every request made with a device-bound
access token (docs/sync-protocol.md, "Device-bound tokens").

    Device-Proof: <unix seconds>.<nonce>.<signature>

The signature (ES256, raw r||s, low-S, base64url) covers, one per line: the method, the path as the
API names it (with ``?query`` if any), the seconds, the nonce and the base64url SHA-256 of the
access token. The body is not covered: TLS carries it.
"""

from __future__ import annotations

import hashlib

from doorstep_protocol.encoding import b64url, b64url_decode

HEADER = "Device-Proof"
NONCE_CHARS = (8, 64)


def token_hash(access_token: str) -> str:
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


def signing_input(method: str, target: str, seconds: int, nonce: str, access_token: str) -> bytes:
    return "\n".join((method.upper(), target, str(seconds), nonce, token_hash(access_token))).encode()


def header_value(seconds: int, nonce: str, signature: bytes) -> str:
    return f"{seconds}.{nonce}.{b64url(signature)}"


def parse_header(value: str) -> tuple[int, str, bytes]:
    """(seconds, nonce, signature); ValueError when malformed."""
    seconds_text, nonce, signature_text = value.strip().split(".")
    return int(seconds_text), nonce, b64url_decode(signature_text)
