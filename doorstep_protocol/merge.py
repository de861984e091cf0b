"""The field-by-field merge a pushed update goes through (docs/sync-protocol.md, "Conflicts").

The server keeps, for each field of a resident or registration, the record version that last
changed it. A device's update names the version it was based on. A field the server has not
changed since then takes the device's value; a field both changed keeps the server's value and is
reported back as a conflict, with both values, for the officer (and staff) to see.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def merge_fields(
    field_versions: Mapping[str, int], base_version: int | None, data: Mapping[str, Any], current: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """``(apply, clashes)``: the device's values to write, and ``{field: {"server", "device"}}``
    for each field both sides changed to different values (the same value is no clash)."""
    apply: dict[str, Any] = {}
    clashes: dict[str, dict[str, Any]] = {}
    for field, value in data.items():
        if base_version is None or field_versions.get(field, 0) <= base_version:
            apply[field] = value
        elif current.get(field) != value:
            clashes[field] = {"server": current.get(field), "device": value}
    return apply, clashes
