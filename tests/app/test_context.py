"""Behind reverse proxies the app believes exactly the configured number of X-Forwarded-For hops,
so rate limits and audit events count the real client, and a client cannot pick its own address."""

from __future__ import annotations

import pytest
from flask import request, session

from app.context import current_meta
from compose import create_app
from tests.fixtures.database import make_config


def _app(trusted: int):
    app = create_app(make_config(TRUSTED_PROXIES=trusted))
    app.add_url_rule("/_whoami", "whoami", lambda: {"addr": current_meta().client_addr, "scheme": request.scheme})
    return app.test_client()


@pytest.mark.parametrize(
    "trusted, forwarded, seen",
    [
        (0, "203.0.113.7", "127.0.0.1"),  # no proxy configured: the header is ignored
        (1, "203.0.113.7", "203.0.113.7"),  # what the one proxy saw
        (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),  # a spoofed first hop is not believed
        (2, "6.6.6.6, 203.0.113.7, 10.0.0.2", "203.0.113.7"),  # two proxies: the client is the second from the end
    ],
)
def test_the_client_address_is_the_one_the_trusted_proxies_saw(trusted, forwarded, seen):
    proto = ", ".join(["https"] * max(trusted, 1))  # each proxy adds the scheme it was reached by
    resp = _app(trusted).get("/_whoami", headers={"X-Forwarded-For": forwarded, "X-Forwarded-Proto": proto})
    assert resp.json["addr"] == seen
    assert resp.json["scheme"] == ("https" if trusted else "http")


def test_no_request_opens_or_writes_a_cookie_session(app):
    """The API is bearer-token only and the console keeps its sessions in the database: Flask's
    cookie session is never opened, and a write to it fails instead of setting a cookie."""
    with app.test_request_context("/api/v1/me", headers={"Cookie": "session=forged"}):
        app.preprocess_request()
        assert dict(session) == {}
        with pytest.raises(RuntimeError):
            session["who"] = "anyone"
