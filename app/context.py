"""Who is asking, from where: set once per request (or per CLI command / sync mutation) and
read by the audit trail and the logs, so services need not touch ``flask.request``."""
from __future__ import annotations

import contextvars
import re
import uuid
from dataclasses import dataclass

from flask import Flask, g, request

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
audit_context: contextvars.ContextVar[dict | None] = contextvars.ContextVar("audit_context", default=None)


def client_address(trusted_proxies: int) -> str | None:
    """The socket address, or the address the last trusted proxy saw."""
    if trusted_proxies > 0:
        hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
        if len(hops) >= trusted_proxies:
            return hops[-trusted_proxies]
    return request.remote_addr


def init_app(app: Flask) -> None:
    @app.before_request
    def _begin():
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        g.request_id = rid
        g._meta_token = _meta.set(RequestMeta(rid, client_address(app.config["TRUSTED_PROXIES"])))
        g._begin_token = sqlite_begin_mode.set("DEFERRED" if request.method in READ_ONLY_METHODS else "IMMEDIATE")

    @app.after_request
    def _stamp(resp):
        rid = g.get("request_id")
        if rid:
            resp.headers["X-Request-ID"] = rid
        resp.headers.setdefault("Cache-Control", "no-store")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        return resp

    @app.teardown_request
    def _end(_exc):
        for var, name in ((_meta, "_meta_token"), (sqlite_begin_mode, "_begin_token")):
            token = g.pop(name, None)
            if token is not None:
                var.reset(token)
