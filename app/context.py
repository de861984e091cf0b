"""Who is asking, from where: set once per request (or per CLI command / sync mutation) and
read by the audit trail and the logs, so services need not touch ``flask.request``."""

from __future__ import annotations

import contextvars
import re
import uuid
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from app.db import sqlite_begin_mode


@dataclass(frozen=True)
class RequestMeta:
    request_id: str
    client_addr: str | None


_meta: contextvars.ContextVar[RequestMeta | None] = contextvars.ContextVar("request_meta", default=None)
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
READ_ONLY_METHODS = {"GET", "HEAD", "OPTIONS"}


def current_meta() -> RequestMeta | None:
    return _meta.get()


# What the audit trail adds to every event written while a tablet's mutation is applied: when it
# happened on the device and when the server received it (device clocks are recorded, never trusted).
audit_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("audit_context", default=None)


def _reads_first() -> bool:
    """A read-only method, or a view that takes the write lock itself (``unit_of_work.writing``)."""
    if request.method in READ_ONLY_METHODS:
        return True
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "_doorstep_reads_first", False))


def init_app(app: Flask) -> None:
    trusted = app.config["TRUSTED_PROXIES"]
    if trusted > 0:
        # Exactly the configured number of hops of X-Forwarded-For and -Proto are believed: one more
        # would let a client choose the address its rate limits and audit events are counted under.
        # Flask's documented way to add WSGI middleware; typeshed sees wsgi_app only as a method.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=trusted, x_proto=trusted, x_host=0, x_port=0, x_prefix=0
        )

    @app.before_request
    def _begin() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        g.request_id = rid
        g._meta_token = _meta.set(RequestMeta(rid, request.remote_addr))
        g._begin_token = sqlite_begin_mode.set("DEFERRED" if _reads_first() else "IMMEDIATE")

    @app.after_request
    def _stamp(resp: Response) -> Response:
        rid = g.get("request_id")
        if rid:
            resp.headers["X-Request-ID"] = rid
        resp.headers.setdefault("Cache-Control", "no-store")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        return resp

    @app.teardown_request
    def _end(_exc: BaseException | None) -> None:
        for var, name in ((_meta, "_meta_token"), (sqlite_begin_mode, "_begin_token")):
            token = g.pop(name, None)
            if token is not None:
                var.reset(token)
