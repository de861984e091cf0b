"""A resident's fields, declared once.

The model's columns, the input and output schemas, the tablet's document, the sync merge and the
bulk writer all name a resident's fields; they take them from here, and
``tests/field_api/residency/test_resident_fields.py`` fails if a schema or the model disagrees. A new
field is added here first, then where the test points.

Two kinds of field: *plain* ones are stored as given; *personal numbers* are stored encrypted with a
blind index (``<purpose>_enc``, ``<purpose>_bidx`` columns, e.g. ``identity_enc``), masked in every
response and document."""

from __future__ import annotations

from typing import Final

from app import pii

#: Stored as given, in the document's order, with the value a create without them stores.
PLAIN_DEFAULTS: Final[dict[str, str | None]] = {
    "name": None,  # required
    "sex": None,  # required
    "ethnicity": "汉族",
    "hukou_address": "",
    "photo_sha256": None,
}
PLAIN: Final[tuple[str, ...]] = tuple(PLAIN_DEFAULTS)

#: Encrypted at rest with a blind index, masked when shown: field → its pii purpose.
PERSONAL_NUMBERS: Final[dict[str, str]] = {"identity_number": pii.IDENTITY, "phone": pii.PHONE}

#: What a tablet's document of a resident holds, in order (personal numbers masked).
DOCUMENT: Final[tuple[str, ...]] = (*PLAIN[:3], *PERSONAL_NUMBERS, *PLAIN[3:])

#: What an edit may change: every plain field and the phone; the identity number is the person.
EDITABLE: Final[tuple[str, ...]] = (*PLAIN, "phone")


def plain_values(source: object) -> dict[str, object]:
    """The plain fields of a resident row (or any object with those attributes)."""
    return {name: getattr(source, name) for name in PLAIN}
