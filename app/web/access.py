"""Who is using the console. Each console view is marked, as every API route is, and the app
refuses to start with an unmarked one (``app.auth.permissions.enforce_marked``):
``@console_public`` (the log-in page) or ``@staff_page`` (everything else: a live session of a
staff member or an administrator, else a redirect to the log-in page)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import g, redirect, request, url_for
from flask.typing import ResponseReturnValue

from app.auth.actor import Actor
from app.errors import Forbidden, phrase
from app.web import sessions

# The blueprints whose pages are console pages: the kernel's, and the features' (page_blueprint).
CONSOLE_BLUEPRINTS: set[str] = {"console"}

P = ParamSpec("P")
View = TypeVar("View", bound=Callable[..., ResponseReturnValue])


def load() -> None:
    """Find this request's session (before the view runs): ``g.console_session``,
    ``g.console_user`` and ``g.actor``, or none of them."""
    row = sessions.find(request.cookies.get(sessions.cookie_name()))
    g.console_session = row
    g.console_user = row.user if row is not None else None
    if row is not None:
        user = row.user
        g.actor = Actor(user_id=user.id, role=user.role, station_id=user.station_id)


def console_public(view: View) -> View:
    # A marker on the function object, read by enforce_marked; functions take no declared attributes.
    view._doorstep_access = ("console", None)  # type: ignore[attr-defined]
    return view


def staff_page(
    permission: str | None = None,
) -> Callable[[Callable[P, ResponseReturnValue]], Callable[P, ResponseReturnValue]]:
    """A page for a logged-in staff member or administrator holding ``permission`` (if given)."""

    def decorate(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
            row = g.get("console_session")
            if row is None:
                if request.headers.get("HX-Request"):
                    # htmx would swap the log-in page into a panel; send the whole page there instead.
                    return "", 204, {"HX-Redirect": url_for("console.login")}
                return redirect(url_for("console.login", next=_safe_next(request.full_path)))
            if permission is not None and not g.actor.can(permission):
                raise Forbidden(phrase("your role may not %(permission)s", permission=permission))
            sessions.touch(row)
            return view(*args, **kwargs)

        # A marker on the function object, read by enforce_marked; functions take no declared attributes.
        wrapper._doorstep_access = ("console", permission or "session")  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _safe_next(path: str | None) -> str | None:
    """Only a path of this console is a place to return to after log-in (no open redirect)."""
    if not path:
        return None
    path = path.rstrip("?")
    if path.startswith("/console/") and not path.startswith("//") and "\\" not in path:
        return path
    return None


safe_next = _safe_next
