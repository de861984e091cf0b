"""好差评: a citizen rates a visit of their own once it is completed (1–5 stars, an optional
comment, once per visit); staff read the ratings of their station, per officer. The API, the
citizens' H5 and the console's dashboard panel all call these functions."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app import audit, clock
from app.db import one_or_404
from app.errors import Conflict, Forbidden, field_error, phrase
from app.extensions import db
from app.org.models import FIELD_ROLES, User
from appointments.booking import services as bookings
from appointments.dispatch import services as dispatch
from appointments.dispatch.services import Visit
from appointments.rating.models import COMMENT_MAX as COMMENT_MAX  # re-exported: the H5's form states the limits
from appointments.rating.models import MAX_STARS as MAX_STARS  # re-exported, as above
from appointments.rating.models import MIN_STARS as MIN_STARS  # re-exported, as above
from appointments.rating.models import VisitRating


def own_visits(actor):
    """The visits of the citizen's own bookings (a delivery or follow-up visit has no booking and
    is not rated here)."""
    if actor.role != "citizen":
        raise Forbidden("only the citizen who booked a visit may rate it")
    return dispatch.visits_of_bookings(bookings.citizen_booking_ids(actor.user_id))


def rateable(actor) -> list[tuple[Visit, VisitRating | None]]:
    """The citizen's completed visits, newest first, each with its rating if it has one."""
    query = (
        own_visits(actor)
        .where(Visit.status == "completed")
        .outerjoin(VisitRating, VisitRating.visit_id == Visit.id)
        .add_columns(VisitRating)
    )
    return [(visit, rating) for visit, rating in db.session.execute(query).all()]


def own_visit(actor, visit_id) -> Visit:
    """One visit of the citizen's own; another's is "not found", as if it did not exist."""
    return one_or_404(own_visits(actor).where(Visit.id == visit_id), "visit")


def rating_of(visit_id) -> VisitRating | None:
    return db.session.execute(sa.select(VisitRating).where(VisitRating.visit_id == visit_id)).scalar_one_or_none()


def _stars(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_STARS <= value <= MAX_STARS:
        raise field_error(
            "stars", phrase("must be a whole number from %(low)s to %(high)s", low=MIN_STARS, high=MAX_STARS)
        )
    return value


def _comment(value) -> str:
    comment = (value or "").strip()
    if len(comment) > COMMENT_MAX:
        raise field_error("comment", phrase("must be at most %(limit)s characters", limit=COMMENT_MAX))
    return comment


def rate(actor, visit_id, stars, comment: str | None = None) -> VisitRating:
    """Record the citizen's rating of their completed visit. Once per visit: a second rating is a
    409 (the unique visit_id decides a race, not the read before it)."""
    stars, comment = _stars(stars), _comment(comment)
    visit = one_or_404(own_visits(actor).where(Visit.id == visit_id).with_for_update(of=Visit), "visit")
    if visit.status != "completed":
        raise Conflict("the visit can be rated once it is completed", slug="visit-not-completed")
    if rating_of(visit.id) is not None:
        raise Conflict("this visit has already been rated", slug="already-rated")
    rating = VisitRating(
        visit_id=visit.id,
        citizen_id=actor.user_id,
        station_id=visit.station_id,
        officer_id=visit.officer_id,
        stars=stars,
        comment=comment,
    )
    try:
        with db.session.begin_nested():
            db.session.add(rating)
            db.session.flush()
    except IntegrityError:
        raise Conflict("this visit has already been rated", slug="already-rated") from None
    audit.record(
        actor,
        "visit.rated",
        "visit_rating",
        rating.id,
        after={"visit_id": str(visit.id), "stars": stars, "commented": bool(comment)},
        station_id=visit.station_id,
    )
    db.session.flush()
    return rating


def ratings_visible_to(actor):
    """Staff see their station's ratings, an admin all; an officer only the ratings of their own
    visits, a citizen only their own."""
    query = sa.select(VisitRating).order_by(VisitRating.created_at.desc(), VisitRating.id)
    if actor.is_admin:
        return query
    if actor.role == "citizen":
        return query.where(VisitRating.citizen_id == actor.user_id)
    if actor.role in FIELD_ROLES:
        return query.where(VisitRating.officer_id == actor.user_id)
    return query.where(VisitRating.station_id == actor.station_id)


def rating_for(actor, visit_id) -> VisitRating:
    return one_or_404(ratings_visible_to(actor).where(VisitRating.visit_id == visit_id), "rating")


def search(actor, filters: dict):
    query = ratings_visible_to(actor)
    for key, column in (("station_id", VisitRating.station_id), ("officer_id", VisitRating.officer_id)):
        if filters.get(key) is not None:
            query = query.where(column == filters[key])
    if filters.get("from") is not None:
        query = query.where(VisitRating.created_at >= clock.day_starts(filters["from"]))
    if filters.get("to") is not None:
        query = query.where(VisitRating.created_at < clock.day_ends(filters["to"]))
    return query


def summary(actor, filters: dict | None = None) -> dict:
    """Count and average stars per station and per officer, over the same scoped query the list
    uses (a figure never counts what the list would hide)."""
    scoped = search(actor, filters or {}).order_by(None).subquery()
    average = sa.func.avg(scoped.c.stars)
    total_count, total_average = db.session.execute(sa.select(sa.func.count(), average)).one()
    stations = db.session.execute(
        sa.select(scoped.c.station_id, sa.func.count(), average)
        .group_by(scoped.c.station_id)
        .order_by(scoped.c.station_id)
    ).all()
    officers = db.session.execute(
        sa.select(scoped.c.station_id, scoped.c.officer_id, User.display_name, User.username, sa.func.count(), average)
        .outerjoin(User, User.id == scoped.c.officer_id)
        .group_by(scoped.c.station_id, scoped.c.officer_id, User.display_name, User.username)
        .order_by(average.desc(), sa.func.count().desc(), User.display_name)
    ).all()
    return {
        "count": total_count,
        "average": _round(total_average),
        "stations": [{"station_id": s, "count": n, "average": _round(a)} for s, n, a in stations],
        "officers": [
            {
                "station_id": s,
                "officer_id": o,
                "officer_name": name or username,
                "count": n,
                "average": _round(a),
            }
            for s, o, name, username, n, a in officers
        ],
    }


def _round(value) -> float | None:
    return None if value is None else round(float(value), 2)
