"""The deliveries export: the permits handed over in a date range (the district's days), who
took each and from which officer, and the receipt that proves it — numbers and the taker's name
masked as the API masks them. One query with the permit, the holder, the visit's officer and
the receipt joined in; nothing is looked up row by row."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l

from app import clock, pii
from app.auth.actor import Actor
from app.extensions import db
from app.org.models import User
from app.web.exports import register_export
from appointments.dispatch.services import Visit
from field_api.delivery.console import RECIPIENT
from field_api.delivery.models import Delivery, Receipt
from field_api.delivery.services import deliveries_visible_to
from field_api.permits.services import Permit
from field_api.residency.services import Resident


def _masked_name(name: str | None) -> str:
    return name[:1] + "*" * (len(name) - 1) if name else ""


def delivery_rows(actor: Actor, start: date, end: date) -> Iterator[tuple[Any, ...]]:
    query = (
        deliveries_visible_to(actor)
        .where(
            Delivery.status == "delivered",
            Delivery.handed_over_at >= clock.day_starts(start),
            Delivery.handed_over_at < clock.day_ends(end),
        )
        .join(Permit, Permit.id == Delivery.permit_id)
        .join(Resident, Resident.id == Permit.resident_id)
        .join(Visit, Visit.id == Delivery.visit_id)
        .outerjoin(User, User.id == Visit.officer_id)
        .outerjoin(Receipt, Receipt.delivery_id == Delivery.id)
        .with_only_columns(
            Delivery.handed_over_at,
            Permit.number,
            Resident.name,
            Resident.identity_enc,
            Delivery.recipient_kind,
            Delivery.recipient_name,
            User.display_name,
            User.username,
            Receipt.id,
            Receipt.received_at,
        )
        .order_by(None)
        .order_by(Delivery.handed_over_at, Delivery.id)
        .execution_options(yield_per=500)
    )
    for row in db.session.execute(query):
        handed_over, number, holder, identity_enc, kind, taker, display_name, username, receipt_id, received = row
        yield (
            handed_over,
            number,
            holder,
            pii.mask_identity(pii.decrypt(pii.IDENTITY, identity_enc)) or "",
            _masked_name(taker),
            str(RECIPIENT.get(kind, kind or "")),
            display_name or username or "",
            str(receipt_id) if receipt_id else "",
            str(_l("Receipt recorded")) if received else str(_l("No receipt")),
        )


register_export(
    "deliveries",
    _l("Deliveries"),
    (
        _l("Handed over"),
        _l("Permit"),
        _l("Holder"),
        _l("Identity number"),
        _l("Taken by"),
        _l("Holder or proxy"),
        _l("Officer"),
        _l("Receipt"),
        _l("Receipt status"),
    ),
    delivery_rows,
    permission="delivery.read",
)
