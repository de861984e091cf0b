"""Scoped look-ups: every read of an organisation record carries the caller's scope, and a
record outside it is 404, exactly as if it did not exist."""

from __future__ import annotations

from uuid import UUID

import sqlalchemy as sa

from app.auth.actor import Actor
from app.db import one_or_404
from app.errors import field_error
from app.extensions import db
from app.org.models import FIELD_ROLES, Area, Station, User, user_area


def stations_visible_to(actor: Actor) -> sa.Select[Station]:
    query = sa.select(Station).order_by(Station.code)
    return query if actor.is_admin else query.where(Station.id == actor.station_id)


def station_for(actor: Actor, station_id: UUID) -> Station:
    return one_or_404(stations_visible_to(actor).where(Station.id == station_id), "station")


def citizen_phone_bidx(actor: Actor) -> str | None:
    """The blind index of the phone number a citizen signed in with: the key that ties them to
    the residents, applications and deliveries of their household, in each feature's scoping."""
    bidx: str | None = db.session.execute(sa.select(User.phone_bidx).where(User.id == actor.user_id)).scalar_one()
    return bidx


def areas_visible_to(actor: Actor) -> sa.Select[Area]:
    query = sa.select(Area).order_by(Area.code)
    if actor.is_admin:
        return query
    if actor.role in FIELD_ROLES:
        return query.where(Area.id.in_(sa.select(user_area.c.area_id).where(user_area.c.user_id == actor.user_id)))
    return query.where(Area.station_id == actor.station_id)


def sees_area(actor: Actor, area_id: UUID, station_id: UUID) -> bool:
    """Whether ``areas_visible_to(actor)`` holds the area ``area_id`` of station ``station_id``,
    with no query where the rule needs none (an admin, or staff: its station is known, from the
    reference cache); a field role's assignments are read."""
    if actor.is_admin:
        return True
    if actor.role in FIELD_ROLES:
        return db.session.execute(areas_visible_to(actor).where(Area.id == area_id)).first() is not None
    return station_id == actor.station_id


def area_for(actor: Actor, area_id: UUID) -> Area:
    return one_or_404(areas_visible_to(actor).where(Area.id == area_id), "area")


def users_visible_to(actor: Actor) -> sa.Select[User]:
    query = sa.select(User).order_by(User.created_at)
    if actor.is_admin:
        return query
    return query.where(User.station_id == actor.station_id, User.role != "citizen")


def user_for(actor: Actor, user_id: UUID) -> User:
    return one_or_404(users_visible_to(actor).where(User.id == user_id), "user")


def station_id_for_write(actor: Actor, requested: UUID | None) -> UUID | None:
    """The station a new record belongs to: an admin names it, staff get their own and may not
    name another (refused, never silently replaced)."""
    if actor.is_admin:
        if requested is None:
            raise field_error("station_id", "is required")
        if db.session.get(Station, requested) is None:
            raise field_error("station_id", "no such station")
        return requested
    if requested is not None and requested != actor.station_id:
        raise field_error("station_id", "you may act only for your own station")
    return actor.station_id


def public_directory() -> list[tuple[Station, list[Area]]]:
    """What anyone may read, signed in or not: the active stations, each with its active areas
    (names and codes only are shown). A station without an active area takes no booking, so it is
    left out."""
    areas = db.session.execute(
        sa.select(Area)
        .join(Station, Station.id == Area.station_id)
        .where(Area.active.is_(True), Station.active.is_(True))
        .order_by(Station.code, Area.code)
    ).scalars()
    listing: dict[object, tuple[Station, list[Area]]] = {}
    for area in areas:
        listing.setdefault(area.station_id, (area.station, []))[1].append(area)
    return list(listing.values())
