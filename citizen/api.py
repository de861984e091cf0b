"""``GET /api/v1/public/stations``: the stations and areas a citizen may book in, for anyone
(``GET /areas`` stays scoped to staff and officers)."""

from __future__ import annotations

from typing import Any

from app.auth.permissions import public
from app.org.scoping import public_directory
from app.schemas import Blueprint
from citizen.schemas import PublicStationOut

blp = Blueprint("citizen", __name__, url_prefix="/api/v1/public", description="What citizens may read")


@blp.route("/stations", methods=["GET"])
@public
@blp.response(200, PublicStationOut(many=True))
def list_public_stations() -> list[dict[str, Any]]:
    """Active stations with their active areas, for choosing where to book"""
    return [
        {"id": station.id, "code": station.code, "name": station.name, "areas": areas}
        for station, areas in public_directory()
    ]
