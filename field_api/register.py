"""How field work plugs into the app: the blueprint, the receipt commands, the scheduled jobs."""
from __future__ import annotations

from flask import Flask

import field_api.console_panels  # noqa: F401  (adds its panels to the console's dashboard)
import field_api.jobs  # noqa: F401  (adds its jobs to the scheduler's registry)
import field_api.models  # noqa: F401  (its tables in the metadata, for migrations)
from app.extensions import api
from field_api.cli import cache_jwks, verify_receipt_command
from field_api.routes import blp


def register(app: Flask) -> None:
    api.register_blueprint(blp)
    app.cli.add_command(cache_jwks)
    app.cli.add_command(verify_receipt_command)
