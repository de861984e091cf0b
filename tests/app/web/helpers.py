"""Logging in to the console the way a browser does: GET the form (its token and cookie), POST it."""

from __future__ import annotations

import re

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_token(html: str) -> str:
    return TOKEN.search(html).group(1)


def log_in(client, user, password: str | None = None, **headers):
    page = client.get("/console/login", headers=headers)
    return client.post(
        "/console/login",
        headers=headers,
        data={
            "csrf_token": form_token(page.get_data(as_text=True)),
            "username": user.username,
            "password": password if password is not None else user.password,
        },
    )


def session_token(client) -> str:
    """The CSRF token of the logged-in page (every page carries it in its forms)."""
    return form_token(client.get("/console/").get_data(as_text=True))


def cookie(client, name: str = "doorstep"):
    return client.get_cookie(name)
