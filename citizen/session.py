"""The citizen's cookie session: the console's session table and CSRF kernel (app.web.sessions,
app.web.csrf) with the citizens' own cookies, so a citizen's cookie opens no console page and a
clerk's opens no citizen page.

``SameSite=Lax`` rather than the console's ``Strict``: the H5 is opened from an SMS link or a
mini-program, a navigation the browser may count as coming from another site, and a Strict cookie
would then look logged out. Lax still keeps the cookie off other sites' forms, and every form
carries the CSRF token as well."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from app.web import csrf, sessions

ROLES = ("citizen",)

# Forms anyone may send without a session (log-in, receipt check, progress look-up): their CSRF
# token is an HMAC of the nonce cookie, as the log-in's. A page module adds its own endpoints.
NONCE_FORMS: set[str] = {"citizen_pages.login_code", "citizen_pages.login_submit"}


def cookie_name() -> str:
    return "__Host-doorstep-citizen" if sessions.cookie_secure() else "doorstep-citizen"


def login_cookie_name() -> str:
    return "__Host-doorstep-citizen-login" if sessions.cookie_secure() else "doorstep-citizen-login"


def set_cookie(resp: BaseResponse, name: str, value: str, max_age: int | None = None) -> None:
    resp.set_cookie(
        name, value, max_age=max_age, path="/", secure=sessions.cookie_secure(), httponly=True, samesite="Lax"
    )


def forget(resp: BaseResponse, name: str) -> None:
    resp.delete_cookie(name, path="/", secure=sessions.cookie_secure(), httponly=True, samesite="Lax")


def load() -> None:
    """Find this browser's citizen session (or none) and refuse a form without its CSRF token."""
    g.citizen_session = sessions.find(request.cookies.get(cookie_name()), roles=ROLES)
    if g.citizen_session is not None:
        sessions.touch(g.citizen_session)
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.endpoint in NONCE_FORMS:
        csrf.check(csrf.login_token(request.cookies.get(login_cookie_name())))
    else:
        row = g.citizen_session
        csrf.check(row.csrf_token if row is not None else None)


def signed_in(view: Callable[..., Any]) -> Callable[..., Any]:
    """A page for a logged-in citizen; anyone else goes to the log-in page and comes back."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.citizen_session is None:
            return redirect(url_for("citizen_pages.login", next=request.path))
        return view(*args, **kwargs)

    return wrapper
