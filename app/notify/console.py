"""The console's messages page (短信): the station's outbox with each message's status, the reason
it did not go, and a retry for those the dispatcher gave up on (dead) or could not confirm
(unknown). Recipients and texts are masked exactly as the API's ``GET /outbox`` masks them; a retry
is the API's ``POST /outbox/{id}/retry`` (same service, same ``outbox.retry`` audit event)."""

from __future__ import annotations

import uuid

from flask import g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.errors import DomainError
from app.extensions import db
from app.notify import services
from app.notify.console_panels import TEMPLATE_LABELS
from app.notify.models import STATUSES
from app.web import page_blueprint, register_nav
from app.web.access import staff_page

pages = page_blueprint("messages", __name__, "/console/messages")
register_nav("messages.outbox", _l("Messages"), 80, permission="outbox.read")

PAGE = 50
STATUS_LABELS = {
    "pending": (_l("Waiting"), ""),
    "sending": (_l("Sending"), ""),
    "sent": (_l("Sent"), "ok"),
    "failed": (_l("Retrying"), "warn"),
    "dead": (_l("Failed"), "bad"),
    "unknown": (_l("Unknown"), "warn"),
    "skipped": (_l("Not sent"), ""),
}
SKIP_LABELS = {
    "quiet-hours": _l("quiet hours"),
    "rate-limited": _l("too many messages to this number"),
    "opted-out": _l("the number opted out"),
}


@pages.route("/", methods=["GET"])
@staff_page("outbox.read")
def outbox() -> ResponseReturnValue:
    """``?status=dead`` (the dead letters), ``?status=unknown``…; newest first, a page at a time."""
    return _page()


def _page(flashes: list[tuple[str, str]] | None = None, code: int = 200) -> ResponseReturnValue:
    status = request.values.get("status", "")
    args = {"status": status} if status in STATUSES else {}
    try:
        page = max(int(request.args.get("page", "1")), 1)
    except ValueError:
        page = 1
    query = services.filtered(g.actor, args).limit(PAGE + 1).offset((page - 1) * PAGE)
    found = list(db.session.execute(query).scalars())
    rows = [
        {
            "row": row,
            "about": TEMPLATE_LABELS.get(row.template, row.template),
            "to": services.masked_recipient(row) or "—",
            "text": services.masked_text(row) or "",
            "status": STATUS_LABELS.get(row.status, (row.status, "")),
            "why": SKIP_LABELS.get(row.skip_reason or "", row.last_error or ""),
            "retryable": row.status in services.RETRYABLE and g.actor.can("outbox.manage"),
        }
        for row in found[:PAGE]
    ]
    return render_template(
        "console/messages/outbox.html",
        rows=rows,
        counts=services.stats(g.actor)["by_status"],
        status=args.get("status", ""),
        statuses=STATUS_LABELS,
        page=page,
        more=len(found) > PAGE,
        flashes=flashes or [],
    ), code


@pages.route("/<uuid:notification_id>/retry", methods=["POST"])
@staff_page("outbox.manage")
def retry(notification_id: uuid.UUID) -> ResponseReturnValue:
    """Queue the message again (back to the list as it was filtered); one that may not be retried
    says why, on the page, and nothing changes."""
    try:
        services.retry(g.actor, notification_id)
    except DomainError as exc:
        if exc.status == 404:
            raise
        db.session.rollback()
        why = (
            _("A sign-in code is never sent again: the citizen asks for a new one.")
            if "kind" in (exc.errors or {})
            else _("Only a failed message, or one whose delivery is unknown, can be sent again.")
        )
        return _page([("bad", why)], 409)
    return redirect(url_for("messages.outbox", status=request.form.get("status") or None), code=303)


__all__ = ["pages"]
