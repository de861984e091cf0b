"""Examples for the OpenAPI document: every schema field without one gets a realistic example
from its type (and, for strings, its name), so every request and response in /docs shows a
filled-in body instead of "string"."""
from __future__ import annotations

import marshmallow as ma

STRING_EXAMPLES = {
    "name": "张伟", "display_name": "王芳", "username": "li.wei", "address": "北山街道12号3单元402",
    "contact_name": "李娜", "caller_name": "王先生", "reason": "居民来电改期", "note": "已登记", "notes": "",
    "label": "Tablet 07", "code": "XH01", "reference": "7KQ2MX9P", "permit_number": "XH01-2026-000123",
    "phone": "138****5678", "contact_phone": "138****5678", "caller_phone": "139****1234",
    "identity_number": "3301**********123X", "status": "active", "kind": "community", "role": "officer",
    "purpose": "registration", "channel": "phone", "entity": "resident", "action": "user.update",
    "hukou_address": "河南省信阳市平桥区", "ethnicity": "汉族", "sex": "female", "locale": "zh",
    "token": "eyJhbGciOiJFUzI1NiIsInR5cCI6ImRyIn0.eyJqdGkiOiIuLi4ifQ.c2lnbmF0dXJl",
    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "content_type": "image/jpeg", "cursor": "eyJkIjoiLi4uIn0", "title": "Not found",
}


def _example(field: ma.fields.Field, name: str):
    checks = [
        (ma.fields.UUID, "0f8fad5b-d9cb-469f-a165-70867728950e"),
        (ma.fields.AwareDateTime, "2026-11-25T09:30:00+08:00"),
        (ma.fields.DateTime, "2026-11-25T01:30:00+00:00"),
        (ma.fields.Date, "2026-11-25"),
        (ma.fields.Time, "09:00"),
        (ma.fields.Boolean, True),
        (ma.fields.Integer, 1),
        (ma.fields.Float, 1.5),
        (ma.fields.Dict, {}),
    ]
    for kind, value in checks:
        if isinstance(field, kind):
            return value
    if isinstance(field, ma.fields.String):
        if name.endswith("sha256"):
            return STRING_EXAMPLES["sha256"]
        return STRING_EXAMPLES.get(name, name.replace("_", " "))
    return None


def add_examples(api) -> None:
    converter = api.ma_plugin.converter  # a new one per init_app; add the rule to each once
    if getattr(converter, "_doorstep_examples", False):
        return
    converter._doorstep_examples = True

    def attribute(self, field, ret, **kwargs):
        if "example" in ret or "examples" in ret or "$ref" in ret or field.metadata.get("example") is not None:
            return {}
        if isinstance(field, (ma.fields.Nested, ma.fields.List, ma.fields.Pluck)):
            return {}
        value = _example(field, field.data_key or field.name or "")
        return {} if value is None else {"example": value}

    converter.add_attribute_function(attribute)


def json_example(example: dict, description: str = "OK") -> dict:
    """``@blp.doc(responses=...)`` for a view that returns plain JSON without a schema."""
    return {"responses": {"200": {"description": description, "content": {"application/json": {"example": example}}}}}
