"""How appointments plug into the app: windows, booking, dispatch and ratings on one blueprint, the
visits' sync handlers, the scheduled jobs, the console panels."""

from __future__ import annotations

from flask import Flask

import appointments.console_panels
import appointments.exports
import appointments.jobs  # noqa: F401  (adds its jobs to the scheduler's registry)
from app.extensions import api
from appointments.blueprint import blp
from appointments.booking import api as booking_api  # noqa: F401
from appointments.booking import console as booking_console
from appointments.dispatch import api as dispatch_api  # noqa: F401
from appointments.dispatch import console as dispatch_console
from appointments.dispatch import sync as dispatch_sync
from appointments.rating import api as rating_api  # noqa: F401
from appointments.rating import console_panels as rating_panels  # noqa: F401

# Their routes, on blp: imported in the order the API document has always listed them.
from appointments.windows import api as windows_api  # noqa: F401
from appointments.windows import console as windows_console


def register(app: Flask) -> None:
    api.register_blueprint(blp)
    dispatch_sync.register()
    app.register_blueprint(booking_console.pages)
    app.register_blueprint(dispatch_console.pages)
    app.register_blueprint(windows_console.pages)
