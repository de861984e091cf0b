from __future__ import annotations

from datetime import date
from typing import Any

from app.auth.permissions import current_actor, public, requires
from app.schemas import Blueprint
from app.workdays import services
from app.workdays.schemas import DayOut, DeclareIn, RangeArgs
from app.workdays.services import DayInfo

blp = Blueprint("calendar", __name__, url_prefix="/api/v1", description="Working calendar")


@blp.route("/calendar", methods=["GET"])
@public
@blp.arguments(RangeArgs, location="query")
@blp.response(200, DayOut(many=True))
def list_days(args: dict[str, Any]) -> list[DayInfo]:
    """Working days and holidays between two dates, and where each answer comes from"""
    return services.days(args["from_"], args["to"])


@blp.route("/calendar/<isodate:day>", methods=["PUT"])
@requires("calendar.manage")
@blp.arguments(DeclareIn)
@blp.response(200, DayOut)
def declare_day(body: dict[str, Any], day: date) -> DayInfo:
    """Declare a date a holiday or a working day (overrides the published calendar)"""
    return services.declare(current_actor(), day, body["is_workday"], body["name"])


@blp.route("/calendar/<isodate:day>", methods=["DELETE"])
@requires("calendar.manage")
@blp.response(200, DayOut)
def withdraw(day: date) -> DayInfo:
    """Withdraw a declaration; the published calendar applies again"""
    return services.withdraw(current_actor(), day)
