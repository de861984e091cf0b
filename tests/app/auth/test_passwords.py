"""Argon2id verification in the process's reused working memory (``app.auth.passwords``, decision
113): the same answers as the library's own verification, one buffer mapped once and wiped after
each use, one verification at a time per process, and the library's way when the buffer is busy
for too long or the hash is not a current Argon2id one."""

from __future__ import annotations

import threading

import pytest
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.low_level import ffi

from app.auth import passwords

CHEAP = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}
SECRET = "correct horse 電池 staple"


@pytest.fixture
def memory(monkeypatch):
    """A fresh working memory for the test (the process's own is left as it was)."""
    fresh = passwords._Memory()
    monkeypatch.setattr(passwords, "_memory", fresh)
    return fresh


@pytest.mark.parametrize(
    "params",
    [
        CHEAP,
        {"time_cost": 2, "memory_cost": 100, "parallelism": 3},
        {"time_cost": 1, "memory_cost": 8, "parallelism": 1},
    ],
)
def test_it_answers_as_the_library_does(memory, params):
    stored = PasswordHasher(**params).hash(SECRET)
    hasher = passwords.ReusingHasher(**params)
    assert hasher.verify(stored, SECRET) is True
    assert hasher.verify(stored.encode(), SECRET.encode()) is True
    with pytest.raises(VerifyMismatchError):
        hasher.verify(stored, SECRET + "!")
    assert memory.lends == 3  # every one of them in the reused memory


def test_the_production_parameters_verify_in_the_reused_memory(memory):
    stored = PasswordHasher().hash(SECRET)
    assert "$argon2id$v=19$m=65536,t=3,p=4$" in stored  # the parameters this is about
    assert passwords._STRONG.verify(stored, SECRET) is True
    with pytest.raises(VerifyMismatchError):
        passwords._STRONG.verify(stored, "wrong password")
    assert (memory.maps, memory.lends, memory.size) == (1, 2, 64 * 1024 * 1024)


def test_the_memory_is_mapped_once_and_wiped_after_each_use(memory):
    hasher = passwords.ReusingHasher(**CHEAP)
    stored = PasswordHasher(**CHEAP).hash(SECRET)
    for _ in range(3):
        assert hasher.verify(stored, SECRET)
    assert (memory.maps, memory.lends) == (1, 3)
    assert memory.lent == ffi.NULL  # given back
    # Nothing derived from the password stays in the process between log-ins.
    assert ffi.buffer(memory.view, memory.size)[:] == bytes(memory.size)
    bigger = {**CHEAP, "memory_cost": 2048}
    assert passwords.ReusingHasher(**bigger).verify(PasswordHasher(**bigger).hash(SECRET), SECRET)
    assert hasher.verify(stored, SECRET)  # the smaller one fits the bigger buffer
    assert (memory.maps, memory.lends, memory.size) == (2, 5, 2048 * 1024)


def test_other_hashes_are_verified_by_the_library(memory):
    hasher = passwords.ReusingHasher(**CHEAP)
    assert hasher.verify(PasswordHasher(type=Type.I, **CHEAP).hash(SECRET), SECRET) is True  # another type
    # No version: Argon2 1.0's spelling, which the library reads as 1.0 (and this hash is not).
    with pytest.raises(VerifyMismatchError):
        hasher.verify(PasswordHasher(**CHEAP).hash(SECRET).replace("$v=19", ""), SECRET)
    assert memory.lends == 0


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "not a hash",
        "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$",
        "$argon2id$v=19$m=1024,t=1,p=1,x=2$c2FsdHNhbHQ$aGFzaGhhc2g",
        "$argon2id$v=19$m=1024,t=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        "$argon2id$v=19$m=1024,t=1,p=1$c2Fsd*Nhb$aGFzaGhhc2g",
        "$argon2xx$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
    ],
)
def test_a_malformed_hash_is_refused(memory, stored):
    with pytest.raises((InvalidHashError, VerificationError)):  # both a wrong password to log-in
        passwords.ReusingHasher(**CHEAP).verify(stored, SECRET)
    assert memory.lent == ffi.NULL


def test_parameters_argon2_refuses_are_a_verification_error(memory):
    stored = PasswordHasher(**CHEAP).hash(SECRET)
    salt = stored.split("$")[4]
    short = stored.replace(f"${salt}$", "$c2FsdA$")  # a 4-byte salt: Argon2 wants at least 8
    assert passwords.ReusingHasher(**CHEAP).verify(stored, SECRET)
    with pytest.raises(VerificationError):
        passwords.ReusingHasher(**CHEAP).verify(short, SECRET)
    assert memory.lent == ffi.NULL and not memory.lock.locked()


def test_one_verification_at_a_time_per_process(memory, monkeypatch):
    """Concurrent log-ins queue for the memory instead of sharing the cores (and the buffer)."""
    inside, most = [0], [0]
    count = threading.Lock()
    real = passwords.core

    def watched(ctx, kind):
        with count:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        try:
            return real(ctx, kind)
        finally:
            with count:
                inside[0] -= 1

    monkeypatch.setattr(passwords, "core", watched)
    hasher = passwords.ReusingHasher(**CHEAP)
    stored = PasswordHasher(**CHEAP).hash(SECRET)
    n = 6
    barrier, results = threading.Barrier(n), [None] * n

    def verify(i):
        barrier.wait(30)
        try:
            results[i] = hasher.verify(stored, SECRET if i % 2 else "wrong")
        except VerifyMismatchError:
            results[i] = False

    threads = [threading.Thread(target=verify, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [False, True] * (n // 2)
    assert most[0] == 1 and memory.lends == n


def test_a_verification_kept_waiting_allocates_its_own_memory(memory, monkeypatch):
    monkeypatch.setattr(passwords, "WAIT_SECONDS", 0)
    hasher = passwords.ReusingHasher(**CHEAP)
    stored = PasswordHasher(**CHEAP).hash(SECRET)
    with memory.lock:  # another verification holds it
        assert hasher.verify(stored, SECRET) is True
        with pytest.raises(VerifyMismatchError):
            hasher.verify(stored, "wrong")
    assert memory.lends == 0


def test_a_forked_child_starts_with_its_own_lock_and_no_memory(memory, monkeypatch):
    hasher = passwords.ReusingHasher(**CHEAP)
    assert hasher.verify(PasswordHasher(**CHEAP).hash(SECRET), SECRET)
    memory.lock.acquire()  # held by a thread that a child process would not have
    passwords._reset_after_fork()
    child = passwords._memory
    assert child is not memory and not child.lock.locked() and child.size == 0
    memory.lock.release()
