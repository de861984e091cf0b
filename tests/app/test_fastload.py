"""The fast loader must load exactly what marshmallow loads, and refuse with marshmallow's words."""

import uuid

import marshmallow as ma
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import fields, validate

from app import fastload
from app.schemas import In
from field_api.residency.schemas import RegistrationIn, ResidentIn, ResidentPatch
from sync.schemas import PushIn


def outcome(load, data):
    try:
        return "loaded", load(data)
    except ma.ValidationError as exc:
        return "refused", exc.messages


def same_as_marshmallow(schema, data):
    expected = outcome(schema().load, data)
    assert outcome(fastload.loader(schema), data) == expected
    return expected


@pytest.mark.parametrize("schema", [ResidentIn, ResidentPatch, RegistrationIn, PushIn])
def test_the_sync_inputs_are_translated(schema):
    assert fastload.loader(schema).__name__ == "load"  # not marshmallow's own: the fast path


SOME_ID = uuid.UUID("c9b5e1a2-6f7e-4d5e-9a1b-2c3d4e5f6a7b")
VALID = {"name": "张伟", "sex": "male", "identity_number": "33010619900307123X"}


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"name": ""},
        {"name": "x" * 51},
        {"name": "x" * 50},
        {"sex": "m"},
        {"sex": None},
        {"extra": 1},
        {"phone": None},
        {"phone": 13812345678},
        {"identity_number": 1},
        {"photo_sha256": "zz"},
        {"photo_sha256": "a" * 64},
        {"id": str(SOME_ID)},
        {"id": "not-a-uuid"},
        {"id": SOME_ID.hex},
        {"ethnicity": None},
        {"hukou_address": ""},
    ],
)
def test_a_resident_loads_or_is_refused_as_marshmallow_does(change):
    same_as_marshmallow(ResidentIn, {**VALID, **change})


def test_absent_optional_fields_stay_absent():
    status, loaded = same_as_marshmallow(ResidentPatch, {"name": "李娜"})
    assert status == "loaded" and loaded == {"name": "李娜"}


def mutation(**change):
    return {
        "mutation_id": str(uuid.uuid4()),
        "seq": 1,
        "entity": "resident",
        "op": "create",
        "id": str(uuid.uuid4()),
        "data": {"name": "张伟"},
        **change,
    }


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"seq": "3"},
        {"seq": True},
        {"seq": 0},
        {"seq": 1.0},
        {"data": []},
        {"mutation_id": "x"},
        {"entity": ""},
        {"base_version": None},
        {"occurred_at": None},
        {"unknown": 1},
    ],
)
def test_a_push_envelope_loads_or_is_refused_as_marshmallow_does(change):
    same_as_marshmallow(PushIn, {"protocol": 1, "mutations": [mutation(), mutation(**change)]})


def test_loaded_values_are_copies_not_the_callers_dicts():
    body = {"protocol": 1, "mutations": [mutation()]}
    loaded = fastload.loader(PushIn)(body)
    loaded["mutations"][0]["data"]["name"] = "改"
    assert body["mutations"][0]["data"]["name"] == "张伟"


class WithHook(In):
    name = fields.String()

    @ma.post_load
    def upper(self, data, **kwargs):
        return {k: v.upper() for k, v in data.items()}


class Untranslated(In):
    when = fields.DateTime()
    code = fields.String(validate=validate.Regexp(r"[A-Z]{2}"))


def test_schemas_it_cannot_translate_are_loaded_by_marshmallow():
    assert fastload.loader(WithHook)({"name": "a"}) == {"name": "A"}
    assert fastload.loader(Untranslated)({"when": "2026-11-21T08:00:00+08:00"})["when"].hour == 8


class Mixed(In):
    code = fields.String(required=True, validate=[validate.Regexp(r"[A-Z]{2}"), validate.Length(max=4)])
    count = fields.Integer(load_default=3, validate=validate.Range(min=1, max=9, max_inclusive=False))
    tags = fields.List(fields.String(), validate=validate.Length(max=2), load_default=list)
    on = fields.Date(allow_none=True)


def test_validators_it_cannot_translate_still_run():
    assert fastload.loader(Mixed).__name__ == "load"
    same_as_marshmallow(Mixed, {"code": "ab"})  # the regular expression, called on the value
    same_as_marshmallow(Mixed, {"code": "ABCDE"})
    assert same_as_marshmallow(Mixed, {"code": "AB"}) == ("loaded", {"code": "AB", "count": 3, "tags": []})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 12) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "code": st.sampled_from(["AB", "ab", "ABCDE", ""]) | json_values,
            "count": st.integers(-2, 12) | json_values,
            "tags": st.lists(st.text(max_size=3), max_size=4) | json_values,
            "on": st.sampled_from(["2026-11-21", "2026-02-30", "21/11/2026"]) | json_values,
            "other": json_values,
        },
    )
)
def test_any_input_gets_marshmallows_answer(data):
    same_as_marshmallow(Mixed, data)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "name": st.text(max_size=60) | json_values,
            "sex": st.sampled_from(["male", "female", "x"]) | json_values,
            "identity_number": st.text(max_size=20) | json_values,
            "phone": st.none() | st.text(max_size=12),
            "ethnicity": json_values,
            "hukou_address": json_values,
            "id": st.uuids().map(str) | st.uuids().map(lambda u: u.hex) | json_values,
        },
    )
)
def test_any_resident_gets_marshmallows_answer(data):
    same_as_marshmallow(ResidentIn, data)
