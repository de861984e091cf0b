"""How field work plugs into the app: residency, permits and delivery on one blueprint, their sync
handlers, the receipt commands, the scheduled jobs, the console panels."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

import field_api.console_panels
import field_api.delivery.exports  # registers the deliveries export
import field_api.jobs
import field_api.residency.exports  # noqa: F401  (registers the registrations and six-months exports)
from app.extensions import api
from field_api.blueprint import blp
from field_api.delivery import api as delivery_api  # noqa: F401
from field_api.delivery import console as delivery_console
from field_api.delivery import sync as delivery_sync
from field_api.delivery.cli import cache_jwks, verify_receipt_command
from field_api.permits import api as permits_api  # noqa: F401
from field_api.permits import console as permits_console
from field_api.permits import services as applications
from field_api.permits import sync as permits_sync

# Their routes, on blp: imported in the order the API document has always listed them.
from field_api.residency import api as residency_api  # noqa: F401
from field_api.residency import console as residents_console
from field_api.residency import hooks as residency_hooks
from field_api.residency import (
    maturity_api,  # noqa: F401
    maturity_console,
)
from field_api.residency import sync as residency_sync


def register(app: Flask) -> None:
    api.register_blueprint(blp)
    # What residency needs of permits, without importing them (field_api.residency.hooks).
    residency_hooks.register_already_applied("permit_application", applications.applied_on)
    residency_hooks.register_resident_section(
        "permit_applications", 10, permits_console.resident_applications, title=_l("Permit applications")
    )
    residency_sync.register()
    permits_sync.register()
    delivery_sync.register()
    app.register_blueprint(permits_console.pages)
    app.register_blueprint(residents_console.pages)
    app.register_blueprint(maturity_console.pages)
    app.register_blueprint(delivery_console.pages)
    app.cli.add_command(cache_jwks)
    app.cli.add_command(verify_receipt_command)
