"""Stations, areas and accounts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from flask_smorest.pagination import PaginationParameters

from app.auth.permissions import current_actor, requires
from app.headers import locates
from app.org import scoping, services
from app.org.models import Area, Station, User
from app.org.schemas import (
    AreaArgs,
    AreaIn,
    AreaOut,
    AreaPatch,
    StationIn,
    StationOut,
    StationPatch,
    UserArgs,
    UserIn,
    UserOut,
    UserPatch,
    UserPiiOut,
)
from app.schemas import Blueprint, paginate
from app.unit_of_work import reads_first, rendered_after_commit

blp = Blueprint("org", __name__, url_prefix="/api/v1", description="Stations, areas and accounts")


@blp.route("/stations", methods=["GET"])
@requires("station.read")
@blp.response(200, StationOut(many=True))
@blp.paginate()
def list_stations(pagination_parameters: PaginationParameters) -> Sequence[Station]:
    """Stations you may see"""
    return paginate(scoping.stations_visible_to(current_actor()), pagination_parameters)


@blp.route("/stations", methods=["POST"])
@requires("station.manage")
@blp.arguments(StationIn)
@blp.response(201, StationOut)
@locates("org.get_station", station_id="id")
def create_station(body: dict[str, Any]) -> Station:
    """Create a station (sub-bureau administrators)"""
    return services.create_station(current_actor(), body)


@blp.route("/stations/<uuid:station_id>", methods=["GET"])
@requires("station.read")
@blp.response(200, StationOut)
def get_station(station_id: UUID) -> Station:
    """One station"""
    return scoping.station_for(current_actor(), station_id)


@blp.route("/stations/<uuid:station_id>", methods=["PATCH"])
@requires("station.manage")
@blp.arguments(StationPatch)
@blp.response(200, StationOut)
def update_station(body: dict[str, Any], station_id: UUID) -> Station:
    """Rename or deactivate a station"""
    return services.update_station(current_actor(), station_id, body)


@blp.route("/areas", methods=["GET"])
@requires("area.read")
@blp.arguments(AreaArgs, location="query")
@blp.response(200, AreaOut(many=True))
@blp.paginate()
def list_areas(args: dict[str, Any], pagination_parameters: PaginationParameters) -> Sequence[Area]:
    """Areas you may see: officers their own, staff their station's"""
    query = scoping.areas_visible_to(current_actor())
    if "station_id" in args:
        query = query.where(Area.station_id == args["station_id"])
    return paginate(query, pagination_parameters)


@blp.route("/areas", methods=["POST"])
@requires("area.manage")
@blp.arguments(AreaIn)
@blp.response(201, AreaOut)
@locates("org.get_area", area_id="id")
def create_area(body: dict[str, Any]) -> Area:
    """Create an area (community or police point) of a station"""
    return services.create_area(current_actor(), body)


@blp.route("/areas/<uuid:area_id>", methods=["GET"])
@requires("area.read")
@blp.response(200, AreaOut)
def get_area(area_id: UUID) -> Area:
    """One area"""
    return scoping.area_for(current_actor(), area_id)


@blp.route("/areas/<uuid:area_id>", methods=["PATCH"])
@requires("area.manage")
@blp.arguments(AreaPatch)
@blp.response(200, AreaOut)
def update_area(body: dict[str, Any], area_id: UUID) -> Area:
    """Rename, re-kind or deactivate an area"""
    return services.update_area(current_actor(), area_id, body)


@blp.route("/users", methods=["GET"])
@requires("user.read")
@blp.arguments(UserArgs, location="query")
@blp.response(200, UserOut(many=True))
@blp.paginate()
def list_users(args: dict[str, Any], pagination_parameters: PaginationParameters) -> Sequence[User]:
    """Accounts you may see, filtered by station, role or active"""
    query = scoping.users_visible_to(current_actor())
    for key, column in (("station_id", User.station_id), ("role", User.role), ("active", User.active)):
        if key in args:
            query = query.where(column == args[key])
    return paginate(query, pagination_parameters)


@blp.route("/users", methods=["POST"])
@requires("user.manage")
@reads_first
@blp.arguments(UserIn)
@blp.response(201, UserOut)
@locates("org.get_user", user_id="id")
@rendered_after_commit
def create_user(body: dict[str, Any]) -> User:
    """Create an account (staff: officers and auxiliary officers of their station)"""
    return services.create_user(current_actor(), body)


@blp.route("/users/<uuid:user_id>", methods=["GET"])
@requires("user.read")
@blp.response(200, UserOut)
def get_user(user_id: UUID) -> User:
    """One account, phone number masked"""
    return scoping.user_for(current_actor(), user_id)


@blp.route("/users/<uuid:user_id>", methods=["PATCH"])
@requires("user.manage")
@reads_first
@blp.arguments(UserPatch)
@blp.response(200, UserOut)
@rendered_after_commit
def update_user(body: dict[str, Any], user_id: UUID) -> User:
    """Change an account; deactivating it or setting a password ends its sessions"""
    return services.update_user(current_actor(), user_id, body)


@blp.route("/users/<uuid:user_id>/pii", methods=["GET"])
@requires("user.read_pii", writes=True)
@blp.response(200, UserPiiOut)
def read_user_pii(user_id: UUID) -> dict[str, Any]:
    """The unmasked phone number; every call is written to the audit trail"""
    return services.read_user_pii(current_actor(), user_id)
