"""Forms for anyone, no session needed (the receipt check, the progress look-up): the page sets
the nonce cookie the log-in form uses and carries its HMAC as the CSRF token, which
``citizen.session.load`` checks for every endpoint in ``NONCE_FORMS``."""

from __future__ import annotations

from typing import Any

from flask import make_response, render_template, request
from werkzeug.wrappers import Response as BaseResponse

from app.web import csrf
from citizen import session


def nonce_form(endpoint: str) -> None:
    """Mark a POST endpoint as a form for anyone (its token is the nonce cookie's HMAC)."""
    session.NONCE_FORMS.add(endpoint)


def render(template: str, status: int = 200, **context: Any) -> BaseResponse:
    """The page with ``form_csrf`` for its forms, and the nonce cookie that token is made from."""
    nonce = request.cookies.get(session.login_cookie_name()) or ""
    if not csrf.login_token(nonce):
        nonce = csrf.new_login_nonce()
    resp = make_response(render_template(template, form_csrf=csrf.login_token(nonce), **context), status)
    session.set_cookie(resp, session.login_cookie_name(), nonce, max_age=3600)
    return resp
