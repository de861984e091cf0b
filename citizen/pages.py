"""``/m/``: the citizens' pages. The kernel's security headers (CSP: this host only, no inline
script or style) and the vendored stylesheet; Chinese first."""

from __future__ import annotations

from pathlib import Path

from flask import (
    Blueprint,
    Response,
    g,
    make_response,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from app import audit, pii
from app.auth import services as auth_services
from app.auth.permissions import public
from app.errors import DomainError, TooManyRequests
from app.org.scoping import public_directory
from app.web import csrf, sessions
from app.web.i18n import translate_detail, translate_text
from app.web.security import secure_page
from citizen import session

STATIC = Path(__file__).resolve().parent / "static"

blp = Blueprint("citizen_pages", __name__, url_prefix="/m", template_folder="templates")
blp.after_request(secure_page)


@blp.route("/static/<path:filename>")
@public
def static(filename: str) -> Response:
    """The H5's own stylesheet (the vendored Pico and htmx come from the kernel's static files)."""
    return send_from_directory(STATIC, filename, max_age=3600)


@blp.route("/")
@public
def directory() -> str:
    """Find the service: stations, their areas, and what to have ready for the visit."""
    return render_template("citizen/directory.html", listing=public_directory())


@blp.route("", strict_slashes=False)
@public
def root() -> Response:
    return Response(status=308, headers={"Location": "/m/"})


blp.before_request(session.load)


def _safe_next(path: str | None) -> str | None:
    return path if path and path.startswith("/m/") and not path.startswith("/m//") else None


def _login_page(
    step: str = "phone", *, status: int = 200, error: str | None = None, notice: str | None = None, phone: str = ""
) -> BaseResponse:
    nonce = request.cookies.get(session.login_cookie_name()) or ""
    if not csrf.login_token(nonce):
        nonce = csrf.new_login_nonce()
    resp = make_response(
        render_template(
            "citizen/login.html",
            step=step,
            login_csrf=csrf.login_token(nonce),
            error=error,
            notice=notice,
            phone=phone,
            next=_safe_next(request.values.get("next")),
        ),
        status,
    )
    session.set_cookie(resp, session.login_cookie_name(), nonce, max_age=3600)
    return resp


def _refusal(exc: DomainError) -> str:
    if isinstance(exc, TooManyRequests):
        minutes = max(1, -(-int(exc.extra.get("retry_after", 60)) // 60))
        return str(_("Too many codes were asked for. Please try again in %(minutes)d minutes.", minutes=minutes))
    if exc.errors and "phone" in exc.errors:
        return str(_("That is not a mainland mobile number. Please check it."))
    if exc.slug == "sms-unavailable":
        return str(_("The text message could not be sent. Please try again in a minute."))
    return translate_detail(exc.detail) if exc.detail else translate_text(exc.title)


@blp.route("/login")
@public
def login() -> BaseResponse:
    """Log in by SMS code, step 1: the phone number."""
    if g.citizen_session is not None:
        return redirect(_safe_next(request.args.get("next")) or url_for("citizen_pages.me"))
    return _login_page()


@blp.route("/login/code", methods=["POST"])
@public
def login_code() -> BaseResponse:
    """Step 2: send the code (the API's request_otp: same limits), then ask for it."""
    phone = (request.form.get("phone") or "").strip()
    if not phone:
        return _login_page(status=422, error=_("Enter your mobile number."))
    try:
        auth_services.request_otp(phone, "zh")
    except DomainError as exc:
        return _login_page(status=exc.status, error=_refusal(exc), phone=phone)
    return _login_page("code", phone=phone, notice=_("A six-digit code has been sent to your phone."))


@blp.route("/login", methods=["POST"])
@public
def login_submit() -> BaseResponse:
    """Step 3: check the code (attempt limits and lock-out as the API's), then a fresh session."""
    phone = (request.form.get("phone") or "").strip()
    code = (request.form.get("code") or "").strip()
    if not phone or not code:
        return _login_page("code", status=422, error=_("Enter the code from the text message."), phone=phone)
    try:
        user = auth_services.citizen_by_otp(phone, code)
    except DomainError as exc:
        return _login_page("code", status=exc.status, error=_refusal(exc), phone=phone)
    sessions.end(request.cookies.get(session.cookie_name()))  # session fixation
    sessions.purge_expired()
    opened = sessions.open_session(user)
    audit.record(auth_services.actor_of(user), "auth.login", "user", user.id, after={"channel": "h5"})
    resp = redirect(_safe_next(request.form.get("next")) or url_for("citizen_pages.me"))
    session.set_cookie(resp, session.cookie_name(), opened.token)
    session.forget(resp, session.login_cookie_name())
    return resp


@blp.route("/me")
@public
@session.signed_in
def me() -> str:
    """The citizen's home once logged in."""
    user = g.citizen_session.user
    return render_template("citizen/me.html", phone=pii.mask_phone(user.phone), csrf_token=g.citizen_session.csrf_token)


@blp.route("/logout", methods=["POST"])
@public
@session.signed_in
def logout() -> BaseResponse:
    user = g.citizen_session.user
    sessions.end(request.cookies.get(session.cookie_name()))
    audit.record(auth_services.actor_of(user), "auth.logout", "user", user.id, after={"channel": "h5"})
    resp = redirect(url_for("citizen_pages.directory"))
    session.forget(resp, session.cookie_name())
    return resp


@blp.errorhandler(DomainError)
def _refused(err: DomainError) -> tuple[str, int]:
    """A refusal (a form's expired security token, above all) as a page in words, not JSON."""
    return render_template(
        "citizen/error.html", title=translate_text(err.title), detail=translate_detail(err.detail)
    ), err.status
