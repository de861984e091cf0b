"""How sync plugs into the app: the blueprint, its console pages, the feed's commit hook, the
housekeeping job."""

from __future__ import annotations

from flask import Flask

import sync.feed
import sync.jobs
import sync.models  # noqa: F401  (its tables in the metadata, for migrations)
from app.extensions import api
from sync import console
from sync.routes import blp


def register(app: Flask) -> None:
    api.register_blueprint(blp)
    app.register_blueprint(console.pages)  # the console's conflicts and rejected mutations
