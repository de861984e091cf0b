"""Who may do what. Permissions are named after actions and granted to roles in one table;
anything not granted here is refused, and a route not marked ``public`` or ``requires(...)``
makes the app refuse to start."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from flask import Flask, g, request

from app.auth.actor import ROLE_PERMISSIONS, Actor
from app.auth.tokens import Account, Authenticated, RequestProof, authenticate
from app.db import sqlite_begin_mode
from app.errors import Forbidden, Unauthorized, phrase
from doorstep_protocol.device_proof import HEADER


def current_actor() -> Actor:
    actor: Actor = g.actor
    return actor


def current_account() -> Account:
    """The caller's account as this request's authentication read it (``GET /me``)."""
    account: Account = g.account
    return account


def _authenticate(allow_retired_device: bool) -> Authenticated:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("a Bearer access token is required")
    query = request.query_string.decode("latin-1")
    target = request.path + (f"?{query}" if query else "")
    return authenticate(
        token.strip(),
        allow_retired_device=allow_retired_device,
        request_proof=RequestProof(request.headers.get(HEADER), request.method, target),
    )


P = ParamSpec("P")
R = TypeVar("R")


def requires(
    permission: str, *, allow_retired_device: bool = False, writes: bool = False
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Authenticate, then require ``permission``; place directly under ``@blp.route``.

    ``writes`` marks a GET that records something (an audited read), so SQLite takes the
    write lock when its transaction begins rather than failing to upgrade later."""
    if not any(permission in perms for perms in ROLE_PERMISSIONS.values()):
        raise ValueError(f"permission {permission!r} is granted to no role")

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if writes:
                sqlite_begin_mode.set("IMMEDIATE")
            authenticated = _authenticate(allow_retired_device)
            if not authenticated.actor.can(permission):
                raise Forbidden(phrase("your role may not %(permission)s", permission=permission))
            g.actor, g.account = authenticated.actor, authenticated.account
            return view(*args, **kwargs)

        # A marker on the function object, read by enforce_marked; functions take no declared attributes.
        wrapper._doorstep_access = ("requires", permission)  # type: ignore[attr-defined]
        return wrapper

    return decorate


View = TypeVar("View", bound=Callable[..., Any])


def public(view: View) -> View:
    """Open to anyone; the view itself rate-limits if it must."""
    view._doorstep_access = ("public", None)  # type: ignore[attr-defined]
    return view


# Endpoints owned by libraries: the OpenAPI document, its UI and static files.
LIBRARY_ENDPOINTS = {"static", "api-docs.openapi_json", "api-docs.openapi_swagger_ui"}


def unmarked_endpoints(app: Flask) -> list[str]:
    return sorted(
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in LIBRARY_ENDPOINTS and not hasattr(app.view_functions[rule.endpoint], "_doorstep_access")
    )


def enforce_marked(app: Flask) -> None:
    missing = unmarked_endpoints(app)
    if missing:
        raise RuntimeError(f"routes without an access rule (deny by default): {missing}")
