from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.audit.models import AuditEvent
from app.audit.schemas import AuditArgs, AuditOut
from app.audit.services import events_visible_to
from app.auth.permissions import current_actor, requires
from app.schemas import Blueprint

blp = Blueprint("audit", __name__, url_prefix="/api/v1", description="Audit trail")


@blp.route("/audit-events", methods=["GET"])
@requires("audit.read")
@blp.arguments(AuditArgs, location="query")
@blp.response(200, AuditOut(many=True))
def list_events(args: dict[str, Any]) -> Sequence[AuditEvent]:
    """Audit events, newest first; page with `before_id` = the last id you got"""
    return events_visible_to(current_actor(), args)
