"""The outbox for staff, and SMS opt-outs. Thin: parse, call a service, dump."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from flask_smorest.pagination import PaginationParameters

from app.auth.permissions import current_actor, requires
from app.headers import locates
from app.notify import services
from app.notify.models import Notification
from app.notify.schemas import OptOutIn, OptOutOut, OutboxArgs, OutboxOut, OutboxStatsOut
from app.schemas import Blueprint, paginate

blp = Blueprint("notify", __name__, url_prefix="/api/v1", description="SMS outbox and opt-outs")


@blp.route("/outbox", methods=["GET"])
@requires("outbox.read")
@blp.arguments(OutboxArgs, location="query")
@blp.response(200, OutboxOut(many=True))
@blp.paginate()
def list_outbox(args: dict[str, Any], pagination_parameters: PaginationParameters) -> Sequence[Notification]:
    """Messages of your station (administrators: all), newest first, recipients and texts masked"""
    return paginate(services.filtered(current_actor(), args), pagination_parameters)


@blp.route("/outbox/stats", methods=["GET"])
@requires("outbox.read")
@blp.response(200, OutboxStatsOut)
def outbox_stats() -> dict[str, Any]:
    """How many messages are in each status, overall and per kind"""
    return services.stats(current_actor())


@blp.route("/outbox/<uuid:notification_id>/retry", methods=["POST"])
@requires("outbox.manage")
@blp.response(200, OutboxOut)
def retry_message(notification_id: UUID) -> Notification:
    """Send a dead or unknown message again (audited)"""
    return services.retry(current_actor(), notification_id)


@blp.route("/sms-opt-outs", methods=["POST"])
@requires("sms_opt_out.create")
@blp.arguments(OptOutIn)
@blp.response(201, OptOutOut)
@blp.alt_response(200, schema=OptOutOut, description="The number had already opted out")
def create_opt_out(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Record that a phone number receives no notices (audited); one-time codes still go"""
    result, created = services.opt_out_phone(current_actor(), body["phone"])
    return result, 201 if created else 200


@blp.route("/me/sms-opt-out", methods=["GET"])
@requires("self.sms_opt_out")
@blp.response(200, OptOutOut)
def my_opt_out() -> dict[str, Any]:
    """Whether your phone number receives notices"""
    return services.my_opt_out(current_actor())


@blp.route("/me/sms-opt-out", methods=["POST"])
@requires("self.sms_opt_out")
@blp.response(201, OptOutOut)
@blp.alt_response(200, schema=OptOutOut, description="You had already opted out")
@locates("notify.my_opt_out")
def opt_out_myself() -> tuple[dict[str, Any], int]:
    """Stop notices to your phone number (one-time sign-in codes still go)"""
    result, created = services.opt_out_self(current_actor())
    return result, 201 if created else 200


@blp.route("/me/sms-opt-out", methods=["DELETE"])
@requires("self.sms_opt_out")
@blp.response(204)
def opt_in_myself() -> None:
    """Receive notices again"""
    services.opt_in_self(current_actor())
