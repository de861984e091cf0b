"""Field formats the field domains' schemas share."""

from __future__ import annotations

from marshmallow import validate

SHA256 = validate.Regexp(r"^[0-9a-f]{64}$", error="must be 64 lowercase hex characters (SHA-256)")
HHMM = "%H:%M"  # fields.Time(format=HHMM)
