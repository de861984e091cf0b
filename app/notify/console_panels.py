"""The outbox's panel on the console's dashboard: messages that did not reach the resident."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from app.auth.actor import Actor
from app.extensions import db
from app.notify.models import Notification
from app.notify.services import masked_recipient, outbox_visible_to, stats
from app.web import part, register_panel
from app.web.filters import local_datetime

SHOWN = 6
FAILED = ("dead", "unknown", "failed")
# What each message is about, as a clerk would name it (an unknown template shows its name).
TEMPLATE_LABELS = {
    "otp": _l("Sign-in code"),
    "booking_confirmed": _l("Booking confirmed"),
    "visit_assigned": _l("Officer assigned"),
    "visit_moved": _l("Visit moved"),
    "visit_cancelled": _l("Visit cancelled"),
    "visit_reminder": _l("Visit reminder"),
    "delivery_scheduled": _l("Delivery scheduled"),
    "materials_owed": _l("Materials owed"),
    "review_deadline": _l("Review deadline"),
    "maturity_reached": _l("Six months reached"),
    "maturity_soon": _l("Six months soon"),
    "application_decided": _l("Application decided"),
    "application_returned": _l("Application returned"),
    "permit_ready": _l("Permit ready"),
}
LABELS = {"dead": (_l("Failed"), "bad"), "unknown": (_l("Unknown"), "warn"), "failed": (_l("Retrying"), "warn")}


def sms_failures(actor: Actor) -> Markup:
    by_status = stats(actor)["by_status"]
    counts = part(
        "counts",
        items=[
            {"label": _l("Failed"), "value": by_status["dead"], "kind": "bad" if by_status["dead"] else ""},
            {"label": _l("Unknown"), "value": by_status["unknown"], "kind": "warn" if by_status["unknown"] else ""},
            {"label": _l("Retrying"), "value": by_status["failed"], "kind": ""},
            {"label": _l("Waiting"), "value": by_status["pending"], "kind": ""},
        ],
    )
    rows = []
    for row in db.session.execute(
        outbox_visible_to(actor).where(Notification.status.in_(FAILED)).limit(SHOWN)
    ).scalars():
        label, kind = LABELS[row.status]
        rows.append(
            [
                masked_recipient(row) or "",
                TEMPLATE_LABELS.get(row.template, row.template),
                part("badge", label=label, kind=kind),
                Markup('<span class="wrap" title="{}">{}</span>').format(
                    local_datetime(row.created_at), row.last_error or ""
                ),
            ]
        )
    columns = [{"label": _("Recipient")}, {"label": _("Message")}, {"label": _("Status")}, {"label": _("Last error")}]
    total = sum(by_status[s] for s in FAILED)
    return counts + part(
        "table", columns=columns, rows=rows, more=total - len(rows), empty=_("Every message went out.")
    )


register_panel("sms_failures", 60, sms_failures, title=_l("SMS that did not go out"), permission="outbox.read")
