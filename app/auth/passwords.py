"""Argon2id password hashing. Tests use cheap parameters; production uses the library's defaults."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

MIN_LENGTH = 10
_FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
_STRONG = PasswordHasher()
# Verified against when the username is unknown, so both paths cost the same.
_DUMMY: dict[int, str] = {}


def _hasher() -> PasswordHasher:
    return _FAST if current_app.config.get("PASSWORD_HASH_FAST") else _STRONG


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    hasher = _hasher()
    if stored is None:
        key = id(hasher)
        if key not in _DUMMY:
            _DUMMY[key] = hasher.hash("unused-dummy-password")
        stored = _DUMMY[key]
        try:
            hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            pass
        return False
    try:
        return hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
