"""Alembic environment, run by Flask-Migrate inside the app (``flask --app wsgi db upgrade``)."""

import logging

from alembic import context
from flask import current_app

from app.db import UTCDateTime

log = logging.getLogger("alembic.env")
config = context.config
db = current_app.extensions["migrate"].db


def render_item(type_, obj, autogen_context):
    """Write our column types as plain SQLAlchemy types so revisions never import app code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def skip_empty(context_, revision, directives):
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        log.info("No changes in schema detected.")


def run_migrations_online():
    args = dict(current_app.extensions["migrate"].configure_args)
    args.setdefault("process_revision_directives", skip_empty)
    with db.engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=db.metadata,
            render_item=render_item,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            **{k: v for k, v in args.items() if k not in ("compare_type", "render_as_batch")},
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run against a database")
run_migrations_online()
