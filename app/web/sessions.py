"""Console sessions kept in the database, so any app node answers any request and logout ends a
session everywhere at once.

The cookie carries a random 256-bit id and nothing else; the table keeps its SHA-256. A new id
is issued at every log-in (never an id the browser brought: session fixation), a session ends
after ``DOORSTEP_CONSOLE_IDLE_MINUTES`` without a request or ``DOORSTEP_CONSOLE_SESSION_HOURS``
after log-in whichever comes first, and logout deletes its row."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from app.db import affected, sqlite_begin_mode, utcnow
from app.extensions import db
from app.org.models import User
from app.unit_of_work import commit_now
from app.web.models import ConsoleSession

CONSOLE_ROLES = ("staff", "admin")
# last_seen_at is written at most this often: a page's every request need not be a write.
TOUCH_EVERY = timedelta(seconds=60)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def cookie_secure() -> bool:
    """Plain HTTP only where nobody else is on the wire: development and the tests."""
    return current_app.config["ENV"] not in ("development", "test")


def cookie_name() -> str:
    """``__Host-`` where the cookie is Secure: the browser then refuses it from a sub-domain or
    with a ``Domain``/``Path`` that would let another site plant a session id."""
    return "__Host-doorstep" if cookie_secure() else "doorstep"


def login_cookie_name() -> str:
    return "__Host-doorstep-login" if cookie_secure() else "doorstep-login"


def idle_limit() -> timedelta:
    return timedelta(minutes=current_app.config["CONSOLE_IDLE_MINUTES"])


def lifetime() -> timedelta:
    return timedelta(hours=current_app.config["CONSOLE_SESSION_HOURS"])


@dataclass(frozen=True)
class Opened:
    token: str  # the cookie's value; never stored
    row: ConsoleSession


def open_session(user: User) -> Opened:
    """A fresh session for ``user``; the request's unit of work commits, the view sets the cookie."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = ConsoleSession(
        id_hash=_hash(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetime(),
    )
    db.session.add(row)
    db.session.flush()
    return Opened(token, row)


def find(token: str | None, roles: tuple[str, ...] = CONSOLE_ROLES) -> ConsoleSession | None:
    """The live session of this cookie value, or None: unknown, idle too long, past its lifetime,
    or its account deactivated or no longer of one of ``roles`` (the console's, or the citizens'
    H5's: one table, separate cookies)."""
    if not token or len(token) > 100:
        return None
    row = db.session.execute(
        sa.select(ConsoleSession).join(User).where(ConsoleSession.id_hash == _hash(token))
    ).scalar_one_or_none()
    if row is None:
        return None
    now = utcnow()
    if row.expires_at <= now or row.last_seen_at + idle_limit() <= now:
        return None
    if not row.user.active or row.user.role not in roles:
        return None
    return row


def touch(row: ConsoleSession) -> None:
    """Move the idle deadline on (at most once a minute), in its own short write."""
    now = utcnow()
    if now - row.last_seen_at < TOUCH_EVERY:
        return
    # Its own short write, apart from the page's unit: the read-only transaction this request
    # began ends here (on SQLite a GET never holds the write lock), and the deadline moves on
    # even if the page then fails.
    commit_now("end the read-only transaction before touching the console session")
    token = sqlite_begin_mode.set("IMMEDIATE")
    try:
        db.session.execute(
            sa.update(ConsoleSession)
            .where(ConsoleSession.id_hash == row.id_hash)
            .values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )
        commit_now("console session idle deadline moved")
    finally:
        sqlite_begin_mode.reset(token)


def end(token: str | None) -> ConsoleSession | None:
    """Delete the session of this cookie value (whatever its state); return what it was."""
    if not token or len(token) > 100:
        return None
    row = db.session.get(ConsoleSession, _hash(token))
    if row is not None:
        db.session.delete(row)
        db.session.flush()
    return row


def purge_expired() -> int:
    """Delete sessions past their lifetime or idle too long; the unit of work commits."""
    now = utcnow()
    return affected(
        sa.delete(ConsoleSession)
        .where(sa.or_(ConsoleSession.expires_at <= now, ConsoleSession.last_seen_at <= now - idle_limit()))
        .execution_options(synchronize_session=False)
    )
