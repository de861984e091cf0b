"""The server-backed client tests register residents the online way, as the field tests do."""

from tests.field_api.conftest import field  # noqa: F401
