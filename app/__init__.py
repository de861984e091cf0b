"""The application factory: the one place that wires configuration, extensions and blueprints."""
from __future__ import annotations

import logging
import time
from datetime import date

from flask import Flask, g, request
from werkzeug.routing import BaseConverter, ValidationError

from app import context, logs
from app.config import Config, check_production


class DoorstepFlask(Flask):
    def dispatch_request(self):
        """Every view runs as one unit of work that a transient database failure (a deadlock, a
        serialization failure) runs again: see ``app.unit_of_work``."""
        from app.extensions import db
        from app.unit_of_work import retrying

        return retrying(super().dispatch_request, db.session)


def create_app(config: Config | None = None) -> Flask:
    config = config or Config()
    check_production(config)
    logs.configure(config.LOG_LEVEL)

    app = DoorstepFlask(__name__, instance_path=str(_instance_dir()))
    app.config.from_object(config)
    app.config["MAX_CONTENT_LENGTH"] = config.MAX_CONTENT_LENGTH
    app.json.sort_keys = False
    app.url_map.converters["isodate"] = IsoDateConverter

    import orjson

    from app.db import configure_sqlite, json_text
    from app.extensions import api, db, migrate

    if str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite:///"):
        _instance_dir().mkdir(exist_ok=True)
    # JSON columns written and read by orjson: UTF-8 rather than \u escapes (Chinese text takes half
    # the bytes) and a fraction of the time, which a push writing thousands of them notices.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {**app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}),
                                               "json_serializer": json_text, "json_deserializer": orjson.loads}
    db.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()), compare_type=True)
    api.init_app(app)
    from app.openapi import add_examples

    add_examples(api)
    from app.schemas import LocalTime

    api.register_field(LocalTime, "string", None)  # its pattern says it all; "format: time" demands an offset
    context.init_app(app)
    from app import jsonlimits

    jsonlimits.init_app(app)
    _register_models()
    with app.app_context():
        configure_sqlite(db.engine)

    from appointments.routes import blp as appointments_blp
    from field_api.routes import blp as field_blp
    from sync.routes import blp as sync_blp
    from app.attachments.routes import blp as attachments_blp
    from app.audit.routes import blp as audit_blp
    from app.auth.routes import blp as auth_blp
    from app.auth.routes import wellknown
    from app.health import blp as health_blp
    from app.notify.routes import blp as notify_blp
    from app.org.routes import blp as org_blp
    from app.workdays.routes import blp as calendar_blp

    for blp in (health_blp, wellknown, auth_blp, org_blp, audit_blp, attachments_blp, calendar_blp, appointments_blp,
                field_blp, sync_blp, notify_blp):
        api.register_blueprint(blp)
    from app import metrics  # /metrics and the request counters (kernel: imports no feature)

    metrics.init_app(app)

    from app import web

    web.init_app(app)
    _register_console_panels()
    from app.auth.permissions import enforce_marked

    enforce_marked(app)
    from app.schemas import refuse_unexpected_bodies

    refuse_unexpected_bodies(app)
    _access_log(app)

    from app.cli import register

    register(app)
    from field_api.cli import cache_jwks, verify_receipt_command

    app.cli.add_command(cache_jwks)
    app.cli.add_command(verify_receipt_command)
    _register_jobs()
    if config.SCHEDULER_IN_PROCESS and not config.TESTING:
        from app.scheduler import start_in_process

        start_in_process(app)
    return app


def _register_jobs() -> None:
    """Import every jobs module: each adds its jobs to the scheduler's registry (app/scheduler.py)."""
    import app.notify.jobs  # noqa: F401
    import appointments.jobs  # noqa: F401
    import field_api.jobs  # noqa: F401
    import sync.jobs  # noqa: F401


def _register_console_panels() -> None:
    """Import every console_panels module: each adds its dashboard panels to the console's registry
    (app/web/panels.py), as the jobs modules add their jobs to the scheduler's."""
    import app.notify.console_panels  # noqa: F401
    import appointments.console_panels  # noqa: F401
    import field_api.console_panels  # noqa: F401


def _register_models() -> None:
    """Import every model module so metadata (and migrations) see every table."""
    import app.attachments.models  # noqa: F401
    import app.audit.models  # noqa: F401
    import app.auth.models  # noqa: F401
    import app.notify.models  # noqa: F401
    import app.org.models  # noqa: F401
    import app.workdays.models  # noqa: F401
    import app.web.models  # noqa: F401
    import appointments.models  # noqa: F401
    import field_api.models  # noqa: F401
    import sync.models  # noqa: F401
    import app.audit.services  # noqa: F401  (chains the audit events at commit: before the feed's counter)
    import sync.feed  # noqa: F401  (its session events publish the change feed)


class IsoDateConverter(BaseConverter):
    """``<isodate:day>`` in a route: a YYYY-MM-DD date, anything else is a 404."""

    regex = r"\d{4}-\d{2}-\d{2}"

    def to_python(self, value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValidationError() from None

    def to_url(self, value):
        return value.isoformat()


def _instance_dir():
    from app.config import INSTANCE_DIR

    return INSTANCE_DIR


def _migrations_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "migrations"


def _access_log(app: Flask) -> None:
    log = logging.getLogger("doorstep.access")

    @app.before_request
    def _start():
        g._started = time.perf_counter()

    @app.after_request
    def _done(resp):
        started = g.get("_started")
        log.info("%s %s %s", request.method, request.path, resp.status_code,
                 extra={"event": "request", "method": request.method, "path": request.path,
                        "status": resp.status_code,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None})
        return resp
