"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Response, jsonify

from app.auth.permissions import public
from app.errors import DomainError
from app.extensions import db
from app.openapi import json_example
from app.schemas import Blueprint

blp = Blueprint("health", __name__, description="Health")

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


class NotReady(DomainError):
    status, slug, title = 503, "not-ready", "Not ready"


def migration_heads() -> set[str]:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return set(ScriptDirectory.from_config(cfg).get_heads())


@blp.route("/healthz", methods=["GET"])
@public
@blp.doc(**json_example({"status": "ok"}))
def healthz() -> Response:
    """The process is up"""
    return jsonify(status="ok")


@blp.route("/readyz", methods=["GET"])
@public
@blp.doc(**json_example({"status": "ready", "revision": ["1aef4dc0197d"]}))
def readyz() -> Response:
    """The database answers and its schema is at the newest migration"""
    try:
        with db.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            current = set(MigrationContext.configure(conn).get_current_heads())
    except sa.exc.SQLAlchemyError:
        raise NotReady("the database is unreachable") from None
    heads = migration_heads()
    if current != heads:
        raise NotReady(f"the database is at {sorted(current) or 'no revision'}, the code expects {sorted(heads)}")
    return jsonify(status="ready", revision=sorted(current))
