"""Personal information: validation, encryption at rest, blind indexes, masking.

Identity and phone numbers never reach the database, a log line or a response in plain text
unless a role needs the full value, and that read is audited by the caller.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import re
from collections.abc import Mapping
from datetime import date
from typing import Any, overload

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

from app import clock
from doorstep_protocol import identity as _identity
from doorstep_protocol.identity import check_character as identity_check_char  # noqa: F401  (GB 11643)

# Re-exported: the server masks with the protocol's own rules.
from doorstep_protocol.identity import mask
from doorstep_protocol.identity import mask_phone as mask_phone

IDENTITY = "identity"
PHONE = "phone"

_PHONE_RE = re.compile(r"^1[3-9][0-9]{9}$")  # ASCII only: \d would admit look-alike digits


class InvalidPII(ValueError):
    """The value is not a well-formed number of its kind; the message says why."""


def normalize_identity(value: str, *, today: date | None = None) -> str:
    """Return the canonical form (upper-case X) or raise ``InvalidPII``."""
    try:
        return _identity.validate(value, today=today or clock.today())
    except _identity.InvalidIdentityNumber as exc:
        raise InvalidPII(str(exc)) from None


def normalize_phone(value: str) -> str:
    """Mainland mobile numbers: 11 digits starting 1[3-9]; a +86/0086 prefix is accepted."""
    if not isinstance(value, str):
        raise InvalidPII("must be a string")
    if _PHONE_RE.fullmatch(value):
        return value  # already in canonical form, as a tablet sends it
    v = re.sub(r"[\s-]", "", value)
    v = re.sub(r"^(\+86|0086)", "", v)
    if not _PHONE_RE.match(v):
        raise InvalidPII("must be an 11-digit mainland mobile number starting 13-19")
    return v


mask_identity = mask
MASKERS = {IDENTITY: mask_identity, PHONE: mask_phone}


_AAD = {IDENTITY: IDENTITY.encode(), PHONE: PHONE.encode()}
RECENT_PLAINTEXTS = 256  # how many plaintexts ``Keys`` keeps for ciphertexts it made or opened


class Keys:
    """The keys of one app, decoded once. A sync push encrypts and indexes thousands of numbers:
    decoding the configuration or building a cipher per value cost more than the cipher, so
    code doing many takes ``keys()`` once and calls its methods."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.ciphers: list[tuple[str, AESGCM]] = []
        for part in str(config["PII_KEYS"]).split(","):
            kid, _, b64 = part.strip().partition(":")
            key = base64.b64decode(b64)
            if not kid or len(key) != 32:
                raise RuntimeError("DOORSTEP_PII_KEYS entries must be kid:base64(32 bytes)")
            self.ciphers.append((kid, AESGCM(key)))
        self.by_kid = dict(self.ciphers)
        self.blind = base64.b64decode(config["BLIND_INDEX_KEY"])
        # The plaintexts of the last few ciphertexts made or opened, by (purpose, ciphertext): a
        # booking encrypts two numbers and its snapshot, response and notice read them five times.
        # Nothing the process does not hold already (it holds the keys); bounded, and per app.
        self.recent: dict[tuple[str, str], str] = {}

    def _remember(self, purpose: str, token: str, plaintext: str) -> None:
        if len(self.recent) >= RECENT_PLAINTEXTS:
            self.recent.clear()
        self.recent[(purpose, token)] = plaintext

    def encrypt(self, purpose: str, plaintext: str | None) -> str | None:
        if plaintext is None:
            return None
        kid, cipher = self.ciphers[0]
        nonce = os.urandom(12)
        ct = cipher.encrypt(nonce, plaintext.encode(), _AAD.get(purpose) or purpose.encode())
        token = f"{kid}:{binascii.b2a_base64(nonce + ct, newline=False).decode()}"
        self._remember(purpose, token, plaintext)
        return token

    def decrypt(self, purpose: str, token: str | None) -> str | None:
        if token is None:
            return None
        known = self.recent.get((purpose, token))
        if known is not None:
            return known
        kid, _, b64 = token.partition(":")
        cipher = self.by_kid.get(kid)
        if cipher is None:
            raise RuntimeError(f"PII key {kid!r} is not configured")
        raw = base64.b64decode(b64)
        plaintext = cipher.decrypt(raw[:12], raw[12:], purpose.encode()).decode()
        self._remember(purpose, token, plaintext)
        return plaintext

    def blind_index(self, purpose: str, normalized: str | None) -> str | None:
        if normalized is None:
            return None
        return hmac.digest(self.blind, f"{purpose}:{normalized}".encode(), "sha256").hex()


def keys() -> Keys:
    """The current app's keys."""
    found = current_app.extensions.get("doorstep.pii_keys")
    if found is None:
        found = current_app.extensions["doorstep.pii_keys"] = Keys(current_app.config)
    return found


def encrypt(purpose: str, plaintext: str | None) -> str | None:
    """AES-256-GCM under the current key; the purpose is bound as associated data so a
    ciphertext cannot be moved to another column. Format: ``kid:base64(nonce||ct)``."""
    return keys().encrypt(purpose, plaintext)


@overload
def decrypt(purpose: str, token: str) -> str: ...
@overload
def decrypt(purpose: str, token: None) -> None: ...
@overload
def decrypt(purpose: str, token: str | None) -> str | None: ...
def decrypt(purpose: str, token: str | None) -> str | None:
    return keys().decrypt(purpose, token)


@overload
def blind_index(purpose: str, normalized: str) -> str: ...
@overload
def blind_index(purpose: str, normalized: None) -> None: ...
@overload
def blind_index(purpose: str, normalized: str | None) -> str | None: ...
def blind_index(purpose: str, normalized: str | None) -> str | None:
    """HMAC-SHA-256 under a key separate from the encryption keys: equality look-up only."""
    return keys().blind_index(purpose, normalized)


# Patterns for scrubbing free text (log lines): any 18-char identity-shaped or mobile-shaped run.
_SCRUB_ID = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{3})\d{10}(\d{3}[\dXx])(?![0-9A-Za-z])")
_SCRUB_PHONE = re.compile(r"(?<!\d)(?:\+?86[ -]?)?(1[3-9]\d)[ -]?\d{4}[ -]?(\d{4})(?!\d)")


def scrub(text: str) -> str:
    text = _SCRUB_ID.sub(lambda m: m.group(1) + "*" * 10 + m.group(2), text)
    return _SCRUB_PHONE.sub(lambda m: m.group(1) + "****" + m.group(2), text)
