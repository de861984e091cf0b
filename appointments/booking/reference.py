"""The booking reference as a citizen reads, writes and types it: the stored eight characters
(drawn at random, unique) and a ninth, a check character, so a mistyped or misheard reference is
caught as a typo instead of finding nothing, or another booking.

The check is Luhn mod N over the 32-character alphabet (docs/decisions.md, 87): it catches every
single wrong character and every swap of two neighbours but one pair ("2" and "Z"). It is derived
from the stored reference, so no column or migration holds it and every old booking has one."""

from __future__ import annotations

import re
import secrets

from app.errors import phrase

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O/1/I: read over the phone
STORED_LENGTH = 8
_N = len(ALPHABET)
_BYTES = STORED_LENGTH * 5 // 8  # 32 characters: five bits each (tests/appointments/booking/test_reference.py)
_SEPARATORS = re.compile(r"[\s\-_.·]+")


class InvalidReference(ValueError):
    """Not a booking reference: the message says why, in the API's words."""


def new() -> str:
    """Eight characters of five random bits each, cut from one read of the system's random source:
    ``secrets.choice`` read it once per character, eight system calls a booking. The alphabet has
    32 characters, so every character stays exactly as likely as any other."""
    bits = int.from_bytes(secrets.token_bytes(_BYTES), "big")
    return "".join(ALPHABET[(bits >> (5 * i)) & 31] for i in range(STORED_LENGTH))


def check_character(stored: str) -> str:
    """Luhn mod 32: from the right, every other character's value is doubled (and its two base-32
    digits added), the sum's complement mod 32 is the check."""
    total = 0
    for i, char in enumerate(reversed(stored)):
        value = ALPHABET.index(char)
        if i % 2 == 0:
            value *= 2
            value = value // _N + value % _N
        total += value
    return ALPHABET[(_N - total % _N) % _N]


def with_check(stored: str) -> str:
    """The nine characters the API returns as ``reference_code`` and a citizen is shown."""
    return stored + check_character(stored)


def display(stored: str) -> str:
    """Grouped in threes for reading aloud: ``7KQ-2MX-9PW``."""
    code = with_check(stored)
    return "-".join(code[i : i + 3] for i in range(0, len(code), 3))


def parse(text: str) -> str:
    """The stored reference from what someone typed: case, spaces and dashes do not matter; eight
    characters are taken as they are (the SMS texts sent before the check existed), nine must
    carry the right check character."""
    code = _SEPARATORS.sub("", text or "").upper()
    if len(code) not in (STORED_LENGTH, STORED_LENGTH + 1):
        raise InvalidReference("a booking reference has 9 characters, like 7KQ-2MX-9PW")
    wrong = sorted({c for c in code if c not in ALPHABET})
    if wrong:
        raise InvalidReference(
            phrase("a booking reference has no %(letters)s (it never uses 0, 1, I or O)", letters=", ".join(wrong))
        )
    stored = code[:STORED_LENGTH]
    if len(code) > STORED_LENGTH and check_character(stored) != code[-1]:
        raise InvalidReference("the reference has a typo: one of its characters is wrong")
    return stored
