"""好差评: a citizen's rating of a completed visit, one per visit."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import mapped_column, relationship

from app.db import UTCDateTime, new_id, utcnow
from app.extensions import Model

MIN_STARS, MAX_STARS = 1, 5
COMMENT_MAX = 500


class VisitRating(Model):
    """One citizen's stars and comment for one completed visit. The visit's station and officer
    are copied in when it is rated: the dashboard groups by them, and a completed visit's officer
    no longer changes."""

    __tablename__ = "visit_rating"
    __table_args__ = (
        sa.CheckConstraint(f"stars BETWEEN {MIN_STARS} AND {MAX_STARS}", name="stars"),
        sa.Index("ix_visit_rating_station_officer", "station_id", "officer_id"),
    )
    id = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    # unique: once per visit is a database fact, not a read-then-write
    visit_id = mapped_column(sa.Uuid, sa.ForeignKey("visit.id"), unique=True, nullable=False)
    citizen_id = mapped_column(sa.Uuid, sa.ForeignKey("user_account.id"), nullable=False, index=True)
    station_id = mapped_column(sa.Uuid, sa.ForeignKey("station.id"), nullable=False)
    officer_id = mapped_column(sa.Uuid, sa.ForeignKey("user_account.id"), nullable=True)
    stars = mapped_column(sa.SmallInteger, nullable=False)
    comment = mapped_column(sa.String(COMMENT_MAX), nullable=False, default="")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    visit = relationship("Visit")
    officer = relationship("User", foreign_keys=[officer_id])
