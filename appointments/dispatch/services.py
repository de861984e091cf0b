"""Dispatch: the station's queue, assigning visits to officers, and officers recording outcomes.
These functions are the ones the tablets' sync push will call too."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import current_app

from app import audit, bulk
from app.db import one_or_404, table_of, utcnow, with_defaults
from app.errors import DomainError, NotFound, field_error, phrase
from app.extensions import db
from app.org.models import FIELD_ROLES, User, user_area
from appointments.dispatch import states as visit_states
from appointments.dispatch.models import OfficerLeave
from appointments.dispatch.models import Visit as Visit  # re-exported: other features type by it (decision 94)
from appointments.dispatch.schemas import VisitOut
from appointments.notices import notify
from appointments.timeline import TimelineEvent

visit_snapshot = VisitOut().dump


def visits_visible_to(actor):
    query = sa.select(Visit).order_by(Visit.day, Visit.window_start, Visit.created_at)
    if actor.is_admin:
        return query
    if actor.role in FIELD_ROLES:
        return query.where(Visit.officer_id == actor.user_id)
    return query.where(Visit.station_id == actor.station_id)


def booking_visit_row(booking: Mapping[str, Any]) -> dict[str, Any]:
    """The visit a new booking becomes, waiting to be dispatched, as the row ``open_booking_visit``
    writes: made apart so the booking makes it before its write section (the model's defaults
    fill what a new visit does not say: ``app.db.with_defaults``). ``booking`` is the booking's
    row as it will be written."""
    return with_defaults(
        _VISIT,
        {
            "booking_id": booking["id"],
            "station_id": booking["station_id"],
            "area_id": booking["area_id"],
            "day": booking["day"],
            "window_start": booking["window_start"],
            "window_end": booking["window_end"],
            "address": booking["address"],
            "created_at": booking["created_at"],
            "updated_at": booking["created_at"],
        },
    )


def open_booking_visit(visit: dict[str, Any]) -> None:
    """Write the visit (``booking_visit_row``) with the booking's own row already there: one Core
    INSERT through ``app.bulk``, which tells the change feed (an ORM flush of one row cost several
    times the statement)."""
    bulk.insert_rows(_VISIT, [visit])


_VISIT = table_of(Visit)


def visit_ids_of_officer(officer_id) -> sa.Select:
    """The visits an officer holds, as a subquery for the scoping of what they deliver."""
    return sa.select(Visit.id).where(Visit.officer_id == officer_id)


def booking_ids_assigned_to(officer_id) -> sa.Select:
    """The bookings whose visit the officer holds, as a subquery for the booking's own scoping."""
    return sa.select(Visit.booking_id).where(Visit.officer_id == officer_id)


def open_visits_on(day: date) -> sa.Select:
    """(visit id, booking id) of the visits still open on ``day``, for the evening reminders."""
    return sa.select(Visit.id, Visit.booking_id).where(Visit.day == day, Visit.status.in_(visit_states.OPEN))


def visits_of_bookings(booking_ids: sa.Select) -> sa.Select:
    """The visits of the given bookings, newest first (a delivery or follow-up visit has none)."""
    return (
        sa.select(Visit).where(Visit.booking_id.in_(booking_ids)).order_by(Visit.day.desc(), Visit.window_start.desc())
    )


def visit_for(actor, visit_id, *, lock: bool = False) -> Visit:
    query = visits_visible_to(actor).where(Visit.id == visit_id)
    return one_or_404(query.with_for_update() if lock else query, "visit")


def queue(actor, filters: dict):
    query = visits_visible_to(actor)
    for key, column in (
        ("day", Visit.day),
        ("area_id", Visit.area_id),
        ("status", Visit.status),
        ("officer_id", Visit.officer_id),
        ("kind", Visit.kind),
    ):
        if filters.get(key) is not None:
            query = query.where(column == filters[key])
    if filters.get("unassigned"):
        query = query.where(Visit.officer_id.is_(None))
    return query


def transition(actor, visit: Visit, target: str, action: str, *, reason: str | None = None, **changes) -> Visit:
    """Every change of a visit's state passes here: checked, versioned, audited, on the timeline."""
    visit_states.check(visit.status, target)
    before = visit_snapshot(visit)
    visit.status = target
    for key, value in changes.items():
        setattr(visit, key, value)
    visit.version += 1
    db.session.flush()
    db.session.expire(visit, ["officer"])  # follow a changed officer_id
    after = visit_snapshot(visit)
    if reason:
        after["reason"] = reason
    audit.record(actor, f"visit.{action}", "visit", visit.id, before=before, after=after, station_id=visit.station_id)
    if visit.booking_id:
        detail = {"reason": reason} if reason else {}
        if target == "assigned" and visit.officer is not None:
            detail["officer"] = visit.officer.display_name
        db.session.add(
            TimelineEvent(
                booking_id=visit.booking_id,
                action=f"visit_{action}",
                status=target,
                detail=detail,
                actor_role=actor.role,
            )
        )
    return visit


# --- officers' availability --------------------------------------------------------------


def _on_leave(officer_id, day: date) -> bool:
    return (
        db.session.execute(
            sa.select(OfficerLeave.id)
            .where(OfficerLeave.officer_id == officer_id, OfficerLeave.start_day <= day, OfficerLeave.end_day >= day)
            .limit(1)
        ).first()
        is not None
    )


def _open_visits(officer_id, day: date) -> int:
    return db.session.execute(
        sa.select(sa.func.count()).where(
            Visit.officer_id == officer_id, Visit.day == day, Visit.status.in_(visit_states.OPEN)
        )
    ).scalar_one()


def _works_area(officer_id, area_id) -> bool:
    return (
        db.session.execute(
            sa.select(user_area.c.area_id).where(user_area.c.user_id == officer_id, user_area.c.area_id == area_id)
        ).first()
        is not None
    )


def refusal(officer: User | None, visit: Visit) -> str | None:
    """Why this officer cannot take this visit, or None."""
    if officer is None or officer.role not in FIELD_ROLES or officer.station_id != visit.station_id:
        return "not an officer of this station"
    if not officer.active:
        return "the officer's account is inactive"
    if not _works_area(officer.id, visit.area_id):
        return "the officer does not work this visit's area"
    if _on_leave(officer.id, visit.day):
        return "the officer is on leave that day"
    if (
        visit.officer_id != officer.id
        and _open_visits(officer.id, visit.day) >= current_app.config["OFFICER_DAILY_LIMIT"]
    ):
        return f"the officer already has {current_app.config['OFFICER_DAILY_LIMIT']} open visits that day"
    return None


def assign(actor, visit_id, officer_id) -> Visit:
    visit = visit_for(actor, visit_id, lock=True)
    # Lock the officer so two dispatchers cannot both fill the officer's last place of the day.
    officer = db.session.execute(sa.select(User).where(User.id == officer_id).with_for_update()).scalar_one_or_none()
    why = refusal(officer, visit)
    if why or officer is None:
        raise field_error("officer_id", why or "no such officer")
    action = "reassigned" if visit.officer_id and visit.officer_id != officer.id else "assigned"
    transition(actor, visit, "assigned", action, officer_id=officer.id, assigned_at=utcnow())
    if visit.booking is not None:
        notify(
            "visit_assigned",
            visit.booking,
            f"visit-assigned:{visit.id}:{visit.version}",
            officer=officer.display_name or "民警",
        )
    db.session.flush()
    return visit


def unassign(actor, visit_id, reason: str) -> Visit:
    visit = visit_for(actor, visit_id, lock=True)
    if visit.officer_id is None:
        raise visit_states.InvalidTransition("the visit is not assigned")
    transition(actor, visit, "requested", "unassigned", reason=reason, officer_id=None, assigned_at=None)
    db.session.flush()
    return visit


def bulk_assign(actor, visit_ids: list, officer_id) -> list[dict]:
    """Each visit on its own: one refusal does not undo the others."""
    results = []
    for visit_id in visit_ids:
        try:
            # Each visit in a savepoint: a refusal undoes that visit alone, and the unit of work
            # commits the rest.
            with db.session.begin_nested():
                visit = (
                    assign(actor, visit_id, officer_id) if officer_id else unassign(actor, visit_id, "bulk unassign")
                )
                status = visit.status
            results.append({"visit_id": visit_id, "ok": True, "status": status, "error": None})
        except DomainError as exc:
            results.append(
                {
                    "visit_id": visit_id,
                    "ok": False,
                    "status": None,
                    "error": {"slug": exc.slug, "detail": exc.detail, "errors": exc.errors},
                }
            )
    return results


def suggest_officers(actor, visit_id) -> list[dict]:
    """The area's officers who could take the visit: fewest open visits that day first, then the
    one assigned least recently."""
    visit = visit_for(actor, visit_id)
    officers = (
        db.session.execute(
            sa.select(User)
            .join(user_area, user_area.c.user_id == User.id)
            .where(user_area.c.area_id == visit.area_id, User.active.is_(True), User.role.in_(FIELD_ROLES))
        )
        .scalars()
        .all()
    )
    last_assigned = dict(
        db.session.execute(
            sa.select(Visit.officer_id, sa.func.max(Visit.assigned_at))
            .where(Visit.officer_id.in_([o.id for o in officers]))
            .group_by(Visit.officer_id)
        ).all()
    )
    ranked = []
    for officer in officers:
        if refusal(officer, visit) is None:
            ranked.append(
                {
                    "officer_id": officer.id,
                    "display_name": officer.display_name,
                    "role": officer.role,
                    "open_visits": _open_visits(officer.id, visit.day),
                    "last_assigned_at": last_assigned.get(officer.id),
                }
            )
    epoch = utcnow().replace(year=1970)
    ranked.sort(key=lambda r: (r["open_visits"], r["last_assigned_at"] or epoch))
    return ranked


# --- the officer at the door -------------------------------------------------------------


def start(actor, visit_id) -> Visit:
    visit = visit_for(actor, visit_id, lock=True)
    transition(actor, visit, "en_route", "started")
    db.session.flush()
    return visit


def record_outcome(actor, visit_id, outcome: str, note: str = "") -> Visit:
    if outcome not in visit_states.OUTCOMES:
        raise field_error("outcome", phrase("must be one of %(choices)s", choices=", ".join(visit_states.OUTCOMES)))
    visit = visit_for(actor, visit_id, lock=True)
    transition(actor, visit, outcome, outcome, reason=note or None, outcome_note=note or None)
    if visit.booking is not None:
        visit.booking.status, visit.booking.active_key = outcome, None
    db.session.flush()
    return visit


def record_outcome_fact(actor, visit_id, outcome: str, note: str = "") -> tuple[Visit, bool]:
    """An outcome that happened at the door is a fact: if staff reassigned, moved or cancelled the
    visit meanwhile, it is still recorded (within the officer's station) and returned flagged."""
    try:
        return record_outcome(actor, visit_id, outcome, note), False
    except (NotFound, visit_states.InvalidTransition):
        pass  # fall through to the fact path
    visit = one_or_404(
        sa.select(Visit).where(Visit.id == visit_id, Visit.station_id == actor.station_id).with_for_update(), "visit"
    )
    if visit.status == outcome:
        return visit, False
    before = visit_snapshot(visit)
    visit.status, visit.outcome_note, visit.version = outcome, note or None, visit.version + 1
    if visit.booking is not None:
        visit.booking.status, visit.booking.active_key = outcome, None
    db.session.flush()
    audit.record(
        actor,
        "visit.outcome_fact",
        "visit",
        visit.id,
        before=before,
        after={**visit_snapshot(visit), "flag": "recorded after staff changed the visit"},
        station_id=visit.station_id,
    )
    db.session.flush()
    return visit, True


# --- leave ---------------------------------------------------------------------------------


def leave_visible_to(actor):
    query = sa.select(OfficerLeave).order_by(OfficerLeave.start_day)
    if actor.is_admin:
        return query
    if actor.role in FIELD_ROLES:
        return query.where(OfficerLeave.officer_id == actor.user_id)
    return query.where(OfficerLeave.officer_id.in_(sa.select(User.id).where(User.station_id == actor.station_id)))


def officers_on_leave(actor, day: date) -> sa.Select:
    """The officers (ids) the actor sees on leave on ``day``, for the dispatch board's load."""
    return (
        leave_visible_to(actor)
        .with_only_columns(OfficerLeave.officer_id)
        .where(OfficerLeave.start_day <= day, OfficerLeave.end_day >= day)
        .order_by(None)
    )


def add_leave(actor, data: dict) -> tuple[OfficerLeave, list]:
    officer_id = data.get("officer_id") or actor.user_id
    if actor.role in FIELD_ROLES and officer_id != actor.user_id:
        raise field_error("officer_id", "officers record only their own leave")
    officer = db.session.get(User, officer_id)
    if (
        officer is None
        or officer.role not in FIELD_ROLES
        or (not actor.is_admin and officer.station_id != actor.station_id)
    ):
        raise field_error("officer_id", "not an officer of your station")
    if data["end_day"] < data["start_day"]:
        raise field_error("end_day", "must not be before start_day")
    leave = OfficerLeave(
        officer_id=officer.id,
        start_day=data["start_day"],
        end_day=data["end_day"],
        reason=data.get("reason", ""),
        created_by_id=actor.user_id,
    )
    db.session.add(leave)
    db.session.flush()
    audit.record(
        actor,
        "leave.add",
        "user",
        officer.id,
        after={"start_day": leave.start_day.isoformat(), "end_day": leave.end_day.isoformat(), "reason": leave.reason},
        station_id=officer.station_id,
    )
    affected = list(
        db.session.execute(
            sa.select(Visit.id).where(
                Visit.officer_id == officer.id,
                Visit.day.between(leave.start_day, leave.end_day),
                Visit.status.in_(visit_states.OPEN),
            )
        ).scalars()
    )
    db.session.flush()
    return leave, affected


def remove_leave(actor, leave_id) -> None:
    leave = one_or_404(leave_visible_to(actor).where(OfficerLeave.id == leave_id), "leave")
    officer = db.session.get_one(User, leave.officer_id)
    audit.record(
        actor,
        "leave.remove",
        "user",
        leave.officer_id,
        before={"start_day": leave.start_day.isoformat(), "end_day": leave.end_day.isoformat()},
        station_id=officer.station_id,
    )
    db.session.delete(leave)
    db.session.flush()
