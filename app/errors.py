"""One error shape for the whole API: RFC 9457 ``application/problem+json``.

Services raise ``DomainError`` subclasses; this module alone decides how they, werkzeug's
HTTP errors, webargs validation errors and unexpected exceptions become responses.
"""

from __future__ import annotations

import http
import logging
import math
from typing import Any

import marshmallow as ma
from flask import Response, current_app, json
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed

from app.openapi import PROBLEM_HEADERS, register_components
from app.transient import is_retryable
from app.web.i18n import translate_detail, translate_text

log = logging.getLogger("doorstep.errors")

PROBLEM_MIMETYPE = "application/problem+json"


class DomainError(Exception):
    """A refusal a user can act on. ``slug`` becomes the end of the problem ``type``."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: dict[str, Any] | None = None,
        headers: dict[str, Any] | None = None,
        slug: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra
        if slug:
            self.slug = slug


class Unauthorized(DomainError):
    status, slug, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="doorstep"'})
        super().__init__(detail, **kw)


class DeviceRevoked(Unauthorized):
    slug, title = "device-revoked", "This device has been revoked"


class Forbidden(DomainError):
    status, slug, title = 403, "forbidden", "Not allowed"


class NotFound(DomainError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(DomainError):
    status, slug, title = 409, "conflict", "Conflict"


class PreconditionFailed(DomainError):
    status, slug, title = 412, "precondition-failed", "The record changed since you read it"


class PreconditionRequired(DomainError):
    status, slug, title = 428, "precondition-required", "Send If-Match with the ETag you read"


class Unprocessable(DomainError):
    status, slug, title = 422, "validation-failed", "The request could not be applied"


class TooManyRequests(DomainError):
    status, slug, title = 429, "too-many-requests", "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: float, **kw: Any) -> None:
        seconds = max(1, math.ceil(retry_after))  # rounded up: a client that waits this long gets in
        kw.setdefault("headers", {"Retry-After": str(seconds)})
        super().__init__(detail, retry_after=seconds, **kw)


def phrase(template: str, **values: Any) -> str:
    """A reason with values in it (a limit, a status, a date), in English for programs, made from a
    catalogue template (``%(name)s`` placeholders): the caller's language is put back together from
    the template and the values (``app.web.i18n.translate_reason``), where an f-string would leave
    the catalogue nothing to look up."""
    return template % values


def field_error(field: str, message: str, cls: type[DomainError] = Unprocessable, **kw: Any) -> DomainError:
    """The common case: one named field, one reason."""
    return cls(f"{field}: {message}", errors={field: [message]}, **kw)


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str,
    errors: dict[str, Any] | None = None,
    headers: dict[str, Any] | None = None,
    **extra: Any,
) -> Response:
    """The one problem+json response. ``title`` and ``detail`` follow the caller's
    ``Accept-Language`` through the app's catalogue (``app.web.i18n``); ``type``, ``errors`` and
    the extra members stay as they are, for programs to read."""
    body: dict[str, Any] = {
        "type": f"{current_app.config['PROBLEM_BASE']}/{slug}",
        "title": translate_text(title),
        "status": status,
        "detail": translate_detail(detail),
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    resp = current_app.response_class(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _flatten_webargs(messages: dict[str, Any]) -> dict[str, Any]:
    """webargs nests errors by location (``{"json": {"field": [...]}}``); clients want fields."""
    flat: dict[str, Any] = {}
    for location, errs in messages.items():
        if isinstance(errs, dict):
            for field, msgs in errs.items():
                flat[field] = msgs
        else:
            flat[location] = errs
    return flat


HTTP_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    412: "precondition-failed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-failed",
    428: "precondition-required",
    429: "too-many-requests",
    500: "internal-error",
}


def handle_domain_error(err: DomainError) -> Response:
    return problem_response(err.status, err.slug, err.title, err.detail, err.errors, err.headers, **err.extra)


def handle_http_exception(err: HTTPException) -> Response:
    if isinstance(err, InternalServerError) and err.original_exception is not None:
        return handle_unexpected(err.original_exception)
    data = getattr(err, "data", None) or {}
    errors = data.get("errors") or (_flatten_webargs(data["messages"]) if "messages" in data else None)
    detail = err.description or err.name
    if errors:
        detail = "; ".join(
            f"{f}: {m[0] if isinstance(m, list) and m and isinstance(m[0], str) else m}" for f, m in errors.items()
        )
    headers = dict(data.get("headers") or {})
    if err.code == 405 and isinstance(err, MethodNotAllowed) and err.valid_methods:
        headers["Allow"] = ", ".join(err.valid_methods)
    code = err.code if err.code is not None else 500  # Flask hands a handler only errors with a code
    return problem_response(code, HTTP_SLUGS.get(code, "http-error"), err.name, detail, errors, headers)


def handle_unexpected(err: BaseException) -> Response:
    if isinstance(err, HTTPException):
        return handle_http_exception(err)
    if isinstance(err, DomainError):
        return handle_domain_error(err)

    if is_retryable(err):
        log.warning("database busy or unreachable: %s", type(err.orig).__name__)
        return problem_response(
            503,
            "database-unavailable",
            "Service temporarily unavailable",
            "The database could not complete this request now; nothing was applied. Send it again shortly.",
            headers={"Retry-After": "1"},
        )
    log.exception("unhandled error")
    return problem_response(
        500, "internal-error", "Internal server error", "The server failed to handle this request; it has been logged."
    )


class ProblemSchema(ma.Schema):
    """The problem+json body (documentation only). Some problems add members of their own
    (``retry_after``, ``current_version``…), which RFC 9457 allows."""

    class Meta:
        unknown = ma.INCLUDE

    type = ma.fields.String(required=True, metadata={"example": "https://doorstep.local/problems/not-found"})
    title = ma.fields.String(required=True, metadata={"example": "Not found"})
    status = ma.fields.Integer(required=True, metadata={"example": 404})
    detail = ma.fields.String(required=True, metadata={"example": "no such resident"})
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Raw(),
        metadata={
            "description": "Per-field reasons: field name to a list of messages",
            "example": {"phone": ["must be an 11-digit mainland mobile number"]},
        },
    )


class ProblemApi(Api):
    """flask-smorest's Api with its error handler replaced by ours, and its documented error
    responses, headers and security scheme made to match what the app sends."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        register_components(self.spec)
        for status in http.HTTPStatus:
            if status < 400:
                continue
            response = {"description": status.phrase, "schema": self.ERROR_SCHEMA}
            prepare_response(response, self.spec, PROBLEM_MIMETYPE)
            if status.name in PROBLEM_HEADERS:
                response["headers"] = dict(PROBLEM_HEADERS[status.name])
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Any other error, in the same problem+json shape", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_MIMETYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)
        self.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})

    def _register_etag_headers(self) -> None:
        """ETag is registered with the other shared headers (app/openapi.py)."""

    def _register_pagination_header(self) -> None:
        """X-Pagination is registered with the other shared headers (app/openapi.py)."""

    def _register_error_handlers(self) -> None:
        app = self._app
        app.register_error_handler(DomainError, handle_domain_error)
        app.register_error_handler(HTTPException, handle_http_exception)
        app.register_error_handler(Exception, handle_unexpected)
