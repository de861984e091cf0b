"""The authenticated caller and what each role may do: permissions are named after actions and
granted to roles in one table; anything not granted here is refused. Apart from
``app.auth.permissions`` (the route guards) so that the token code can build an ``Actor`` without
importing the guards that call it."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

_FIELD = frozenset(
    {
        "attachment.upload",
        "attachment.read",
        "area.read",
        "self.read",
        "booking.read",
        "booking.read_pii",
        "visit.read",
        "visit.work",
        "leave.manage",
        "resident.read",
        "resident.create",
        "resident.update",
        "registration.read",
        "registration.create",
        "application.create",
        "application.read",
        "application.supply",
        "delivery.read",
        "delivery.handover",
        "receipt.read",
        "maturity.read",
        "sync.use",
    }
)

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(
        {
            "attachment.read",
            "station.read",
            "station.manage",
            "area.read",
            "area.manage",
            "user.read",
            "user.manage",
            "user.read_pii",
            "device.read",
            "device.manage",
            "audit.read",
            "self.read",
            "calendar.manage",
            "window.manage",
            "booking.read",
            "booking.read_pii",
            "visit.read",
            "resident.read",
            "resident.read_pii",
            "registration.read",
            "application.read",
            "permit.read",
            "delivery.read",
            "receipt.read",
            "maturity.read",
            "rating.read",
            "sync.resolve",
            "outbox.read",
            "outbox.manage",
            "sms_opt_out.create",
        }
    ),
    "staff": frozenset(
        {
            "attachment.upload",
            "attachment.read",
            "station.read",
            "area.read",
            "user.read",
            "user.manage",
            "user.read_pii",
            "device.read",
            "device.manage",
            "audit.read",
            "self.read",
            "calendar.manage",
            "window.manage",
            "booking.create",
            "booking.read",
            "booking.read_pii",
            "booking.change",
            "visit.read",
            "visit.assign",
            "leave.manage",
            "resident.read",
            "resident.create",
            "resident.update",
            "resident.read_pii",
            "registration.read",
            "registration.create",
            "application.create",
            "application.read",
            "application.review",
            "application.supply",
            "permit.read",
            "delivery.manage",
            "delivery.read",
            "receipt.read",
            "maturity.read",
            "rating.read",
            "sync.resolve",
            "outbox.read",
            "outbox.manage",
            "sms_opt_out.create",
        }
    ),
    "officer": _FIELD,
    "auxiliary": _FIELD,
    "citizen": frozenset(
        {
            "attachment.upload",
            "attachment.read",
            "self.read",
            "booking.create",
            "booking.read",
            "booking.change",
            "resident.read",
            "registration.read",
            "application.create",
            "application.read",
            "application.supply",
            "delivery.read",
            "receipt.read",
            "rating.create",
            "rating.read",
            "self.sms_opt_out",
        }
    ),
}


@dataclass(frozen=True)
class Actor:
    """The authenticated caller, as services see it."""

    user_id: UUID | None
    role: str
    station_id: UUID | None
    device_id: UUID | None = None
    area_ids: frozenset[UUID] = field(default_factory=frozenset)

    def can(self, permission: str) -> bool:
        return permission in ROLE_PERMISSIONS.get(self.role, ())

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
