"""How appointments plug into the app: the blueprint and the scheduled jobs."""
from __future__ import annotations

from flask import Flask

import appointments.console_panels  # noqa: F401  (adds its panels to the console's dashboard)
import appointments.jobs  # noqa: F401  (adds its jobs to the scheduler's registry)
import appointments.models  # noqa: F401  (its tables in the metadata, for migrations)
from app.extensions import api
from appointments.routes import blp


def register(app: Flask) -> None:
    api.register_blueprint(blp)
