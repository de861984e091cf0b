"""Moved to ``tests/field_api/delivery/test_deliveries.py``; ``issue_permit`` re-exported for the
tablet client's tests until the client has its own package."""
from tests.field_api.delivery.test_deliveries import issue_permit  # noqa: F401
