"""The byte encodings every signature in the protocol is computed over or travels in: canonical
unpadded base64url, compact UTF-8 JSON, and canonical unpadded upper-case base32 (what a compact
receipt travels in: its alphabet is inside a QR code's alphanumeric mode). Strict on input, so no
two strings carry one signature."""

from __future__ import annotations

import base64
import binascii
import json
import re

_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_B32 = re.compile(r"^[A-Z2-7]*$")


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: object) -> bytes:
    """Canonical unpadded base64url only; ValueError otherwise (a lenient decoder would let a
    flipped padding bit or a stray character leave a signature valid)."""
    if not isinstance(text, str) or not _B64URL.match(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None
    if b64url(raw) != text:
        raise ValueError("non-canonical base64url")
    return raw


def b32(raw: bytes) -> str:
    """RFC 4648 base32, upper case, unpadded."""
    return base64.b32encode(raw).rstrip(b"=").decode("ascii")


def b32_decode(text: object) -> bytes:
    """Canonical unpadded upper-case base32 only; ValueError otherwise (the unused low bits of the
    last character must be zero, so one byte string has one spelling)."""
    if not isinstance(text, str) or not _B32.match(text) or len(text) % 8 in (1, 3, 6):
        raise ValueError("not base32")
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        raise ValueError("not base32") from None
    if b32(raw) != text:
        raise ValueError("non-canonical base32")
    return raw


def json_bytes(obj: object) -> bytes:
    """Compact JSON, members in the order given, UTF-8 (not \\u escapes: a receipt's name is
    Chinese and every byte of a QR code counts)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# The order of P-256. (r, s) and (r, n - s) both verify; only the low one is sent and accepted,
# so a signature has one form.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def raw_signature(r: int, s: int) -> bytes:
    """An ES256 signature as JOSE sends it: r || s, 32 bytes each, s in its low form."""
    s = min(s, P256_ORDER - s)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")
