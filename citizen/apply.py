"""Journey 6, apply for the residence permit from the phone: the resident's identity number, then
the materials the application needs, each photographed with the phone's camera and made smaller in
the page before it is sent (``static/apply.js``), then the application and what happens next.

Every rule is the API's: ``permits.plan`` matches the resident to the citizen's phone and applies
the one eligibility rule before any photo is taken, ``attachments.store`` applies the upload's
checks, ``permits.submit`` and ``permits.supply_material`` are the API's own calls, so a photo left
out is owed (容缺) exactly as through the API."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Response, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response as BaseResponse

from app.attachments import services as attachments
from app.auth import services as auth_services
from app.auth.actor import Actor
from app.auth.permissions import public
from app.errors import DomainError, field_error
from app.extensions import db
from app.web.filters import local_date
from app.web.i18n import translate_detail, translate_text
from citizen import session
from citizen.pages import blp
from field_api.permits import services as permits
from field_api.permits.services import application_for

MATERIALS = {
    "identity_card": _l("Identity card (front and back in one photo)"),
    "rental_contract": _l("Rental contract"),
    "property_certificate": _l("Property certificate"),
    "employer_proof": _l("Proof of employment"),
    "photo": _l("Photo for the permit (plain background)"),
}
STATUSES = {
    "submitted": _l("Submitted, waiting for the station to check"),
    "accepted": _l("Accepted by the station"),
    "under_review": _l("Being reviewed"),
    "returned": _l("Returned: please correct and send again"),
    "approved": _l("Approved: the permit is being made"),
    "rejected": _l("Not approved"),
    "issued": _l("Permit made: an officer will bring it to you"),
    "out_for_delivery": _l("On its way to you"),
    "delivered": _l("Delivered"),
}
# The attachment kind each material is stored as: the photo must be an image, the others may be a PDF.
ATTACHMENT_KIND = {"photo": "photo"}


def _actor() -> Actor:
    return auth_services.actor_of(g.citizen_session.user)


def _message(exc: DomainError) -> str:
    """The refusal in words, after undoing whatever the refused step had written: the page is
    answered normally, so the request's unit of work would otherwise commit it."""
    db.session.rollback()
    if exc.detail:
        return translate_detail(exc.detail)
    return translate_text(exc.title)


def _start(*, status: int = 200, error: str | None = None, identity: str = "") -> tuple[str, int]:
    return render_template(
        "citizen/apply_start.html", error=error, identity=identity, csrf_token=g.citizen_session.csrf_token
    ), status


@blp.route("/apply")
@public
@session.signed_in
def apply() -> tuple[str, int]:
    """Step 1: whose application (the resident registered with this phone number)."""
    return _start()


@blp.route("/apply/materials", methods=["POST"])
@public
@session.signed_in
def apply_materials() -> tuple[str, int]:
    """Step 2: the materials this application needs, or why it cannot be made yet."""
    identity = (request.form.get("identity_number") or "").strip()
    if not identity:
        return _start(status=422, error=_("Enter the identity number of the person applying."))
    try:
        registration, needed = permits.plan(_actor(), {"identity_number": identity})
    except DomainError as exc:
        error = _message(exc)
        if exc.extra.get("matures_on"):
            day = local_date(date.fromisoformat(exc.extra["matures_on"]), "long")
            error = _("Six months of residence are reached on %(day)s: you can apply from that day.", day=day)
        return _start(status=exc.status, error=error, identity=identity)
    return render_template(
        "citizen/apply_materials.html",
        identity=identity,
        registration=registration,
        needed=[(kind, core, MATERIALS[kind]) for kind, core in needed],
        csrf_token=g.citizen_session.csrf_token,
    ), 200


@blp.route("/apply/upload", methods=["POST"])
@public
@session.signed_in
def apply_upload() -> tuple[Response, int]:
    """One photo or PDF, already made smaller by the page: stored now, named by its SHA-256 in the
    form sent next. Answered as JSON for the page's script, the reason in the page's language."""
    file = request.files.get("file")
    kind = request.form.get("material") or ""
    try:
        if kind not in MATERIALS:
            raise field_error("material", "is not a material of an application")
        if file is None:
            raise field_error("file", "choose a photo")
        info = attachments.store(_actor(), ATTACHMENT_KIND.get(kind, "material"), file.mimetype, file.read())
    except DomainError as exc:
        body: dict[str, Any] = {"title": translate_text(exc.title), "detail": _message(exc)}
        return jsonify(body), exc.status
    return jsonify({"sha256": info.sha256, "size": info.size}), 201


@blp.route("/apply", methods=["POST"])
@public
@session.signed_in
def apply_submit() -> BaseResponse | tuple[str, int]:
    """Step 3: the application, with whatever materials were photographed; the rest are owed."""
    identity = (request.form.get("identity_number") or "").strip()
    materials = [
        {"kind": kind, "attachment_sha256": sha}
        for kind in MATERIALS
        if (sha := (request.form.get(f"material-{kind}") or "").strip())
    ]
    try:
        application = permits.submit(_actor(), {"identity_number": identity, "materials": materials})
    except DomainError as exc:
        return _start(status=exc.status, error=_message(exc), identity=identity)
    return redirect(url_for("citizen_pages.application", application_id=application.id, sent=1))


def _application_page(application: Any, *, status: int = 200, error: str | None = None) -> tuple[str, int]:
    return render_template(
        "citizen/application.html",
        application=application,
        status_text=STATUSES.get(application.status, application.status),
        materials=[(m, MATERIALS.get(m.kind, m.kind)) for m in application.materials],
        sent=request.args.get("sent") == "1",
        error=error,
        csrf_token=g.citizen_session.csrf_token,
    ), status


@blp.route("/applications/<uuid:application_id>")
@public
@session.signed_in
def application(application_id: Any) -> tuple[str, int]:
    """An application of a resident registered with this phone: its state, what is still owed,
    and what happens next (another's is a 404, as in the API)."""
    return _application_page(application_for(_actor(), application_id))


@blp.route("/applications/<uuid:application_id>/materials/<kind>", methods=["POST"])
@public
@session.signed_in
def application_supply(application_id: Any, kind: str) -> BaseResponse | tuple[str, int]:
    """Send an owed material later (容缺): the API's ``supply_material``."""
    sha = (request.form.get(f"material-{kind}") or "").strip()
    actor = _actor()
    try:
        if not sha:
            raise field_error("file", "choose a photo")
        permits.supply_material(actor, application_id, kind, sha)
    except DomainError as exc:
        return _application_page(application_for(actor, application_id), status=exc.status, error=_message(exc))
    return redirect(url_for("citizen_pages.application", application_id=application_id))
