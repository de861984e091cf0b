"""Field work's panels on the console's dashboard: reviews past their deadline, and residents
whose six months of residence mature this week with the state of their reminder."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from app import clock
from app.extensions import db
from app.notify.models import Notification
from app.notify.services import outbox_visible_to
from app.org.scoping import areas_visible_to
from app.web import part, register_panel
from app.web.filters import local_date
from field_api.permits.services import PermitApplication, queue
from field_api.residency.services import Registration, maturity_key, prenotice_key, registrations_visible_to

SHOWN = 8

APPLICATION_STATUS = {"accepted": _l("Accepted"), "under_review": _l("Under review")}
SMS_STATUS = {
    "pending": (_l("Queued"), "info"),
    "sending": (_l("Sending"), "info"),
    "sent": (_l("Sent"), "ok"),
    "failed": (_l("Failed, retrying"), "warn"),
    "dead": (_l("Failed"), "bad"),
    "unknown": (_l("Unknown"), "warn"),
    "skipped": (_l("Not sent"), ""),
}


def overdue_reviews(actor) -> Markup:
    today = clock.today()
    overdue = (
        queue(actor, {"due_by": today - timedelta(days=1)})
        .order_by(None)
        .order_by(PermitApplication.review_deadline, PermitApplication.reference)
    )
    total = db.session.execute(overdue.with_only_columns(sa.func.count()).order_by(None)).scalar_one()
    soon = (
        db.session.execute(
            queue(actor, {"due_by": today + timedelta(days=3)}).with_only_columns(sa.func.count()).order_by(None)
        ).scalar_one()
        - total
    )
    rows = []
    for application in db.session.execute(overdue.limit(SHOWN)).scalars():
        days = (today - application.review_deadline).days
        rows.append(
            [
                application.reference,
                application.resident.name,
                local_date(application.review_deadline),
                part("badge", label=_("%(days)d days late", days=days), kind="bad"),
                APPLICATION_STATUS.get(application.status, application.status),
            ]
        )
    columns = [
        {"label": _("Application")},
        {"label": _("Resident")},
        {"label": _("Deadline")},
        {"label": _("Late")},
        {"label": _("Status")},
    ]
    table = part(
        "table", columns=columns, rows=rows, more=total - len(rows), empty=_("No review is past its deadline.")
    )
    note = (
        Markup('<p class="note">{}</p>').format(_("%(count)d more fall due within 3 days.", count=soon))
        if soon
        else Markup("")
    )
    return table + note


def maturity_due(actor) -> Markup:
    """Registrations maturing from today to the pre-notice horizon, with their reminder's state."""
    today = clock.today()
    horizon = today + timedelta(days=max(7, current_app.config["MATURITY_PRENOTICE_DAYS"]))
    due = registrations_visible_to(actor).where(
        Registration.status == "active", Registration.maturity_date.between(today, horizon)
    )
    total = db.session.execute(due.with_only_columns(sa.func.count()).order_by(None)).scalar_one()
    registrations = (
        db.session.execute(due.order_by(None).order_by(Registration.maturity_date, Registration.id).limit(SHOWN))
        .scalars()
        .all()
    )
    keys = [k for r in registrations for k in (maturity_key(r.id), prenotice_key(r.id))]
    sms = (
        {
            n.dedupe_key: n.status
            for n in db.session.execute(outbox_visible_to(actor).where(Notification.dedupe_key.in_(keys))).scalars()
        }
        if keys
        else {}
    )
    areas = {a.id: a.name for a in db.session.execute(areas_visible_to(actor)).scalars()}
    rows = []
    for r in registrations:
        status = sms.get(maturity_key(r.id)) or sms.get(prenotice_key(r.id))
        label, kind = SMS_STATUS.get(status or "", (_l("Not queued yet"), ""))
        rows.append(
            [
                r.resident.name,
                areas.get(r.area_id, ""),
                local_date(r.maturity_date),
                part("badge", label=label, kind=kind),
            ]
        )
    columns = [{"label": _("Resident")}, {"label": _("Area")}, {"label": _("Matures on")}, {"label": _("Reminder")}]
    return part(
        "table", columns=columns, rows=rows, more=total - len(rows), empty=_("No residence matures in the next days.")
    )


register_panel(
    "overdue_reviews", 40, overdue_reviews, title=_l("Reviews past their deadline"), permission="application.read"
)
register_panel(
    "maturity_due", 50, maturity_due, title=_l("Six months of residence: reminders due"), permission="maturity.read"
)
