"""The appointments' one blueprint: windows, booking and dispatch add their routes to it, so the API
document keeps one "appointments" tag for them."""

from __future__ import annotations

from app.schemas import Blueprint

blp = Blueprint("appointments", __name__, url_prefix="/api/v1", description="Bookings and dispatch")
