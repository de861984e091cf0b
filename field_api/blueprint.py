"""The field domains' one blueprint: residency, permits and delivery add their routes to it, so the
API document keeps one "field" tag for them."""

from __future__ import annotations

from app.schemas import Blueprint

blp = Blueprint("field", __name__, url_prefix="/api/v1", description="Residents, registrations, permits")
