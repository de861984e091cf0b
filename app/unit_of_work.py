"""Where a unit of work that lost a race is tried again.

Two writers that lock the same rows can still meet in a deadlock (PostgreSQL picks a victim) or a
serialization failure, and SQLite can stay busy past its timeout. Each is transient: the same
work a moment later succeeds. So a request (or a sync push) that failed that way, and had not
committed anything yet, is rolled back and run again, a few times, after a jittered pause; a
unit that still fails is answered 503 with ``Retry-After`` — never a 500, which would say the
request itself is wrong."""

from __future__ import annotations

import contextvars
import random
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

ATTEMPTS = 4
RETRY_SQLSTATES = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock not available

_commits: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar("uow_commits", default=None)


def is_retryable(exc: BaseException) -> bool:
    """A failure of the database's, not of the request's: worth the same work again."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    if exc.connection_invalidated or getattr(exc.orig, "sqlstate", None) in RETRY_SQLSTATES:
        return True
    return isinstance(exc, sa.exc.OperationalError)  # lost connection; SQLite still locked


@event.listens_for(Session, "after_commit")
def _count_commit(session):
    counter = _commits.get()
    if counter is not None and not session.in_nested_transaction():  # a savepoint's release is no commit
        counter[0] += 1


def retrying(work, session):
    """Run ``work()``; when it fails transiently before committing anything, roll back and run it
    again (at most ``ATTEMPTS`` times). Work that had committed is never re-run: it would apply
    twice."""
    token = _commits.set([0])
    try:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return work()
            except Exception as exc:
                if not is_retryable(exc) or attempt == ATTEMPTS or _commits.get()[0]:
                    raise
                session.rollback()
                time.sleep(random.uniform(0.01, 0.05) * 2**attempt)  # noqa: S311 (jitter, not a secret)
    finally:
        _commits.reset(token)
