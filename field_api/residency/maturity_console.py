"""The console's maturity page (满六个月提醒): the station's residents whose six months of
residence mature in the next N days (and those of the last week), with the reminders the
scheduler queued for them, sent or failed; a failed one is resent through the outbox's own retry
(``app.notify.services.retry``, the API's ``POST /outbox/{id}/retry``, audited as
``outbox.retry``), which hands it back to the same dispatcher the scheduler's messages go through."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from flask import g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import NotFound

from app import clock, pii
from app.extensions import db
from app.notify import services as outbox
from app.notify.models import Notification
from app.web import page_blueprint, register_nav
from app.web.access import staff_page
from doorstep_protocol.identity import mask_phone
from field_api.residency.maturity import maturity_key, prenotice_key
from field_api.residency.models import Registration
from field_api.residency.services import registrations_visible_to

pages = page_blueprint("maturity", __name__, "/console/maturity")
register_nav("maturity.upcoming", _l("Six months"), 40, permission="maturity.read")

CHOICES = (7, 14, 30)
PAST_DAYS = 7
SENT = {"sent"}
FAILED = {"dead", "unknown", "failed"}
STATUS = {
    "pending": (_l("Queued"), "info"),
    "sending": (_l("Sending"), "info"),
    "sent": (_l("Sent"), "ok"),
    "failed": (_l("Retrying"), "warn"),
    "dead": (_l("Failed"), "bad"),
    "unknown": (_l("Unknown"), "warn"),
    "skipped": (_l("Not sent"), "info"),
}
KIND = {"maturity_soon": _l("Six months soon"), "maturity_reached": _l("Six months reached")}


def _days() -> int:
    try:
        days = int(request.args.get("days", 14))
    except ValueError:
        days = 14
    return days if days in CHOICES else 14


@pages.route("/", methods=["GET"])
@staff_page("maturity.read")
def upcoming() -> ResponseReturnValue:
    days, today = _days(), clock.today()
    registrations = list(
        db.session.execute(
            registrations_visible_to(g.actor)
            .where(
                Registration.status == "active",
                Registration.maturity_date.between(today - timedelta(days=PAST_DAYS), today + timedelta(days=days)),
            )
            .order_by(Registration.maturity_date, Registration.id)
        )
        .scalars()
        .unique()
    )
    keys = {maturity_key(r.id): r.id for r in registrations} | {prenotice_key(r.id): r.id for r in registrations}
    reminders: dict[Any, list[Notification]] = {}
    if keys:
        rows = db.session.execute(
            outbox.outbox_visible_to(g.actor)
            .where(Notification.dedupe_key.in_(list(keys)))
            .order_by(Notification.created_at)
        ).scalars()
        for n in rows:
            reminders.setdefault(keys[n.dedupe_key], []).append(n)
    rows_out = []
    for r in registrations:
        sent = reminders.get(r.id, [])
        rows_out.append(
            {
                "registration": r,
                "name": r.resident.name,
                "phone": mask_phone(pii.decrypt(pii.PHONE, r.resident.phone_enc)) if r.resident.phone_enc else "",
                "left": (r.maturity_date - today).days,
                "reminders": sent,
            }
        )
    counts = {
        "residents": len(rows_out),
        "sent": sum(n.status in SENT for row in rows_out for n in row["reminders"]),
        "failed": sum(n.status in FAILED for row in rows_out for n in row["reminders"]),
    }
    return render_template(
        "console/maturity/upcoming.html",
        rows=rows_out,
        days=days,
        choices=CHOICES,
        counts=counts,
        status_names=STATUS,
        kind_names=KIND,
        can_resend=g.actor.can("outbox.manage"),
        resendable=("dead", "unknown"),
        done=request.args.get("done") == "1",
    )


@pages.route("/reminders/<uuid:notification_id>/resend", methods=["POST"])
@staff_page("outbox.manage")
def resend(notification_id: uuid.UUID) -> ResponseReturnValue:
    """Only a maturity reminder of this station, through the outbox's own retry."""
    row = db.session.execute(
        outbox.outbox_visible_to(g.actor).where(Notification.id == notification_id, Notification.kind.in_(tuple(KIND)))
    ).scalar_one_or_none()
    if row is None:
        raise NotFound()
    outbox.retry(g.actor, notification_id)
    return redirect(url_for("maturity.upcoming", days=request.form.get("days", 14), done=1), 303)


__all__ = ["pages"]
