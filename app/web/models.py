"""The console's server-side sessions: the browser holds only a random id, the row holds the rest."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import mapped_column, relationship

from app.db import UTCDateTime, utcnow
from app.extensions import Model


class ConsoleSession(Model):
    """One logged-in browser. Keyed by the SHA-256 of the cookie's value, so a copy of this table
    opens no session; deleted at logout, and ignored once idle or past its absolute lifetime."""

    __tablename__ = "console_session"
    id_hash = mapped_column(sa.String(64), primary_key=True)
    user_id = mapped_column(sa.Uuid, sa.ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False, index=True)
    csrf_token = mapped_column(sa.String(64), nullable=False)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_seen_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    expires_at = mapped_column(UTCDateTime, nullable=False, index=True)

    user = relationship("User")
