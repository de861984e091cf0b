"""Managing stations, areas and accounts. Admins manage everything; staff manage the field
accounts (officers and auxiliary officers) of their own station and nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

import sqlalchemy as sa

from app import audit, pii
from app.auth.actor import Actor
from app.auth.models import RefreshToken
from app.auth.passwords import MIN_LENGTH, hash_password
from app.db import unique_or_conflict, utcnow
from app.errors import Forbidden, field_error, phrase
from app.extensions import db
from app.org.models import FIELD_ROLES, Area, Station, User
from app.org.schemas import AreaOut, StationOut, UserOut
from app.org.scoping import area_for, station_for, station_id_for_write, user_for
from app.unit_of_work import between_transactions, writing

# Audit snapshots are the masked output representation: one definition of what may be shown.
station_snapshot = StationOut().dump
area_snapshot = AreaOut().dump
user_snapshot = UserOut().dump

Record = TypeVar("Record", Station, Area)


def create_station(actor: Actor, data: dict[str, Any]) -> Station:
    station = Station(code=data["code"], name=data["name"])
    with unique_or_conflict("code", "station"):
        db.session.add(station)
    audit.record(actor, "station.create", "station", station.id, after=station_snapshot(station), station_id=station.id)
    db.session.flush()
    return station


def _patch(
    actor: Actor,
    record: Record,
    data: dict[str, Any],
    keys: set[str],
    snapshot: Callable[[Record], dict[str, Any]],
    entity: str,
    station_id: UUID,
) -> Record:
    """Apply the plain fields a schema already validated, audited with before and after."""
    before = snapshot(record)
    for key in keys & data.keys():
        setattr(record, key, data[key])
    audit.record(
        actor, f"{entity}.update", entity, record.id, before=before, after=snapshot(record), station_id=station_id
    )
    db.session.flush()
    return record


def update_station(actor: Actor, station_id: UUID, data: dict[str, Any]) -> Station:
    station = station_for(actor, station_id)
    return _patch(actor, station, data, {"name", "active"}, station_snapshot, "station", station.id)


def create_area(actor: Actor, data: dict[str, Any]) -> Area:
    station = station_for(actor, data["station_id"])
    area = Area(station_id=station.id, code=data["code"], name=data["name"], kind=data.get("kind", "community"))
    with unique_or_conflict("code", "area"):
        db.session.add(area)
    audit.record(actor, "area.create", "area", area.id, after=area_snapshot(area), station_id=station.id)
    db.session.flush()
    return area


def update_area(actor: Actor, area_id: UUID, data: dict[str, Any]) -> Area:
    area = area_for(actor, area_id)
    return _patch(actor, area, data, {"name", "kind", "active"}, area_snapshot, "area", area.station_id)


def _check_role(actor: Actor, role: str) -> None:
    if role == "citizen":
        raise field_error("role", "citizen accounts are created by signing in with an SMS code")
    if not actor.is_admin and role not in FIELD_ROLES:
        raise field_error("role", "staff may create and change only officer and auxiliary accounts")


def _areas(station_id: UUID | None, role: str, area_ids: list[UUID] | None) -> list[Area]:
    if not area_ids:
        return []
    if role not in FIELD_ROLES:
        raise field_error("area_ids", "only officers and auxiliary officers work areas")
    areas = db.session.execute(sa.select(Area).where(Area.id.in_(area_ids))).scalars().all()
    if len(areas) != len(set(area_ids)) or any(a.station_id != station_id for a in areas):
        raise field_error("area_ids", "every area must exist and belong to the account's station")
    return list(areas)


def _password(password: str) -> str:
    """Hashed between the unit's reads and its writes: Argon2id takes about 100 ms, and it runs
    with no transaction open (no snapshot, no lock on either database); what follows is the
    write section (``writing``: on SQLite the write lock)."""
    if len(password) < MIN_LENGTH:
        raise field_error("password", phrase("must be at least %(length)s characters", length=MIN_LENGTH))
    between_transactions("hashing a password")
    hashed = hash_password(password)
    writing()
    return hashed


def _phone(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        return pii.normalize_phone(raw)
    except pii.InvalidPII as exc:
        raise field_error("phone", str(exc)) from None


def create_user(actor: Actor, data: dict[str, Any]) -> User:
    role = data["role"]
    _check_role(actor, role)
    if role == "admin":
        if data.get("station_id") is not None:
            raise field_error("station_id", "sub-bureau administrators belong to no station")
        station_id = None
    else:
        station_id = station_id_for_write(actor, data.get("station_id"))
    user = User(
        username=data["username"],
        password_hash=_password(data["password"]),
        role=role,
        station_id=station_id,
        display_name=data.get("display_name", ""),
    )
    user.set_phone(_phone(data.get("phone")))
    user.areas = _areas(station_id, role, data.get("area_ids"))
    with unique_or_conflict("username", "user"):
        db.session.add(user)
    audit.record(actor, "user.create", "user", user.id, after=user_snapshot(user), station_id=station_id)
    db.session.flush()
    return user


def user_for_manage(actor: Actor, user_id: UUID) -> User:
    user = user_for(actor, user_id)
    if not actor.is_admin and user.role not in FIELD_ROLES:
        raise Forbidden("staff manage only officer and auxiliary accounts")
    return user


STAFF_ONLY_FIELDS = ("role", "station_id", "area_ids", "password")


def update_user(actor: Actor, user_id: UUID, data: dict[str, Any]) -> User:
    """A citizen account (made by an SMS sign-in) never crosses into the staff side: it gets no
    role, station, areas or password here, or a phone number could become an officer's login."""
    user = user_for_manage(actor, user_id)
    if user.role == "citizen":
        for field in STAFF_ONLY_FIELDS:
            if field in data and not (field == "role" and data[field] == "citizen"):
                raise field_error(field, "a citizen account takes no role, station, areas or password")
    if user.id == actor.user_id:
        for field in ("active", "role", "station_id"):
            if field in data and data[field] != getattr(user, field):
                # The last administrator deactivating or demoting themselves would leave nobody
                # to undo it; another account does it, and the audit trail says who.
                raise field_error(
                    field, "your own account's active, role and station are changed by another administrator"
                )
    # Hashed before anything is changed, between transactions (``_password``): a change flushed
    # first would be committed or held under its locks all that while.
    new_hash = _password(data["password"]) if "password" in data else None
    writing()
    before = user_snapshot(user)
    if "role" in data and data["role"] != user.role:
        _check_role(actor, data["role"])
        if (data["role"] == "admin") != (user.role == "admin"):
            raise field_error("role", "an account cannot move between a station and the sub-bureau")
        user.role = data["role"]
    moved = "station_id" in data and data["station_id"] != user.station_id
    if moved:
        if not actor.is_admin:
            raise field_error("station_id", "only administrators move accounts between stations")
        user.station_id = station_id_for_write(actor, data["station_id"])
        if "area_ids" not in data:
            user.areas = []
    if "area_ids" in data:
        user.areas = _areas(user.station_id, user.role, data["area_ids"])
    elif user.role not in FIELD_ROLES and user.areas:
        user.areas = []
    if "display_name" in data:
        user.display_name = data["display_name"]
    if "phone" in data:
        user.set_phone(_phone(data["phone"]))
    if "active" in data:
        user.active = data["active"]
    if new_hash is not None:
        user.password_hash = new_hash
    if not user.active or "password" in data or moved:
        db.session.execute(
            sa.update(RefreshToken)
            .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    audit.record(
        actor, "user.update", "user", user.id, before=before, after=user_snapshot(user), station_id=user.station_id
    )
    db.session.flush()
    return user


def read_user_pii(actor: Actor, user_id: UUID) -> dict[str, Any]:
    """The unmasked phone number, for a role that needs it; the read itself is audited."""
    user = user_for(actor, user_id)
    audit.record(actor, "pii.read", "user", user.id, after={"fields": ["phone"]}, station_id=user.station_id)
    db.session.flush()
    return {"id": user.id, "phone": user.phone}
