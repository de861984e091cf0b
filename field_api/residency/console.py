"""The console's residents (人口查询): search by name, identity number or phone (the numbers
through their blind indexes, never a scan of decrypted values), a resident's registrations and
what other features hold of them (their permit applications, through ``hooks.resident_sections``),
and **unmask**: an explicit POST with a required reason, audited as the API's
``GET /residents/{id}/pii`` (``pii.read``, with the reason), the numbers shown once in that
response and never on a page that can be reloaded from a link."""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import g, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app import pii
from app.errors import DomainError
from app.extensions import db
from app.web import page_blueprint, register_nav
from app.web.access import staff_page
from doorstep_protocol.identity import mask as mask_identity
from doorstep_protocol.identity import mask_phone
from field_api.residency import hooks
from field_api.residency import services as residents
from field_api.residency.models import Registration, Resident
from field_api.residency.services import registrations_visible_to, resident_for

pages = page_blueprint("residents", __name__, "/console/residents")
register_nav("residents.search", _l("Residents"), 50, permission="resident.read")

IDENTITY_LIKE = re.compile(r"^\d{17}[\dXx]$|^\d{15}$")
PHONE_LIKE = re.compile(r"^1\d{10}$")
LIMIT = 50


def _filters(q: str) -> dict[str, str]:
    """One box: an identity number or a mobile number is looked up by its blind index; anything
    else is part of a name."""
    q = q.strip().replace(" ", "")
    if IDENTITY_LIKE.match(q):
        return {"identity_number": q}
    if PHONE_LIKE.match(q):
        return {"phone": q}
    return {"name": q}


def _masked(resident: Resident) -> dict[str, str]:
    return {
        "identity": mask_identity(pii.decrypt(pii.IDENTITY, resident.identity_enc)) or "",
        "phone": mask_phone(pii.decrypt(pii.PHONE, resident.phone_enc)) or "" if resident.phone_enc else "",
    }


@pages.route("/", methods=["GET", "POST"])
@staff_page("resident.read")
def search() -> ResponseReturnValue:
    """A search is a POST (with the CSRF token), so a number typed in never lands in a URL, the
    browser's history or a log; the box gives back a name, a number only masked."""
    q = request.form.get("q", "").strip() if request.method == "POST" else ""
    rows: list[dict[str, Any]] = []
    error, shown = None, q
    if q:
        filters = _filters(q)
        if "identity_number" in filters:
            shown = mask_identity(filters["identity_number"]) or ""
        elif "phone" in filters:
            shown = mask_phone(filters["phone"]) or ""
        try:
            query = residents.search(g.actor, filters).order_by(Resident.name).limit(LIMIT + 1)
            found = list(db.session.execute(query).scalars().unique())
        except DomainError:
            db.session.rollback()
            found, error = [], _("Not a valid identity or mobile number.")
        rows = [{"resident": r, **_masked(r)} for r in found[:LIMIT]]
    return render_template(
        "console/residents/search.html",
        q=q,
        shown=shown,
        searched="name" in _filters(q) if q else False,
        rows=rows,
        more=len(rows) == LIMIT,
        error=error,
    )


def _detail(resident: Resident, *, unmasked: dict | None = None, errors: dict | None = None, status: int = 200):
    registrations = db.session.execute(
        registrations_visible_to(g.actor)
        .where(Registration.resident_id == resident.id)
        .order_by(Registration.start_date.desc())
    ).scalars()
    return render_template(
        "console/residents/detail.html",
        r=resident,
        masked=_masked(resident),
        registrations=list(registrations.unique()),
        sections=[(section.title, section.render(g.actor, resident.id)) for section in hooks.resident_sections()],
        unmasked=unmasked,
        errors=errors or {},
        can_unmask=g.actor.can("resident.read_pii"),
    ), status


@pages.route("/<uuid:resident_id>", methods=["GET"])
@staff_page("resident.read")
def detail(resident_id: uuid.UUID) -> ResponseReturnValue:
    return _detail(resident_for(g.actor, resident_id))


@pages.route("/<uuid:resident_id>/unmask", methods=["POST"])
@staff_page("resident.read_pii")
def unmask(resident_id: uuid.UUID) -> ResponseReturnValue:
    """Show the full numbers once, for a stated reason, audited as the API's unmasked read."""
    reason = request.form.get("reason", "").strip()
    if len(reason) < 2:
        resident = resident_for(g.actor, resident_id)
        return _detail(resident, errors={"reason": _("Say why you need the full numbers.")}, status=422)
    numbers = residents.read_pii(g.actor, resident_id, reason=reason[:200])
    return _detail(resident_for(g.actor, resident_id), unmasked=numbers)


__all__ = ["pages"]
