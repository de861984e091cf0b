"""The console's review queue (审核): open permit applications with their working-day deadline,
materials owed (容缺) and the files shown inline; accept, start the review, approve, return for
correction with a reason, or reject. Every action calls the API's own service
(``field_api.permits.services``), so it is checked, scoped and audited exactly as the API's."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, current_app, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from markupsafe import Markup

from app import clock, pii, workdays
from app.attachments import services as attachments
from app.attachments.models import Attachment
from app.auth.actor import Actor
from app.errors import DomainError
from app.extensions import db
from app.web import page_blueprint, register_nav
from app.web.access import staff_page
from app.web.i18n import translate_detail
from field_api.permits import services as applications
from field_api.permits.models import PermitApplication
from field_api.permits.services import application_for, applications_visible_to

pages = page_blueprint("review", __name__, "/console/review")
register_nav("review.queue", _l("Review"), 30, permission="application.review")

OPEN = ("submitted", "accepted", "under_review", "returned")
STATUS = {
    "submitted": (_l("Submitted"), "info"),
    "accepted": (_l("Accepted"), "info"),
    "under_review": (_l("Under review"), "warn"),
    "returned": (_l("Returned for correction"), "warn"),
    "approved": (_l("Approved"), "ok"),
    "issued": (_l("Issued"), "ok"),
    "out_for_delivery": (_l("Out for delivery"), "ok"),
    "delivered": (_l("Delivered"), "ok"),
    "rejected": (_l("Rejected"), "bad"),
}
MATERIAL = {
    "identity_card": _l("Identity card"),
    "rental_contract": _l("Rental contract"),
    "property_certificate": _l("Property certificate"),
    "employer_proof": _l("Employer's proof"),
    "photo": _l("Photo"),
}
CHANNEL = {"online": _l("Online"), "visit": _l("At a visit"), "window": _l("At the window")}
REJECT_CODES = {
    "FALSE_ADDRESS": _l("Address does not match"),
    "NOT_RESIDENT": _l("Not living at the address"),
    "MATERIALS_FALSE": _l("False materials"),
    "MATERIALS_MISSING": _l("Materials never supplied"),
}
ACTIONS = ("accept", "review", "approve", "return", "reject")
DONE = {
    "accept": _l("Accepted; the review deadline has started."),
    "review": _l("Review started."),
    "approve": _l("Approved; the permit is issued and the citizen is told by SMS."),
    "return": _l("Returned for correction; the citizen is told by SMS."),
    "reject": _l("Rejected; the citizen is told by SMS."),
}


def _countdown(application: PermitApplication) -> dict[str, Any] | None:
    """The review deadline in working days, as the rule counts them (15 from acceptance)."""
    if application.review_deadline is None or application.status not in ("accepted", "under_review"):
        return None
    left = workdays.working_days_until(clock.today(), application.review_deadline)
    if left < 0:
        return {"label": _("%(n)d working days late", n=-left), "kind": "bad"}
    if left == 0:
        return {"label": _("due today"), "kind": "bad"}
    return {"label": _("%(n)d working days left", n=left), "kind": "warn" if left <= 3 else "ok"}


def _row(application: PermitApplication) -> dict[str, Any]:
    resident = application.resident
    return {
        "application": application,
        "name": resident.name,
        "identity": pii.decrypt(pii.IDENTITY, resident.identity_enc),
        "status": STATUS[application.status],
        "channel": CHANNEL.get(application.channel, application.channel),
        "countdown": _countdown(application),
        "owed": [MATERIAL.get(m.kind, m.kind) for m in application.materials if m.status == "owed"],
    }


@pages.route("/", methods=["GET"])
@staff_page("application.review")
def queue() -> ResponseReturnValue:
    """Open applications, the nearest deadline first; returned ones wait for the citizen."""
    query = applications.queue(g.actor, {}).where(PermitApplication.status.in_(OPEN))
    rows = [_row(a) for a in db.session.execute(query).scalars().unique()]
    rows.sort(
        key=lambda r: (
            r["application"].status == "returned",
            r["application"].review_deadline is None,
            r["application"].review_deadline or clock.today(),
            r["application"].reference,
        )
    )
    return render_template("console/review/queue.html", rows=rows, done=DONE.get(request.args.get("done", "")))


def _files(application: PermitApplication) -> dict[str, Attachment]:
    hashes = [m.attachment_sha256 for m in application.materials if m.attachment_sha256]
    visible = attachments.attachments_visible_to(g.actor).where(Attachment.sha256.in_(hashes))
    return {a.sha256: a for a in db.session.execute(visible).scalars()}


def _detail(
    application: PermitApplication,
    *,
    errors: dict[str, str] | None = None,
    form: dict | None = None,
    status: int = 200,
    done: str | LazyString | None = None,
) -> ResponseReturnValue:
    return render_template(
        "console/review/detail.html",
        row=_row(application),
        a=application,
        files=_files(application),
        material_names=MATERIAL,
        status_names=STATUS,
        reject_codes=REJECT_CODES,
        errors=errors or {},
        form=form or {},
        done=done,
    ), status


@pages.route("/<uuid:application_id>", methods=["GET"])
@staff_page("application.review")
def detail(application_id: uuid.UUID) -> ResponseReturnValue:
    application = application_for(g.actor, application_id)
    return _detail(application, done=DONE.get(request.args.get("done", "")))


@pages.route("/<uuid:application_id>/<action>", methods=["POST"])
@staff_page("application.review")
def act(application_id: uuid.UUID, action: str) -> ResponseReturnValue:
    """One step, through the service its API twin calls; a missing reason is said next to its field."""
    form = request.form
    errors: dict[str, str] = {}
    if action not in ACTIONS:
        return _detail(
            application_for(g.actor, application_id), status=404, done=DONE.get(request.args.get("done", ""))
        )
    if action == "return" and not form.get("reason", "").strip():
        errors["reason"] = _("Say what the citizen must correct.")
    if action == "reject":
        if form.get("code") not in REJECT_CODES:
            errors["code"] = _("Choose a reason.")
        if not form.get("text", "").strip():
            errors["text"] = _("Explain the decision to the citizen.")
    if errors:
        return _detail(application_for(g.actor, application_id), errors=errors, form=dict(form), status=422)
    try:
        if action == "accept":
            applications.accept(g.actor, application_id)
        elif action == "review":
            applications.start_review(g.actor, application_id)
        elif action == "approve":
            applications.decide(g.actor, application_id, "approve", "OK", form.get("text", "").strip()[:500])
        elif action == "return":
            applications.return_for_correction(g.actor, application_id, form["reason"].strip()[:500])
        else:
            applications.decide(g.actor, application_id, "reject", form["code"], form["text"].strip()[:500])
    except DomainError as err:
        if err.status >= 500 or err.status in (403, 404):
            raise
        db.session.rollback()
        errors["action"] = translate_detail(err.detail)
        return _detail(application_for(g.actor, application_id), errors=errors, form=dict(form), status=err.status)
    if action in ("approve", "reject", "return"):
        return redirect(url_for("review.queue", done=action), 303)
    return redirect(url_for("review.detail", done=action, application_id=application_id), 303)


@pages.route("/files/<sha256>", methods=["GET"])
@staff_page("attachment.read")
def file(sha256: str) -> ResponseReturnValue:
    """A material's file, inline, through the attachments service with the staff's scope."""
    data, content_type, filename = attachments.content(g.actor, sha256)
    resp = current_app.response_class(
        data, mimetype=content_type, headers={"Content-Disposition": f'inline; filename="{filename}"'}
    )
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


@pages.after_request
def _frame_files(resp: Response) -> Response:
    """A PDF is shown in a frame of the review page: only this site may frame it."""
    if request.endpoint == "review.file" and resp.status_code == 200:
        resp.headers["X-Frame-Options"] = "SAMEORIGIN"
        resp.headers["Content-Security-Policy"] = "frame-ancestors 'self'"
    return resp


def resident_applications(actor: Actor, resident_id: uuid.UUID) -> Markup:
    """The resident's applications the actor may see, newest first: a section of residency's
    resident page (registered in ``field_api.register``; residency does not import permits)."""
    found = db.session.execute(
        applications_visible_to(actor)
        .where(PermitApplication.resident_id == resident_id)
        .order_by(PermitApplication.created_at.desc())
    ).scalars()
    html = render_template(
        "console/review/resident_applications.html", applications=list(found.unique()), status_names=STATUS
    )
    return Markup(html)  # noqa: S704 (autoescaped template)
