"""Moved to ``field_api.delivery.receipt_token``; re-exported for the tablet client and its tests
until the client has its own package."""
from field_api.delivery.receipt_token import normalize_identity_number, sign_receipt, verify_receipt  # noqa: F401
