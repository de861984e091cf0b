"""Cross-site request forgery: every console request that is not a GET carries a token the
attacker's page cannot know, in the form (``csrf_token``) or, for htmx, in the ``X-CSRF-Token``
header that ``hx-headers`` on ``<body>`` adds to each of its requests.

A logged-in browser's token is its session's (a random value kept in the session row). The log-in
form has no session yet, so its token is an HMAC, under the secret key, of a random value in a
short-lived cookie of its own: a forged log-in (which would sign the victim into the attacker's
account) fails as well. ``SameSite=Strict`` cookies already keep other sites' requests
unauthenticated; the token is the second lock, and the one that holds in old browsers."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import current_app, request

from app.errors import DomainError

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"


class CsrfMissing(DomainError):
    status, slug, title = 400, "csrf-missing", "The form's security token is missing"


class CsrfInvalid(DomainError):
    status, slug, title = 403, "csrf-invalid", "The form's security token is wrong or expired"


def sent_token() -> str | None:
    return request.headers.get(HEADER) or request.form.get(FIELD) or None


def check(expected: str | None) -> None:
    """Refuse this request unless it carries ``expected``: 400 without a token, 403 with a wrong one."""
    sent = sent_token()
    if not sent:
        raise CsrfMissing("reload the page and submit the form again")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfInvalid("reload the page and submit the form again")


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


def login_token(nonce: str | None) -> str | None:
    """The log-in form's token for the nonce in its cookie (None without a nonce)."""
    if not nonce or len(nonce) > 64:
        return None
    key = hashlib.sha256(b"console-login-csrf:" + str(current_app.config["SECRET_KEY"]).encode()).digest()
    return hmac.new(key, nonce.encode(), hashlib.sha256).hexdigest()
