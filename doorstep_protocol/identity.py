"""Citizen identity numbers (GB 11643-1999): validation, the two normal forms, masking.

Two normal forms, for two jobs. ``validate`` is what the server stores and indexes: 18 ASCII
characters, a real birth date, the ISO 7064 MOD 11-2 check character, upper-case X.
``normalize_for_hint`` is what a receipt's identity hint is computed over at the door, where the
tablet cannot refuse a card: NFKC (full-width digits typed on a Chinese keyboard become ASCII),
trimmed, upper-case X, nothing checked but emptiness.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from operator import mul
from typing import overload

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"
_WEIGHT_SUM = sum(WEIGHTS)
_SHAPE = re.compile(r"^[1-9][0-9]{5}([0-9]{4})([0-9]{2})([0-9]{2})[0-9]{3}[0-9X]$")  # ASCII digits only


class InvalidIdentityNumber(ValueError):
    """``reason`` is a stable slug (the vectors name it), the message a sentence for people."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def check_character(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of 17 ASCII digits (each byte is the digit plus 48, so
    the weighted sum of the bytes is the digits' plus 48 times the weights')."""
    return CHECK_CHARACTERS[(sum(map(mul, first17.encode(), WEIGHTS)) - 48 * _WEIGHT_SUM) % 11]


def validate(value: object, *, today: date) -> str:
    """The canonical form (trimmed, upper-case X) or ``InvalidIdentityNumber``. ``today`` bounds
    the birth date: the caller's clock, never read here."""
    if not isinstance(value, str):
        raise InvalidIdentityNumber("not-a-string", "must be a string")
    v = value.strip().upper()
    if len(v) != 18:
        raise InvalidIdentityNumber("length", "must be 18 characters")
    if not _SHAPE.match(v):
        raise InvalidIdentityNumber(
            "shape", "must be 17 digits and a check character (0-9 or X), region code not starting with 0"
        )
    year, month, day = int(v[6:10]), int(v[10:12]), int(v[12:14])
    try:
        born = date(year, month, day)
    except ValueError:
        raise InvalidIdentityNumber("birth-date-invalid", "birth date is not a real date") from None
    if born > today or year < 1900:
        raise InvalidIdentityNumber("birth-date-out-of-range", "birth date is out of range")
    if check_character(v[:17]) != v[17]:
        raise InvalidIdentityNumber("check-character", "check character does not match")
    return v


def normalize_for_hint(value: object) -> str:
    """The form a receipt's identity hint is computed over; ValueError only when empty."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("the identity number is empty")
    return unicodedata.normalize("NFKC", value).strip().upper()


def mask(value: str | None) -> str | None:
    """What a screen or a feed shows: the first four and last four characters."""
    return None if value is None else value[:4] + "*" * 10 + value[-4:]


@overload
def mask_phone(value: str) -> str: ...
@overload
def mask_phone(value: None) -> None: ...
@overload
def mask_phone(value: str | None) -> str | None: ...
def mask_phone(value: str | None) -> str | None:
    return None if value is None else value[:3] + "****" + value[-4:]
