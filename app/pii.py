"""Personal information: validation, encryption at rest, blind indexes, masking.

Identity and phone numbers never reach the database, a log line or a response in plain text
unless a role needs the full value, and that read is audited by the caller.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from datetime import date

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

IDENTITY = "identity"
PHONE = "phone"

_ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"^[1-9][0-9]{5}([0-9]{4})([0-9]{2})([0-9]{2})[0-9]{3}[0-9X]$")  # ASCII digits only
_PHONE_RE = re.compile(r"^1[3-9][0-9]{9}$")  # ASCII only: \d would admit look-alike digits


class InvalidPII(ValueError):
    """The value is not a well-formed number of its kind; the message says why."""


def identity_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of GB 11643-1999."""
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS)) % 11]


def normalize_identity(value: str, *, today: date | None = None) -> str:
    """Return the canonical form (upper-case X) or raise ``InvalidPII``."""
    if not isinstance(value, str):
        raise InvalidPII("must be a string")
    v = value.strip().upper()
    if len(v) != 18:
        raise InvalidPII("must be 18 characters")
    m = _ID_RE.match(v)
    if not m:
        raise InvalidPII("must be 17 digits and a check character (0-9 or X), region code not starting with 0")
    year, month, day = (int(g) for g in m.groups())
    try:
        born = date(year, month, day)
    except ValueError:
        raise InvalidPII("birth date is not a real date") from None
    if born > (today or date.today()) or year < 1900:
        raise InvalidPII("birth date is out of range")
    if identity_check_char(v[:17]) != v[17]:
        raise InvalidPII("check character does not match")
    return v


def normalize_phone(value: str) -> str:
    """Mainland mobile numbers: 11 digits starting 1[3-9]; a +86/0086 prefix is accepted."""
    if not isinstance(value, str):
        raise InvalidPII("must be a string")
    v = re.sub(r"[\s-]", "", value)
    v = re.sub(r"^(\+86|0086)", "", v)
    if not _PHONE_RE.match(v):
        raise InvalidPII("must be an 11-digit mainland mobile number starting 13-19")
    return v


def mask_identity(v: str | None) -> str | None:
    return None if v is None else v[:4] + "*" * 10 + v[-4:]


def mask_phone(v: str | None) -> str | None:
    return None if v is None else v[:3] + "****" + v[-4:]


MASKERS = {IDENTITY: mask_identity, PHONE: mask_phone}


def _keys() -> list[tuple[str, bytes]]:
    cached = current_app.extensions.get("doorstep.pii_keys")
    if cached is None:
        cached = []
        for part in str(current_app.config["PII_KEYS"]).split(","):
            kid, _, b64 = part.strip().partition(":")
            key = base64.b64decode(b64)
            if not kid or len(key) != 32:
                raise RuntimeError("DOORSTEP_PII_KEYS entries must be kid:base64(32 bytes)")
            cached.append((kid, key))
        current_app.extensions["doorstep.pii_keys"] = cached
    return cached


def encrypt(purpose: str, plaintext: str | None) -> str | None:
    """AES-256-GCM under the current key; the purpose is bound as associated data so a
    ciphertext cannot be moved to another column. Format: ``kid:base64(nonce||ct)``."""
    if plaintext is None:
        return None
    kid, key = _keys()[0]
    nonce = os.urandom(12)
    ct = AESGCM(key).encrypt(nonce, plaintext.encode(), purpose.encode())
    return f"{kid}:{base64.b64encode(nonce + ct).decode()}"


def decrypt(purpose: str, token: str | None) -> str | None:
    if token is None:
        return None
    kid, _, b64 = token.partition(":")
    key = dict(_keys()).get(kid)
    if key is None:
        raise RuntimeError(f"PII key {kid!r} is not configured")
    raw = base64.b64decode(b64)
    return AESGCM(key).decrypt(raw[:12], raw[12:], purpose.encode()).decode()


def blind_index(purpose: str, normalized: str | None) -> str | None:
    """HMAC-SHA-256 under a key separate from the encryption keys: equality look-up only."""
    if normalized is None:
        return None
    key = base64.b64decode(current_app.config["BLIND_INDEX_KEY"])
    return hmac.new(key, f"{purpose}:{normalized}".encode(), hashlib.sha256).hexdigest()


# Patterns for scrubbing free text (log lines): any 18-char identity-shaped or mobile-shaped run.
_SCRUB_ID = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{3})\d{10}(\d{3}[\dXx])(?![0-9A-Za-z])")
_SCRUB_PHONE = re.compile(r"(?<!\d)(?:\+?86[ -]?)?(1[3-9]\d)[ -]?\d{4}[ -]?(\d{4})(?!\d)")


def scrub(text: str) -> str:
    text = _SCRUB_ID.sub(lambda m: m.group(1) + "*" * 10 + m.group(2), text)
    return _SCRUB_PHONE.sub(lambda m: m.group(1) + "****" + m.group(2), text)
