"""Which database failures are transient: the same work a moment later would succeed."""

from __future__ import annotations

from typing import TypeGuard

import sqlalchemy as sa

RETRY_SQLSTATES = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock not available


def is_retryable(exc: BaseException) -> TypeGuard[sa.exc.DBAPIError]:
    """A failure of the database's, not of the request's: worth the same work again."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    if exc.connection_invalidated or getattr(exc.orig, "sqlstate", None) in RETRY_SQLSTATES:
        return True
    return isinstance(exc, sa.exc.OperationalError)  # lost connection; SQLite still locked
