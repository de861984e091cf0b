"""Response headers that carry meaning: ``Location`` of what a POST created, and optimistic
concurrency for online edits: ``ETag`` out, ``If-Match`` in (RFC 9110 §13.1.1).

The tag is the record's version, the same number a tablet sends as ``base_version`` in a sync
push, so an edit made in the console and one made offline are refused by the same rule: a change
based on a version that is no longer current is refused instead of silently overwriting it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec

from flask import request, url_for

from app.errors import PreconditionFailed, PreconditionRequired, phrase

P = ParamSpec("P")


def etag_of(version: int | str) -> str:
    """A strong entity tag: quoted, as HTTP requires (a bare number is not a valid ETag)."""
    return f'"{version}"'


def _listed_tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def check_if_match(current: str) -> None:
    """Refuse an edit without ``If-Match`` (428) or based on another version (412).

    Weak tags (``W/"…"``) never match: RFC 9110 requires the strong comparison for If-Match."""
    header = request.headers.get("If-Match")
    if header is None or not header.strip():
        raise PreconditionRequired(
            phrase("If-Match: send the ETag of the record you edit (now %(etag)s)", etag=current),
            errors={"If-Match": ["required for this edit"]},
        )
    tags = _listed_tags(header)
    if "*" in tags or current in tags:
        return
    raise PreconditionFailed(
        phrase("If-Match: the record is now at %(etag)s; reload it and apply your change again", etag=current),
        errors={"If-Match": [phrase("stale or unknown; current ETag is %(etag)s", etag=current)]},
        etag=current,
    )


def _unpack(result: object) -> tuple[object, int | None, dict[str, Any]]:
    """flask-smorest accepts body, (body, status), (body, headers) and (body, status, headers)."""
    if not isinstance(result, tuple):
        return result, None, {}
    if len(result) == 3:
        return result[0], result[1], dict(result[2])
    if isinstance(result[1], int):
        return result[0], result[1], {}
    return result[0], None, dict(result[1])


def _with_headers(result: object, **headers: str) -> tuple[object, dict[str, Any]] | tuple[object, int, dict[str, Any]]:
    body, status, current = _unpack(result)
    current.update(headers)
    return (body, current) if status is None else (body, status, current)


def locates(endpoint: str, **params: str) -> Callable[[Callable[P, object]], Callable[P, object]]:
    """On a 201, send ``Location``: the URL of ``endpoint`` with each route parameter taken from the
    created record's attribute (``locates("field.get_resident", resident_id="id")``)."""

    def decorate(view: Callable[P, object]) -> Callable[P, object]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> object:
            result = view(*args, **kwargs)
            body, status, _ = _unpack(result)
            if status not in (None, 201) or body is None:  # None: the route's own status, 201
                return result
            values = {
                name: (body[attr] if isinstance(body, dict) else getattr(body, attr)) for name, attr in params.items()
            }
            return _with_headers(result if status else (body, 201), Location=url_for(endpoint, **values))

        # A marker on the function object (read by app.openapi); functions take no declared attributes.
        wrapper._doorstep_locates = endpoint  # type: ignore[attr-defined]
        return wrapper

    return decorate


def etagged(current: Callable[..., str], *, edit: bool = False) -> Callable[[Callable[P, object]], Callable[P, object]]:
    """Stamp the response with ``current(lock=…, **view_kwargs)``; with ``edit``, require ``If-Match`` first.

    Place it directly above the view function (under ``@blp.response``): ``current`` runs with the
    route's arguments and, for an edit, locks the row (``lock=True``), so the comparison and the
    change happen in one transaction and two editors of one version cannot both win. It runs again
    after the view, so the ETag sent back names the version the edit produced."""

    def decorate(view: Callable[P, object]) -> Callable[P, object]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> object:
            if edit:
                check_if_match(current(lock=True, **kwargs))
            result = view(*args, **kwargs)
            return _with_headers(result, ETag=current(lock=False, **kwargs))

        # A marker on the function object (read by app.openapi); functions take no declared attributes.
        wrapper._doorstep_etag = "edit" if edit else "read"  # type: ignore[attr-defined]
        return wrapper

    return decorate
