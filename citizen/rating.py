"""Journey 8, 好差评 in the H5: a logged-in citizen rates a completed visit of their own, 1–5
stars and an optional comment, once. The same ``appointments.rating.services.rate`` the API calls
decides everything (own visit, completed, once); this page only turns its refusals into words
beside the field."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response as BaseResponse

from app.auth import services as auth_services
from app.auth.actor import Actor
from app.auth.permissions import public
from app.errors import Conflict, DomainError
from app.web.i18n import translate_detail
from appointments.dispatch.services import Visit
from appointments.rating import services as ratings
from appointments.rating.services import COMMENT_MAX, MAX_STARS, MIN_STARS
from citizen import session
from citizen.pages import blp
from doorstep_protocol.receipts import mask_name

STAR_LABELS = {
    5: _l("Very satisfied"),
    4: _l("Satisfied"),
    3: _l("Acceptable"),
    2: _l("Dissatisfied"),
    1: _l("Very dissatisfied"),
}


def _actor() -> Actor:
    return auth_services.actor_of(g.citizen_session.user)


def officer_label(visit: Visit) -> str:
    """The officer as the citizen may see them: the first character of the name, then stars."""
    officer = visit.officer
    name = officer.display_name or officer.username if officer is not None else ""
    return mask_name(name) if name and name.strip() else ""


def _stars(raw: str | None) -> int | str:
    try:
        return int(raw or "")
    except ValueError:
        return raw or ""


def _form(
    visit: Visit, *, status: int = 200, errors: dict[str, str] | None = None, notice: str | None = None, **values: Any
) -> tuple[str, int]:
    rating = ratings.rating_of(visit.id)
    return render_template(
        "citizen/rating_form.html",
        visit=visit,
        officer=officer_label(visit),
        rating=rating,
        stars=values.get("stars"),
        comment=values.get("comment", ""),
        errors=errors or {},
        notice=notice,
        labels=STAR_LABELS,
        choices=range(MAX_STARS, MIN_STARS - 1, -1),
        comment_max=COMMENT_MAX,
        csrf_token=g.citizen_session.csrf_token,
    ), status


@blp.route("/ratings")
@public
@session.signed_in
def ratings_list() -> str:
    """The citizen's completed visits: those still to rate first, then those rated."""
    visits = ratings.rateable(_actor())
    return render_template(
        "citizen/rating_list.html",
        to_rate=[v for v, r in visits if r is None],
        rated=[(v, r) for v, r in visits if r is not None],
        officer_label=officer_label,
        notice=_("Thank you for your rating.") if request.args.get("rated") else None,
    )


@blp.route("/ratings/<uuid:visit_id>")
@public
@session.signed_in
def rating_form(visit_id: UUID) -> tuple[str, int]:
    """The form for one completed visit (or, once rated, what was given)."""
    return _form(ratings.own_visit(_actor(), visit_id))


@blp.route("/ratings/<uuid:visit_id>", methods=["POST"])
@public
@session.signed_in
def rating_submit(visit_id: UUID) -> BaseResponse | tuple[str, int]:
    actor = _actor()
    visit = ratings.own_visit(actor, visit_id)
    stars, comment = _stars(request.form.get("stars")), request.form.get("comment", "")
    if stars == "":
        return _form(visit, status=422, errors={"stars": _("Choose from one to five stars.")}, comment=comment)
    try:
        ratings.rate(actor, visit_id, stars, comment)
    except Conflict as exc:
        notice = (
            _("This visit has already been rated. Each visit is rated once.")
            if exc.slug == "already-rated"
            else _("The visit can be rated once it is completed.")
        )
        return _form(visit, status=exc.status, notice=notice)
    except DomainError as exc:
        if exc.errors and "stars" in exc.errors:
            errors = {"stars": _("Choose from one to five stars.")}
        elif exc.errors and "comment" in exc.errors:
            errors = {"comment": _("At most %(n)d characters, please.", n=COMMENT_MAX)}
        else:
            errors = {"form": translate_detail(exc.detail)}
        return _form(visit, status=exc.status, errors=errors, stars=stars, comment=comment)
    return redirect(url_for("citizen_pages.ratings_list", rated=1))
