"""The console's own pages: log-in, log-out, the language, and the "today" dashboard whose
panels the features register. Routes stay thin: the password check, its throttling and its
audit are the API's (``app.auth.services.authenticate``)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, g, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.wrappers import Response as BaseResponse

from app import audit, clock, pii
from app.auth import services as auth_services
from app.errors import DomainError, TooManyRequests, Unauthorized
from app.extensions import db
from app.org.models import User
from app.web import access, csrf, sessions
from app.web.access import console_public, staff_page
from app.web.i18n import CONSOLE_LOCALES, translate_detail, translate_text
from app.web.nav import entries_for, register_nav
from app.web.panels import panels_for
from app.web.security import secure_page

log = logging.getLogger("doorstep.console")

blp = Blueprint("console", __name__, template_folder="templates")

register_nav("console.dashboard", _l("Today"), 0)


@blp.before_request
def _load_and_check() -> None:
    access.load()
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.endpoint == "console.login_submit":
        csrf.check(csrf.login_token(request.cookies.get(sessions.login_cookie_name())))
    else:
        row = g.console_session
        csrf.check(row.csrf_token if row is not None else None)


@blp.after_request
def _headers(resp: Response) -> Response:
    # a page may narrow its own (a file shown in a frame of another console page)
    return secure_page(resp)


@blp.app_context_processor
def _console_context() -> dict[str, Any]:
    if request.blueprint not in access.CONSOLE_BLUEPRINTS:
        return {}
    user = g.get("console_user")
    row = g.get("console_session")
    return {
        "console_user": user,
        "station_name": _station_name(user),
        "current_locale": str(get_locale()),
        "csrf_token": row.csrf_token if row is not None else None,
        "nav": entries_for(g.actor) if user is not None else [],
        "locales": CONSOLE_LOCALES,
    }


def _station_name(user: User | None) -> str:
    if user is None:
        return ""
    if user.station is None:
        return _("Sub-bureau (all stations)")
    name: str = user.station.name
    return name


# --- entry ---------------------------------------------------------------------------------


@blp.route("/", methods=["GET"])
@console_public
def root() -> ResponseReturnValue:
    """The address a new user types: the console, logged in or not."""
    return redirect(url_for("console.dashboard" if g.console_session is not None else "console.login"))


@blp.route("/console/login", methods=["GET"])
@console_public
def login() -> ResponseReturnValue:
    if g.console_session is not None:
        return redirect(url_for("console.dashboard"))
    notice = None
    if request.args.get("bye"):
        notice = _("You have logged out.")
    elif request.cookies.get(sessions.cookie_name()):
        notice = _("Your session has ended. Please log in again.")
    return _login_page(notice=notice)


def _login_page(
    *, status: int = 200, error: str | None = None, notice: str | None = None, username: str = ""
) -> Response:
    nonce = request.cookies.get(sessions.login_cookie_name())
    if nonce is None or not csrf.login_token(nonce):  # login_token(None) is None
        nonce = csrf.new_login_nonce()
    resp = make_response(
        render_template(
            "console/login.html",
            login_csrf=csrf.login_token(nonce),
            error=error,
            notice=notice,
            username=username,
            next=access.safe_next(request.values.get("next")),
        ),
        status,
    )
    resp.set_cookie(
        sessions.login_cookie_name(),
        nonce,
        max_age=3600,
        path="/",
        secure=sessions.cookie_secure(),
        httponly=True,
        samesite="Strict",
    )
    if notice and request.cookies.get(sessions.cookie_name()):
        _forget_session_cookie(resp)
    return resp


@blp.route("/console/login", methods=["POST"])
@console_public
def login_submit() -> ResponseReturnValue:
    """Password check, lock-outs and audit as the API's log-in; then a fresh session."""
    username = (request.form.get("username") or "").strip()
    password = request.form.get("password") or ""
    if not username or not password:
        return _login_page(status=422, error=_("Enter your username and password."), username=username)
    try:
        user = auth_services.authenticate(username, password)
    except TooManyRequests as exc:
        minutes = max(1, -(-int(exc.extra.get("retry_after", 60)) // 60))
        return _login_page(
            status=429,
            username=username,
            error=_("Too many failed log-ins. Try again in %(minutes)d minutes.", minutes=minutes),
        )
    except Unauthorized:
        return _login_page(status=401, username=username, error=_("Wrong username or password."))
    if user.role not in sessions.CONSOLE_ROLES:
        audit.record(
            auth_services.actor_of(user),
            "auth.login_failed",
            "user",
            user.id,
            after={"username": pii.scrub(username), "reason": "role may not use the console"},
            station_id=user.station_id,
        )
        return _login_page(
            status=403,
            username=username,
            error=_(
                "This account cannot use the station console: it is for station staff. "
                "Officers work on their tablets; residents use the mini-program."
            ),
        )
    # Session fixation: whatever session id the browser brought is dropped, and a new one issued.
    sessions.end(request.cookies.get(sessions.cookie_name()))
    sessions.purge_expired()
    opened = sessions.open_session(user)
    audit.record(auth_services.actor_of(user), "auth.login", "user", user.id, after={"channel": "console"})
    resp = redirect(access.safe_next(request.form.get("next")) or url_for("console.dashboard"))
    resp.set_cookie(
        sessions.cookie_name(),
        opened.token,
        path="/",
        secure=sessions.cookie_secure(),
        httponly=True,
        samesite="Strict",
    )
    resp.delete_cookie(
        sessions.login_cookie_name(), path="/", secure=sessions.cookie_secure(), httponly=True, samesite="Strict"
    )
    return resp


@blp.route("/console/logout", methods=["POST"])
@staff_page()
def logout() -> ResponseReturnValue:
    row = sessions.end(request.cookies.get(sessions.cookie_name()))
    if row is not None:
        audit.record(g.actor, "auth.logout", "user", g.actor.user_id, after={"channel": "console"})
    resp = redirect(url_for("console.login", bye=1))
    _forget_session_cookie(resp)
    return resp


def _forget_session_cookie(resp: BaseResponse) -> None:
    resp.delete_cookie(
        sessions.cookie_name(), path="/", secure=sessions.cookie_secure(), httponly=True, samesite="Strict"
    )


@blp.route("/console/language", methods=["POST"])
@staff_page()
def language() -> ResponseReturnValue:
    """The account's console language, kept with the account (it follows the clerk to another desk)."""
    chosen = request.form.get("locale")
    if chosen not in CONSOLE_LOCALES:
        raise DomainError("locale: must be one of zh_CN, en", errors={"locale": ["must be zh_CN or en"]})
    user = g.console_user
    user.locale = chosen
    return redirect(access.safe_next(request.form.get("next")) or url_for("console.dashboard"))


# --- today -----------------------------------------------------------------------------------


@blp.route("/console/", methods=["GET"])
@staff_page()
def dashboard() -> ResponseReturnValue:
    """今日: every panel the features registered that this account may see."""
    actor = g.actor
    panels = [(panel, panel.render(actor)) for panel in panels_for(actor)]
    return render_template("console/dashboard.html", panels=panels, today=clock.today(), now=clock.now())


@blp.route("/console/<path:rest>", methods=["GET", "POST"])
@console_public
def not_found(rest: str) -> ResponseReturnValue:
    raise NotFound()


# --- errors as pages ------------------------------------------------------------------------


@blp.errorhandler(DomainError)
def _domain_error(err: DomainError) -> ResponseReturnValue:
    return _error_page(err.status, err.title, err.detail)


@blp.errorhandler(HTTPException)
def _http_error(err: HTTPException) -> ResponseReturnValue:
    return _error_page(err.code or 500, err.name, err.description or err.name)


@blp.errorhandler(Exception)
def _unexpected(err: Exception) -> ResponseReturnValue:
    if isinstance(err, HTTPException):
        return _http_error(err)
    if isinstance(err, DomainError):
        return _domain_error(err)
    log.exception("unhandled error in the console")
    return _error_page(500, "Internal server error", "The server failed to handle this request; it has been logged.")


def _error_page(status: int, title: str, detail: str) -> tuple[str, int]:
    db.session.rollback()
    return render_template(
        "console/error.html", status=status, title=translate_text(title), detail=translate_detail(detail)
    ), status


def page_blueprint(name: str, import_name: str, url_prefix: str) -> Blueprint:
    """A feature's console pages: a blueprint with the kernel's session loading, CSRF check,
    security headers, base-template context and error pages. Its templates live in the
    feature's ``templates/`` folder; the feature registers it in its ``register(app)``."""
    pages = Blueprint(name, import_name, template_folder="templates", url_prefix=url_prefix)
    pages.before_request(_load_and_check)
    pages.after_request(_headers)
    pages.register_error_handler(DomainError, _domain_error)
    pages.register_error_handler(HTTPException, _http_error)
    pages.register_error_handler(Exception, _unexpected)
    access.CONSOLE_BLUEPRINTS.add(name)
    return pages
