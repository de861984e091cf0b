"""The application factory: the one place that wires configuration, extensions and blueprints."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Protocol

import orjson
from flask import Flask, Request, Response, g, request
from flask.json.provider import DefaultJSONProvider
from flask.sessions import SessionInterface, SessionMixin
from flask.typing import ResponseReturnValue
from werkzeug.routing import BaseConverter, ValidationError

import app.attachments.models
import app.audit.models
import app.audit.services
import app.auth.models
import app.notify.console_panels
import app.notify.jobs
import app.notify.models
import app.org.models
import app.web.models
import app.workdays.models  # noqa: F401
from app import context, jsonlimits, logs, metrics, unit_of_work, web
from app.attachments.routes import blp as attachments_blp
from app.audit import console as audit_console
from app.audit.routes import blp as audit_blp
from app.auth import console as tablets_console
from app.auth.permissions import enforce_marked
from app.auth.routes import blp as auth_blp
from app.auth.routes import wellknown
from app.cli import register as register_commands
from app.config import INSTANCE_DIR, Config, check_production
from app.db import configure_sqlite, json_text
from app.extensions import api, migrate
from app.extensions import db as sql  # not ``db``: that name is the module ``app.db``
from app.health import blp as health_blp
from app.notify import console as notify_console
from app.notify.routes import blp as notify_blp
from app.openapi import add_examples
from app.org.routes import blp as org_blp
from app.scheduler import start_in_process
from app.schemas import LocalTime, refuse_unexpected_bodies
from app.web import export_pages
from app.workdays.routes import blp as calendar_blp


class Feature(Protocol):
    """What ``create_app`` needs of a feature package: a ``register(app)`` (``compose`` names them)."""

    def register(self, app: Flask) -> None: ...


class NoCookieSession(SessionInterface):
    """Flask's signed-cookie session is used by nothing here: the API is bearer-token only and the
    console keeps its sessions in the database (``app.web.sessions``). Flask's default interface
    still built a signing serializer and parsed the cookie on every request; this one hands out
    Flask's null session, which refuses any write, so a later use of ``flask.session`` fails
    loudly instead of quietly setting a cookie."""

    def open_session(self, app: Flask, request: Request) -> SessionMixin:
        return self.make_null_session(app)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        return None


class DoorstepFlask(Flask):
    # Flask's default json_provider_class, which this app keeps; its settings (sort_keys) are set below.
    json: DefaultJSONProvider
    session_interface = NoCookieSession()

    def dispatch_request(self) -> ResponseReturnValue:
        """Every view runs as one unit of work: committed when the view returns (its response is
        already rendered, so nothing is reloaded after the commit; a write view marked
        ``rendered_after_commit`` commits before its response is dumped), rolled back when it raises, and
        run again after a transient database failure (a deadlock, a serialization failure): see
        ``app.unit_of_work``."""
        return unit_of_work.run(super().dispatch_request, sql.session)


def create_app(config: Config | None = None, features: Iterable[Feature] = ()) -> Flask:
    """The kernel, then each feature's ``register(app)`` in the order given (its blueprints, CLI
    commands, jobs, sync handlers…). The kernel imports no feature: ``wsgi`` (via ``compose``)
    names them."""
    config = config or Config()
    check_production(config)
    logs.configure(config.LOG_LEVEL)

    app = DoorstepFlask(__name__, instance_path=str(INSTANCE_DIR))
    app.config.from_object(config)
    app.config["MAX_CONTENT_LENGTH"] = config.MAX_CONTENT_LENGTH
    app.json.sort_keys = False
    app.url_map.converters["isodate"] = IsoDateConverter

    if str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite:///"):
        INSTANCE_DIR.mkdir(exist_ok=True)
    # JSON columns written and read by orjson: UTF-8 rather than \u escapes (Chinese text takes half
    # the bytes) and a fraction of the time, which a push writing thousands of them notices.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}),
        "json_serializer": json_text,
        "json_deserializer": orjson.loads,
    }
    sql.init_app(app)
    migrate.init_app(app, sql, directory=str(MIGRATIONS_DIR), compare_type=True)
    api.init_app(app)
    add_examples(api)
    api.register_field(LocalTime, "string", None)  # its pattern says it all; "format: time" demands an offset
    context.init_app(app)
    jsonlimits.init_app(app)
    with app.app_context():
        configure_sqlite(sql.engine)

    for blp in (health_blp, wellknown, auth_blp, org_blp, audit_blp, attachments_blp, calendar_blp):
        api.register_blueprint(blp)
    register_commands(app)
    for feature in features:
        feature.register(app)
    api.register_blueprint(notify_blp)  # after the features: where the API document has always listed it
    metrics.init_app(app)  # /metrics and the request counters
    web.init_app(app)  # the console; features add their panels (console_panels) in register(app)
    app.register_blueprint(notify_console.pages)  # the kernel's own console pages: the outbox,
    app.register_blueprint(audit_console.pages)  # the audit trail,
    app.register_blueprint(export_pages.pages)  # the exports the features register,
    app.register_blueprint(tablets_console.pages)  # the station's tablets

    enforce_marked(app)
    refuse_unexpected_bodies(app)
    _access_log(app)
    if config.SCHEDULER_IN_PROCESS and not config.TESTING:
        start_in_process(app)
    return app


MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class IsoDateConverter(BaseConverter):
    """``<isodate:day>`` in a route: a YYYY-MM-DD date, anything else is a 404."""

    regex = r"\d{4}-\d{2}-\d{2}"

    def to_python(self, value: str) -> date:
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValidationError() from None

    def to_url(self, value: date) -> str:
        return value.isoformat()


def _access_log(app: Flask) -> None:
    log = logging.getLogger("doorstep.access")

    @app.before_request
    def _start() -> None:
        g._started = time.perf_counter()

    @app.after_request
    def _done(resp: Response) -> Response:
        if not log.isEnabledFor(logging.INFO):  # below the configured level: build nothing
            return resp
        started = g.get("_started")
        log.info(
            "%s %s %s",
            request.method,
            request.path,
            resp.status_code,
            extra={
                "event": "request",
                "method": request.method,
                "path": request.path,
                "status": resp.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
            },
        )
        return resp
