"""Examples for the OpenAPI document: every schema field without one gets a realistic example
from its type (and, for strings, its name), so every request and response in /docs shows a
filled-in body instead of "string"."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import marshmallow as ma
from apispec import APISpec
from flask_smorest import Api
from werkzeug.routing import Rule

View = TypeVar("View", bound=Callable[..., Any])

STRING_EXAMPLES = {
    "name": "张伟",
    "display_name": "王芳",
    "username": "li.wei",
    "address": "北山街道12号3单元402",
    "contact_name": "李娜",
    "caller_name": "王先生",
    "reason": "居民来电改期",
    "note": "已登记",
    "notes": "",
    "label": "Tablet 07",
    "code": "XH01",
    "reference": "7KQ2MX9P",
    "permit_number": "XH01-2026-000123",
    "phone": "138****5678",
    "contact_phone": "138****5678",
    "caller_phone": "139****1234",
    "identity_number": "3301**********123X",
    "status": "active",
    "kind": "community",
    "role": "officer",
    "purpose": "registration",
    "channel": "phone",
    "entity": "resident",
    "action": "user.update",
    "hukou_address": "河南省信阳市平桥区",
    "ethnicity": "汉族",
    "sex": "female",
    "locale": "zh",
    "token": "eyJhbGciOiJFUzI1NiIsInR5cCI6ImRyIn0.eyJqdGkiOiIuLi4ifQ.c2lnbmF0dXJl",
    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "content_type": "image/jpeg",
    "cursor": "eyJkIjoiLi4uIn0",
    "title": "Not found",
}


def _example(field: ma.fields.Field[Any], name: str) -> object:
    checks = [
        (ma.fields.UUID, "0f8fad5b-d9cb-469f-a165-70867728950e"),
        (ma.fields.AwareDateTime, "2026-11-25T09:30:00+08:00"),
        (ma.fields.DateTime, "2026-11-25T01:30:00+00:00"),
        (ma.fields.Date, "2026-11-25"),
        (ma.fields.Time, "09:00"),
        (ma.fields.Boolean, True),
        (ma.fields.Integer, 1),
        (ma.fields.Float, 1.5),
        (ma.fields.Dict, {}),
    ]
    for kind, value in checks:
        if isinstance(field, kind):
            return value
    if isinstance(field, ma.fields.String):
        if name.endswith("sha256"):
            return STRING_EXAMPLES["sha256"]
        return STRING_EXAMPLES.get(name, name.replace("_", " "))
    return None


def _fits(value: object, ret: dict[str, Any]) -> bool:
    """An example must validate against its own schema: one that would not is left out."""
    if not isinstance(value, str):
        return True
    if "pattern" in ret and not re.search(ret["pattern"], value):
        return False
    fits: bool = ret.get("minLength", 0) <= len(value) <= ret.get("maxLength", len(value))
    return fits


def add_examples(api: Api) -> None:
    converter = api.ma_plugin.converter  # a new one per init_app; add the rule to each once
    if getattr(converter, "_doorstep_examples", False):
        return
    converter._doorstep_examples = True

    def attribute(self: object, field: ma.fields.Field[Any], ret: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if "example" in ret or "examples" in ret or "$ref" in ret or field.metadata.get("example") is not None:
            return {}
        if isinstance(field, (ma.fields.Nested, ma.fields.List, ma.fields.Pluck)):
            return {}
        if ret.get("enum"):
            return {"example": ret["enum"][0]}  # a made-up word would not be one of the allowed values
        value = _example(field, field.data_key or field.name or "")
        return {} if value is None or not _fits(value, ret) else {"example": value}

    converter.add_attribute_function(attribute)


def json_example(example: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    """``@blp.doc(responses=...)`` for a view that returns plain JSON without a schema."""
    return {"responses": {"200": {"description": description, "content": {"application/json": {"example": example}}}}}


# Every error the API sends is application/problem+json with one shape (app/errors.py); these are
# the components each operation refers to, by the status it can answer with.
ERROR_RESPONSES = {
    "400": ("BAD_REQUEST", "A required header is missing or malformed"),
    "401": ("UNAUTHORIZED", "No valid access token (WWW-Authenticate says which scheme)"),
    "403": ("FORBIDDEN", "Your role may not do this"),
    "404": ("NOT_FOUND", "No such record in your scope (another station's record is a 404 too)"),
    "409": ("CONFLICT", "The record's state refuses this change"),
    "412": ("PRECONDITION_FAILED", "If-Match names a version that is no longer current"),
    "422": ("UNPROCESSABLE_ENTITY", "A field is invalid; `errors` names each field and the reason"),
    "428": ("PRECONDITION_REQUIRED", "This edit needs If-Match with the ETag you read"),
    "429": ("TOO_MANY_REQUESTS", "Rate-limited; Retry-After says how many seconds to wait"),
}
WRITE_METHODS = {"post", "put", "patch", "delete"}
BEARER = "bearer"


def rate_limited(view: View) -> View:
    """Mark a route that may answer 429 with Retry-After, so the document says so."""
    # A marker on the function object, read by complete_operation; functions take no declared attributes.
    view._doorstep_rate_limited = True  # type: ignore[attr-defined]
    return view


def complete_operation(operation: dict[str, Any], *, method: str, view: Callable[..., object], rule: Rule) -> None:
    """Fill in what every operation of the published contract must state, from how its view is built.

    The route decorators already know who may call it (``requires``/``public``), whether it edits
    a versioned record (``etagged``), whether it is rate-limited; writing the same facts again by
    hand in each route would drift from the code, so the document is derived from them."""
    operation.setdefault("operationId", view.__name__)
    responses = operation["responses"] = {str(code): r for code, r in operation.get("responses", {}).items()}
    kind, _permission = getattr(view, "_doorstep_access", ("public", None))
    wanted: set[str] = set()
    if kind == "requires":
        operation["security"] = [{BEARER: []}]
        wanted |= {"401", "403"}
    else:
        operation["security"] = []  # explicitly public: no token needed
    if rule.arguments:
        wanted.add("404")
    if operation.get("parameters") or operation.get("requestBody") or method in WRITE_METHODS:
        wanted.add("422")
    if kind == "requires" and method in WRITE_METHODS:
        wanted.add("409")
    if any(
        p.get("in") == "header" and p.get("required") for p in operation.get("parameters", []) if isinstance(p, dict)
    ):
        wanted.add("400")
    etag = getattr(view, "_doorstep_etag", None)
    if etag == "edit":
        wanted |= {"412", "428"}
        operation.setdefault("parameters", []).append(
            {
                "in": "header",
                "name": "If-Match",
                "required": True,
                "schema": {"type": "string"},
                "example": '"3"',
                "description": "The ETag of the version you read; a stale one is refused (412)",
            }
        )
    if getattr(view, "_doorstep_rate_limited", False):
        wanted.add("429")
    for status in sorted(wanted):
        responses.setdefault(status, ERROR_RESPONSES[status][0])
    for status, response in responses.items():
        if not (isinstance(response, dict) and status.startswith("2")):
            continue
        if status == "201" and getattr(view, "_doorstep_locates", None):
            response.setdefault("headers", {}).setdefault("Location", "LOCATION")
        if etag:
            response.setdefault("headers", {}).setdefault("ETag", "ETAG")
    responses.setdefault("default", "DEFAULT_ERROR")


PROBLEM_HEADERS = {
    "TOO_MANY_REQUESTS": {"Retry-After": "RETRY_AFTER"},
    "UNAUTHORIZED": {"WWW-Authenticate": "WWW_AUTHENTICATE"},
}


def register_components(spec: APISpec) -> None:
    """The shared headers the operations refer to by name."""
    spec.components.header(
        "LOCATION",
        {
            "description": "The URL of the record just created",
            "schema": {"type": "string", "format": "uri-reference"},
            "example": "/api/v1/residents/0f8fad5b-d9cb-469f-a165-70867728950e",
        },
        lazy=True,
    )
    spec.components.header(
        "ETAG",
        {
            "description": "The record's version as a strong entity tag; send it back in If-Match to edit",
            "schema": {"type": "string"},
            "example": '"3"',
        },
        lazy=True,
    )
    spec.components.header(
        "RETRY_AFTER",
        {
            "description": "Seconds to wait before trying again",
            "schema": {"type": "integer", "minimum": 1},
            "example": 60,
        },
        lazy=True,
    )
    spec.components.header(
        "WWW_AUTHENTICATE",
        {
            "description": "The scheme to authenticate with",
            "schema": {"type": "string"},
            "example": 'Bearer realm="doorstep"',
        },
        lazy=True,
    )
    spec.components.header(
        "PAGINATION",
        {
            "description": "Pagination metadata as JSON: total, total_pages, first_page, last_page, page, "
            "previous_page, next_page",
            "schema": {"type": "string"},
            "example": '{"total": 42, "total_pages": 5, "first_page": 1, "last_page": 5, "page": 1, "next_page": 2}',
        },
        lazy=True,
    )
