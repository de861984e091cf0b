"""How deeply a JSON body may nest, checked before any recursive code sees it.

Why: the standard library's decoder (webargs uses it) recurses once per level and fails with
RecursionError — a 500 — near a thousand; the encoders that write stored results and audit rows
stop at 254. A document deeper than any form the API takes is a client bug or an attack, so one
limit, far above every real shape and far below every library's, answers 422 naming the body, for
every route and for a sync push alike. The body is read by orjson, which decodes iteratively in C
and gives up by itself past 1024 levels, and the parsed value is then measured level by level
(only containers are visited: a push of 500 mutations costs a fraction of a millisecond)."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Flask, request

from app.errors import Unprocessable, phrase

MAX_DEPTH = 64

_SELF_CHECKED: set[str] = set()


def _too_deep() -> str:
    return phrase("nested deeper than %(depth)s levels", depth=MAX_DEPTH)


def too_deep() -> Unprocessable:
    return Unprocessable(
        f"body: {_too_deep()}",
        errors={"body": [_too_deep()]},
        slug="too-deep",
    )


def nesting_exceeds(value: object, limit: int = MAX_DEPTH) -> bool:
    """True when arrays and objects nest more than ``limit`` deep; breadth first, no recursion."""
    level, depth = [value], 0
    while level:
        depth += 1
        if depth > limit:
            return True
        deeper: list[object] = []
        for container in level:
            if type(container) is dict:
                container = container.values()
            elif type(container) is not list:
                continue
            for item in container:
                kind = type(item)
                if kind is dict or kind is list:
                    deeper.append(item)
        level = deeper
    return False


def check_parsed(value: object) -> None:
    if nesting_exceeds(value):
        raise too_deep()


def loads(raw: bytes) -> Any:
    """Parse a body that must be JSON: too deep is a 422 (``too_deep``), anything else the parser
    refuses is raised as ``orjson.JSONDecodeError`` for the caller to answer."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc):
            raise too_deep() from None
        raise
    check_parsed(value)
    return value


def check_depth(raw: bytes) -> None:
    """The check alone: a body that is not JSON at all is left for the route to refuse."""
    try:
        loads(raw)
    except orjson.JSONDecodeError:
        pass


def self_checked(endpoint: str) -> None:
    """A route that parses its own body with ``loads`` (sync, which may receive it compressed)."""
    _SELF_CHECKED.add(endpoint)


def init_app(app: Flask) -> None:
    """Every JSON body, before a view or a parser reads it."""

    @app.before_request
    def _bounded_json() -> None:
        if (
            request.is_json
            and request.content_length != 0
            and request.endpoint not in _SELF_CHECKED
            and not request.headers.get("Content-Encoding")
        ):
            check_depth(request.get_data(cache=True))
