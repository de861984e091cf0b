"""Argon2id password hashing. Tests use cheap parameters; production uses the library's defaults
(RFC 9106's second recommendation: t=3, m=64 MiB, p=4).

Verifying reuses one working memory per process (decision 114). The library allocates Argon2's
64 MiB for every verification and unmaps it after: the kernel then supplies, zeroes and maps
16,384 fresh pages each time, which cost more CPU than a third of the hash itself on the 2-core
server (about 190 ms of CPU a verification, 115 ms without the faults). ``ReusingHasher`` hands
the library, through Argon2's own allocation hook (``argon2_context.allocate_cbk``), one buffer
mapped once per process (with transparent huge pages where the kernel offers them on request).
The parameters, the encoded hashes and the comparison are Argon2's: only where its memory comes
from changes. The library still wipes the memory after each use (``clear_internal_memory``), so
nothing derived from a password stays in the buffer between log-ins.

One buffer means one verification at a time per process: the others queue on a lock instead of
sharing the cores with it (a gunicorn worker has a few threads, so the queue is short). A
verification that waits longer than ``WAIT_SECONDS`` for it uses the library's own allocation
instead, as before, rather than wait on. The lock is held only around the C call, which takes no
other lock and calls back into Python only to be handed the buffer, so it cannot deadlock; a forked
child starts with a fresh lock and no buffer (``os.register_at_fork``).
"""

from __future__ import annotations

import base64
import hmac
import mmap
import os
import threading
from dataclasses import dataclass
from typing import Any, Literal

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.low_level import ARGON2_VERSION, core, error_to_str, ffi
from flask import current_app

MIN_LENGTH = 10
# How long a verification waits for the process's working memory before allocating its own.
WAIT_SECONDS = 5.0
# Hashes asking for more memory than this are verified the library's way (no buffer kept that big).
MAX_REUSED_KIB = 256 * 1024
_ALLOCATION_ERROR = -22  # ARGON2_MEMORY_ALLOCATION_ERROR: the library reports it and gives up


@dataclass(frozen=True)
class _Encoded:
    """An ``$argon2id$v=19$m=…,t=…,p=…$salt$hash`` string, taken apart."""

    time_cost: int
    memory_cost: int  # KiB
    parallelism: int
    salt: bytes
    digest: bytes


def _b64(text: str) -> bytes | None:
    """Argon2's unpadded standard base64, canonical only (else None: the library decides)."""
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except ValueError:
        return None
    return raw if base64.b64encode(raw).decode().rstrip("=") == text else None


def _parse(encoded: str) -> _Encoded | None:
    """The parts of a current Argon2id hash, or None for anything else (other types, versions or
    spellings), which the library's own verification handles."""
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] or parts[1] != "argon2id" or parts[2] != f"v={ARGON2_VERSION}":
        return None
    try:
        params = dict(item.split("=", 1) for item in parts[3].split(","))
        m, t, p = (int(params.pop(k)) for k in ("m", "t", "p"))
    except (KeyError, ValueError):
        return None
    salt, digest = _b64(parts[4]), _b64(parts[5])
    if params or salt is None or digest is None or not 0 < m <= MAX_REUSED_KIB or t < 1 or p < 1:
        return None
    return _Encoded(t, m, p, salt, digest)


class _Memory:
    """The process's Argon2 working memory and the lock that lends it to one verification."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.size = 0
        self.view: Any = ffi.NULL  # the mapped buffer, as the C array the library writes
        self.lent: Any = ffi.NULL  # the same, while a verification holds the lock
        self.maps = 0  # how many times it was mapped (the tests read these two)
        self.lends = 0

    def lend(self, size: int) -> None:
        """Lend the buffer to the caller's verification, first (re)mapping it if it is smaller
        than ``size``. Under ``lock``."""
        if self.size < size:
            self.view = ffi.NULL  # the old mapping goes with its last reference
            buffer = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
            if hasattr(mmap, "MADV_HUGEPAGE"):
                buffer.madvise(mmap.MADV_HUGEPAGE)  # 32 faults instead of 16,384, where offered
            self.view, self.size = ffi.from_buffer("uint8_t[]", buffer), size
            self.maps += 1
        self.lent = self.view
        self.lends += 1


_memory = _Memory()


def _reset_after_fork() -> None:
    global _memory
    _memory = _Memory()


os.register_at_fork(after_in_child=_reset_after_fork)


def _lend(memory: Any, size: int) -> int:
    lent = _memory.lent
    if lent == ffi.NULL or size > _memory.size:
        return _ALLOCATION_ERROR
    memory[0] = lent
    return 0


def _give_back(memory: Any, size: int) -> None:
    """The library has wiped the memory; it stays mapped for the next verification."""


# Argon2's allocation hooks (``allocate_cbk``, ``free_cbk``). A Python error in ``_lend`` would
# answer the allocation error, never a null buffer.
_LEND = ffi.callback("int(uint8_t **, size_t)", _lend, error=_ALLOCATION_ERROR)
_GIVE_BACK = ffi.callback("void(uint8_t *, size_t)", _give_back)


class ReusingHasher(PasswordHasher):
    """``PasswordHasher`` whose ``verify`` runs in the process's reused working memory."""

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        text = hash.decode("ascii", "replace") if isinstance(hash, bytes) else hash
        parsed = _parse(text)
        if parsed is None:
            return super().verify(hash, password)
        secret = password.encode(self.encoding) if isinstance(password, str) else password
        memory = _memory
        if not memory.lock.acquire(timeout=WAIT_SECONDS):
            return super().verify(hash, password)
        try:
            memory.lend(_bytes_needed(parsed))
            digest = _argon2id(parsed, secret)
        finally:
            memory.lent = ffi.NULL
            memory.lock.release()
        if not hmac.compare_digest(digest, parsed.digest):
            raise VerifyMismatchError("The password does not match the supplied hash")
        return True


def _bytes_needed(parsed: _Encoded) -> int:
    """What Argon2 allocates for these parameters: m KiB, at least 8 blocks a lane, rounded down to
    whole segments (4 a lane)."""
    blocks = max(parsed.memory_cost, 8 * parsed.parallelism)
    return blocks // (4 * parsed.parallelism) * (4 * parsed.parallelism) * 1024


def _argon2id(parsed: _Encoded, secret: bytes) -> bytes:
    out = ffi.new("uint8_t[]", len(parsed.digest))
    pwd, salt = ffi.new("uint8_t[]", secret), ffi.new("uint8_t[]", parsed.salt)
    ctx = ffi.new(
        "argon2_context *",
        {
            "out": out,
            "outlen": len(parsed.digest),
            "pwd": pwd,
            "pwdlen": len(secret),
            "salt": salt,
            "saltlen": len(parsed.salt),
            "secret": ffi.NULL,
            "secretlen": 0,
            "ad": ffi.NULL,
            "adlen": 0,
            "t_cost": parsed.time_cost,
            "m_cost": parsed.memory_cost,
            "lanes": parsed.parallelism,
            "threads": parsed.parallelism,  # as the library's own verification
            "version": ARGON2_VERSION,
            "allocate_cbk": _LEND,
            "free_cbk": _GIVE_BACK,
            "flags": 0,  # ARGON2_DEFAULT_FLAGS
        },
    )
    rc = core(ctx, Type.ID.value)
    if rc != 0:
        raise VerificationError(error_to_str(rc))
    return bytes(ffi.buffer(out, len(parsed.digest)))


_FAST = ReusingHasher(time_cost=1, memory_cost=1024, parallelism=1)
_STRONG = ReusingHasher()
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
