"""The outbox's panel on the console's dashboard: messages that did not reach the resident."""
from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from app.extensions import db
from app.notify.models import Notification
from app.notify.services import masked_recipient, outbox_visible_to, stats
from app.web import part, register_panel
from app.web.filters import local_datetime

SHOWN = 6
FAILED = ("dead", "unknown", "failed")
LABELS = {"dead": (_l("Failed"), "bad"), "unknown": (_l("Unknown"), "warn"), "failed": (_l("Retrying"), "warn")}


def sms_failures(actor) -> Markup:
    by_status = stats(actor)["by_status"]
    counts = part("counts", items=[
        {"label": _l("Failed"), "value": by_status["dead"], "kind": "bad" if by_status["dead"] else ""},
        {"label": _l("Unknown"), "value": by_status["unknown"], "kind": "warn" if by_status["unknown"] else ""},
        {"label": _l("Retrying"), "value": by_status["failed"], "kind": ""},
        {"label": _l("Waiting"), "value": by_status["pending"], "kind": ""}])
    rows = []
    for row in db.session.execute(outbox_visible_to(actor).where(Notification.status.in_(FAILED)).limit(SHOWN)
                                  ).scalars():
        label, kind = LABELS[row.status]
        rows.append([masked_recipient(row) or "", row.template, local_datetime(row.created_at),
                     part("badge", label=label, kind=kind),
                     Markup('<span class="wrap">{}</span>').format(row.last_error or "")])
    columns = [{"label": _("Recipient")}, {"label": _("Message")}, {"label": _("Queued")}, {"label": _("Status")},
               {"label": _("Last error")}]
    total = sum(by_status[s] for s in FAILED)
    return counts + part("table", columns=columns, rows=rows, more=total - len(rows),
                         empty=_("Every message went out."))


register_panel("sms_failures", 60, sms_failures, title=_l("SMS that did not go out"), permission="outbox.read")
