"""The fast dumper must produce what marshmallow produces: the same keys in the same order, the
same values of the same types, hence the same JSON bytes."""

import datetime as dt
import json
import uuid
from types import SimpleNamespace

import marshmallow as ma
import pytest
from marshmallow import fields

from app import fastdump
from app.extensions import db
from app.schemas import Out, TimelineOut
from appointments.booking.models import Booking
from appointments.booking.schemas import BookingDetailOut, BookingOut


def marshmallow_dump(schema, obj, many=None):
    return ma.Schema.dump(schema, obj, many=many)


def same_bytes(schema, obj, many=None):
    fast, slow = schema.dump(obj, many=many), marshmallow_dump(schema, obj, many=many)
    assert json.dumps(fast, ensure_ascii=False) == json.dumps(slow, ensure_ascii=False)
    assert fast == slow
    return fast


class Inner(Out):
    code = fields.String()
    at = fields.DateTime()


class Kinds(Out):
    name = fields.String()
    raw = fields.String()
    ident = fields.UUID()
    day = fields.Date()
    start = fields.Time(format="%H:%M")
    start_iso = fields.Time(attribute="start", dump_only=True)
    at = fields.DateTime()
    at_rfc = fields.DateTime(format="rfc", attribute="at", dump_only=True)
    detail = fields.Dict()
    inner = fields.Nested(Inner)
    inners = fields.List(fields.Nested(Inner), attribute="children")
    tags = fields.List(fields.String())
    renamed = fields.String(attribute="name", data_key="label", dump_only=True)
    computed = fields.Function(lambda o: f"{o.name}!" if getattr(o, "name", None) else None)
    absent = fields.Function(lambda o: ma.missing)
    count = fields.Integer()
    dotted = fields.String(attribute="inner.code")
    defaulted = fields.String(dump_default="none given")
    email = fields.Email()  # a String subclass: marshmallow serialises it


AT = dt.datetime(2026, 12, 5, 9, 30, 15, 123456, tzinfo=dt.UTC)


def thing(**overrides):
    values = {
        "name": "李娜",
        "raw": b"bytes \xe5\x8c\x97",
        "ident": uuid.UUID("c9b5e1a2-6f7e-4d5e-9a1b-2c3d4e5f6a7b"),
        "day": dt.date(2026, 12, 7),
        "start": dt.time(9, 5),
        "at": AT,
        "detail": {"channel": "phone", "n": 1, "nested": {"a": [1, 2]}},
        "inner": SimpleNamespace(code="A1", at=AT),
        "children": [SimpleNamespace(code="B", at=AT), SimpleNamespace(code="C", at=None)],
        "tags": ["x", 3],
        "count": 7,
        "defaulted": "given",
        "email": "a@example.org",
    }
    values.update(overrides)
    return SimpleNamespace(**values)


@pytest.mark.parametrize(
    "obj",
    [
        thing(),
        thing(name=None, raw=None, ident=None, day=None, start=None, at=None, detail=None, inner=None),
        thing(children=None, tags=None, count=None, email=None),
        thing(children=[], tags=[], detail={}),
        thing(name=42, raw=uuid.UUID(int=5)),  # not strings: str() of them
        SimpleNamespace(name="only a name"),  # every other attribute missing: omitted or defaulted
        {"name": "a mapping", "day": dt.date(2026, 1, 2), "inner": {"code": "K"}},  # read by key
    ],
    ids=["full", "nones", "more-nones", "empties", "non-strings", "missing", "mapping"],
)
def test_every_kind_of_field_dumps_as_marshmallow_does(obj):
    same_bytes(Kinds(), obj)


def test_only_exclude_and_many_are_honoured():
    objs = [thing(), thing(name="王", children=[]), thing(inner=None)]
    assert list(same_bytes(Kinds(only=("name", "day", "inners")), objs[0])) == ["name", "day", "inners"]
    assert "name" not in same_bytes(Kinds(exclude=("name",)), objs[1])
    assert len(same_bytes(Kinds(many=True), objs)) == 3
    assert len(same_bytes(Kinds(), objs, many=True)) == 3
    assert same_bytes(Kinds(), None) == marshmallow_dump(Kinds(), None)


def test_the_plain_fields_take_the_fast_path_and_the_rest_do_not():
    fast_paths = {}
    for name, field in Kinds().dump_fields.items():
        fast_paths[name] = fastdump._converter(field) is not None
    assert fast_paths["name"] and fast_paths["inners"] and fast_paths["detail"] and fast_paths["at"]
    assert not fast_paths["count"] and not fast_paths["email"]  # not translated: marshmallow serialises
    assert fastdump.plan(BookingDetailOut()) is not None


def test_a_schema_with_dump_hooks_is_dumped_by_marshmallow():
    class Hooked(Out):
        name = fields.String()

        @ma.post_dump
        def shout(self, data, **kwargs):
            return {**data, "name": data["name"].upper()}

    assert fastdump.plan(Hooked()) is None
    assert Hooked().dump(SimpleNamespace(name="a")) == {"name": "A"}


def test_bookings_dump_byte_for_byte_as_marshmallow_does(app, client, make, world, booker):
    made = [
        booker.as_citizen().json,
        booker.as_staff(notes="请敲门两次", locale="en").json,
        booker.as_staff(staff=world.staff[0], caller_name="张三", start=booker.windows.afternoon).json,
    ]
    staff = make.auth(world.staff[0])
    cancelled = client.post(f"/api/v1/bookings/{made[1]['id']}/cancel", json={"reason": "电话取消"}, headers=staff)
    assert cancelled.status_code == 200, cancelled.json
    moved = client.post(
        f"/api/v1/bookings/{made[2]['id']}/reschedule",
        json={"day": booker.windows.days[1].isoformat(), "window_start": "14:00", "reason": "改期"},
        headers=staff,
    )
    assert moved.status_code == 200, moved.json
    with app.app_context():
        bookings = [db.session.get(Booking, uuid.UUID(b["id"])) for b in made]
        assert {len(b.events) for b in bookings} == {1, 2}  # a plain booking, and changed ones
        assert bookings[0].caller_phone_enc is None and bookings[1].caller_phone_enc is not None
        for booking in bookings:
            for schema in (BookingOut(), BookingDetailOut()):
                dumped = same_bytes(schema, booking)
                assert app.json.dumps(dumped) == app.json.dumps(marshmallow_dump(schema, booking))
            same_bytes(TimelineOut(), booking.events, many=True)
        same_bytes(BookingDetailOut(many=True), bookings)
