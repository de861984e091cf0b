"""Moved to ``field_api.residency.models`` (and ``permits``/``delivery``); re-exported for the tablet
client's tests until the client has its own package."""
from field_api.residency.models import Resident  # noqa: F401
