"""The resident's fields are declared once (field_api/residency/resident_fields.py); the model and
the schemas that spell them out again must name exactly those, or a new field would reach the API
and not the tablet (or the other way round)."""

from __future__ import annotations

from field_api.residency import resident_fields
from field_api.residency.models import Resident
from field_api.residency.schemas import ResidentIn, ResidentOut, ResidentPatch
from field_api.residency.sync import RESIDENT_FIELDS


def test_the_input_schema_takes_every_declared_field_and_nothing_else():
    declared = {*resident_fields.PLAIN, *resident_fields.PERSONAL_NUMBERS}
    assert set(ResidentIn().load_fields) == declared | {"id"}


def test_an_edit_may_change_the_editable_fields_only():
    assert set(ResidentPatch().load_fields) == {*resident_fields.EDITABLE, "base_version"}


def test_the_response_and_the_tablets_document_show_every_declared_field():
    shown = set(ResidentOut().dump_fields)
    assert set(resident_fields.DOCUMENT) <= shown
    assert shown - set(resident_fields.DOCUMENT) == {"id", "version", "photo_stored"}
    assert RESIDENT_FIELDS == resident_fields.DOCUMENT


def test_the_model_stores_plain_fields_as_given_and_personal_numbers_encrypted():
    columns = set(Resident.__table__.columns.keys())
    assert set(resident_fields.PLAIN) <= columns
    for name, purpose in resident_fields.PERSONAL_NUMBERS.items():
        assert {f"{purpose}_enc", f"{purpose}_bidx"} <= columns
        assert name not in columns  # never in plain text
