"""Counts of the station's visits and bookings for the console's dashboard. Each one is taken over
the same scoped queries the API lists with (``visits_visible_to``, ``bookings_visible_to``), so a
count never shows what the list would hide."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa

from app import clock
from app.extensions import db
from app.org.models import FIELD_ROLES, User
from app.org.scoping import users_visible_to
from appointments.booking.services import Booking, bookings_visible_to
from appointments.dispatch import states as visit_states
from appointments.dispatch.services import Visit, officers_on_leave, queue

# Visits that were due on their day: moved (rescheduled) and cancelled ones were not.
_DUE_EXCLUDED = ("cancelled", "rescheduled")


def visits_by_status(actor, day: date) -> dict[str, int]:
    """Every visit status (zeros included) with the count of the day's visits in it."""
    scoped = queue(actor, {"day": day}).order_by(None).subquery()
    counts = dict.fromkeys(
        ("requested", "assigned", "en_route", "completed", "not_home", "rescheduled", "cancelled"), 0
    )
    counts.update(db.session.execute(sa.select(scoped.c.status, sa.func.count()).group_by(scoped.c.status)).all())
    return counts


def unassigned(actor, from_day: date, limit: int) -> tuple[list[Visit], int]:
    """Open visits with no officer from ``from_day`` on, soonest first, and how many there are."""
    query = queue(actor, {"unassigned": True}).where(Visit.day >= from_day, Visit.status.in_(visit_states.OPEN))
    total = db.session.execute(query.with_only_columns(sa.func.count()).order_by(None)).scalar_one()
    return list(db.session.execute(query.limit(limit)).scalars()), total


def officer_load(actor, day: date) -> list[dict]:
    """Each active officer the actor sees: open and all visits of ``day``, and leave that day."""
    officers = (
        db.session.execute(
            users_visible_to(actor)
            .where(User.role.in_(FIELD_ROLES), User.active.is_(True))
            .order_by(None)
            .order_by(User.display_name, User.username)
        )
        .scalars()
        .all()
    )
    scoped = queue(actor, {"day": day}).order_by(None).subquery()
    rows = db.session.execute(
        sa.select(
            scoped.c.officer_id,
            sa.func.count(),
            sa.func.sum(sa.case((scoped.c.status.in_(visit_states.OPEN), 1), else_=0)),
        )
        .where(scoped.c.officer_id.is_not(None))
        .group_by(scoped.c.officer_id)
    ).all()
    per_officer = {officer_id: (total, int(open_ or 0)) for officer_id, total, open_ in rows}
    on_leave = set(db.session.execute(officers_on_leave(actor, day)).scalars())
    return [
        {
            "officer": o,
            "total": per_officer.get(o.id, (0, 0))[0],
            "open": per_officer.get(o.id, (0, 0))[1],
            "on_leave": o.id in on_leave,
        }
        for o in officers
    ]


def bookings_per_day(actor, start: date, end: date) -> list[tuple[date, int]]:
    """Bookings made on each local day from ``start`` to ``end`` (both included)."""
    made = db.session.execute(
        bookings_visible_to(actor)
        .with_only_columns(Booking.created_at)
        .order_by(None)
        .where(Booking.created_at >= clock.day_starts(start), Booking.created_at < clock.day_ends(end))
    ).scalars()
    counts = {start + timedelta(days=i): 0 for i in range((end - start).days + 1)}
    for created in made:
        counts[created.astimezone(clock.LOCAL_TZ).date()] += 1
    return sorted(counts.items())


def on_time_rate(actor, start: date, end: date) -> list[tuple[date, float | None]]:
    """Per day, the share of the visits due that day whose outcome (completed, or nobody at home)
    was recorded before their window closed. A visit is due on its day unless it was cancelled or
    moved; one still open after its window closed counts as late, one whose window has not closed
    yet counts not at all. ``None``: nothing was due (a gap in the chart, not a zero). The outcome's
    time is the visit's last change: an outcome is final, nothing changes the visit after it."""
    now = clock.now()
    rows = db.session.execute(
        queue(actor, {})
        .with_only_columns(Visit.day, Visit.window_end, Visit.status, Visit.updated_at)
        .order_by(None)
        .where(Visit.day.between(start, end), Visit.status.not_in(_DUE_EXCLUDED))
    ).all()
    due = {start + timedelta(days=i): [0, 0] for i in range((end - start).days + 1)}
    for day, window_end, status, updated_at in rows:
        closes = datetime.combine(day, window_end, tzinfo=clock.LOCAL_TZ)
        done = status in visit_states.OUTCOMES
        if not done and closes > now:
            continue  # still within its window
        due[day][0] += 1
        if done and updated_at <= closes:
            due[day][1] += 1
    return [(day, (ok / total) if total else None) for day, (total, ok) in sorted(due.items())]
