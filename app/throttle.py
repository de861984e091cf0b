"""Counters that slow down, lock out and rate-limit, kept in the database so every app node
enforces the same limits. Each check-and-count happens under a row lock and commits before
the expensive or sensitive work it guards, so parallel attempts cannot slip past the limit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from app.auth.models import Throttle
from app.db import locked_row, utcnow
from app.errors import TooManyRequests
from app.extensions import db


@dataclass(frozen=True)
class Policy:
    window: int  # seconds over which events are counted
    limit: int  # events allowed per window; the next one is refused
    lock_for: int | None = None  # reaching the limit locks the key this long (else: until the window ends)
    slowdown_after: int | None = None  # after this many events each next one waits 2**(n - k) s
    min_interval: int | None = None  # seconds that must pass between two events


def take(key: str, policy: Policy, message: str) -> None:
    """Count one event for ``key`` or raise 429 with ``Retry-After``. The caller commits the count
    by name (``unit_of_work.commit_now``) when it must stand although the request is refused."""
    take_all([(key, policy, message)])


def take_all(checks: list[tuple[str, Policy, str]]) -> None:
    """Count one event for every key, or for none: each is checked first, and a refusal the
    limiter makes is never counted. Counting the address of a log-in the account's lock refused
    would let one locked account (or one busy NAT) lock out everyone behind that address."""
    now = utcnow()
    rows = [
        (
            locked_row(db.session, Throttle, {"key": key}, {"count": 0, "window_started_at": now, "last_at": now}),
            policy,
            message,
        )
        for key, policy, message in sorted(checks, key=lambda c: c[0])
    ]
    for row, policy, message in rows:
        _check(row, policy, message, now)
    for row, policy, _message in rows:
        row.count += 1
        row.last_at = now
        if row.count >= policy.limit and policy.lock_for:
            row.locked_until = now + timedelta(seconds=policy.lock_for)


def _check(row: Throttle, policy: Policy, message: str, now: datetime) -> None:
    if row.locked_until and row.locked_until > now:
        raise TooManyRequests(message, retry_after=(row.locked_until - now).total_seconds())
    if row.window_started_at + timedelta(seconds=policy.window) <= now or (
        row.locked_until and row.count >= policy.limit
    ):
        row.count, row.window_started_at, row.locked_until = 0, now, None
    if row.count >= policy.limit:
        raise TooManyRequests(
            message, retry_after=(row.window_started_at + timedelta(seconds=policy.window) - now).total_seconds()
        )
    wait = 0.0
    if policy.min_interval and row.count:
        wait = policy.min_interval
    if policy.slowdown_after is not None and row.count >= policy.slowdown_after:
        wait = max(wait, 2 ** (row.count - policy.slowdown_after))
    if wait and (now - row.last_at).total_seconds() < wait:
        raise TooManyRequests(message, retry_after=wait - (now - row.last_at).total_seconds())


# Run as they stand, without the ORM's matching of the rows already loaded: no caller reads a
# counter after clearing or giving it back.
_AS_IS = {"synchronize_session": False}


def clear(key: str) -> None:
    db.session.execute(sa.delete(Throttle).where(Throttle.key == key), execution_options=_AS_IS)


def give_back(key: str) -> None:
    """Undo one counted event (a login that turned out to be good must not count against its
    address): one conditional decrement, so concurrent give-backs each take one off."""
    db.session.execute(
        sa.update(Throttle).where(Throttle.key == key, Throttle.count > 0).values(count=Throttle.count - 1),
        execution_options=_AS_IS,
    )
