"""Signed short links for SMS texts: a citizen taps the link in a booking or six-months message and
lands on the page for that one booking or registration, without typing anything.

A link carries everything it needs and the server stores nothing: ``/s/<token>`` where the token is
``<purpose letter><key><expiry><mac>`` in a 32-letter alphabet without 0/O/1/I (read aloud or
retyped from a feature phone, case does not matter):

- the purpose (``B`` a booking, ``R`` a residence registration) — a link opens one kind of page and
  is no log-in, so a booking link can never be replayed as anything else;
- the key: a booking's 8-letter reference as printed in the same text, or a record's UUID (26
  letters);
- the last day it opens (3 letters, days since 2020-01-01, UTC);
- 40 bits of HMAC-SHA-256 over the rest, keyed from ``DOORSTEP_SECRET_KEY``. Guessing one takes
  about 10¹² tries for a single target; a wrong token and an expired one are refused alike.

Messages keep only ``"<purpose>:<key>"`` in their stored parameters (``link``); the signed URL is
made when the text is rendered for the provider, so the outbox table holds no working link, and a
retried message gets a fresh expiry. Rotating the secret key ends every link sent before."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app

from app.db import utcnow

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
EPOCH = date(2020, 1, 1)
MAC_LETTERS = 8  # 40 bits
DAY_LETTERS = 3  # 32 768 days
PURPOSES = frozenset({"B", "R"})
UUID_LETTERS = 26


class BadLink(ValueError):
    """Forged, damaged, expired or of another purpose: the page says only that it no longer opens."""


@dataclass(frozen=True)
class Link:
    purpose: str
    key: str  # a booking reference, or a UUID's text
    until: date


def _letters(number: int, width: int) -> str:
    out = []
    for _ in range(width):
        number, digit = divmod(number, 32)
        out.append(ALPHABET[digit])
    if number:
        raise ValueError("does not fit")
    return "".join(reversed(out))


def _number(letters: str) -> int:
    value = 0
    for ch in letters:
        index = ALPHABET.find(ch)
        if index < 0:
            raise BadLink("not a link")
        value = value * 32 + index
    return value


def _mac(body: str) -> str:
    key = hmac.new(current_app.config["SECRET_KEY"].encode(), b"doorstep short link v1", hashlib.sha256).digest()
    digest = hmac.new(key, body.encode(), hashlib.sha256).digest()
    return _letters(int.from_bytes(digest[:5], "big"), MAC_LETTERS)


def _encode_key(key: str) -> str:
    if len(key) == 8 and all(ch in ALPHABET for ch in key):
        return key
    return _letters(uuid.UUID(key).int, UUID_LETTERS)


def _decode_key(letters: str) -> str:
    if len(letters) == 8:
        return letters
    if len(letters) == UUID_LETTERS:
        value = _number(letters)
        if value >= 1 << 128:
            raise BadLink("not a link")
        return str(uuid.UUID(int=value))
    raise BadLink("not a link")


def token(purpose: str, key: str, until: date) -> str:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown link purpose {purpose!r}")
    body = purpose + _encode_key(key) + _letters((until - EPOCH).days, DAY_LETTERS)
    return body + _mac(body)


def url(stored: str) -> str:
    """The absolute URL for a message's stored ``"<purpose>:<key>"``, opening for LINK_DAYS days."""
    purpose, _, key = stored.partition(":")
    until = utcnow().date() + timedelta(days=current_app.config["LINK_DAYS"])
    base = str(current_app.config["PUBLIC_URL"]).rstrip("/")
    return f"{base}/s/{token(purpose, key, until)}"


def open_token(raw: str, *, today: date | None = None) -> Link:
    """The link's purpose and key, if the token is ours, intact and not past its last day."""
    text = raw.strip().upper()
    if len(text) < 1 + 8 + DAY_LETTERS + MAC_LETTERS or text[0] not in PURPOSES:
        raise BadLink("not a link")
    body, mac = text[:-MAC_LETTERS], text[-MAC_LETTERS:]
    if any(ch not in ALPHABET for ch in body[1:] + mac):
        raise BadLink("not a link")
    if not hmac.compare_digest(_mac(body), mac):
        raise BadLink("not a link")
    until = EPOCH + timedelta(days=_number(body[-DAY_LETTERS:]))
    if until < (today or utcnow().date()):
        raise BadLink("expired")
    return Link(body[0], _decode_key(body[1:-DAY_LETTERS]), until)
