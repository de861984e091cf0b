"""Resolving a field conflict field by field through the API: each field keeps the side chosen for
it, the device's values go through the domain's update, and the audit event says which side won
where. A choice the conflict cannot take is refused by field name, and changes nothing."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from app import pii
from app.audit.models import AuditEvent
from app.extensions import db
from field_api.residency.models import Resident
from tests.fixtures.tablets import field_conflict
from tests.snapshots import changed_tables, database_state

QUIET = frozenset({"throttle"})


def _resident(app, resident_id: str) -> Resident:
    with app.app_context():
        resident = db.session.get(Resident, uuid.UUID(resident_id))
        db.session.expunge(resident)
        return resident


def _resolved_events(app, conflict_id: str) -> list[dict]:
    with app.app_context():
        return list(
            db.session.execute(
                sa.select(AuditEvent.after).where(
                    AuditEvent.action == "sync.conflict_resolved", AuditEvent.entity_id == conflict_id
                )
            ).scalars()
        )


def test_each_field_keeps_the_side_chosen_for_it(app, client, make, world, tablet):
    made = field_conflict(tablet, client, make, world)
    conflict = made["conflict"]
    assert set(conflict["fields"]) == {"name", "hukou_address", "phone"}
    assert "device_enc" not in str(conflict) and made["device"]["phone"] not in str(conflict)
    resp = client.post(
        f"/api/v1/sync/conflicts/{conflict['id']}/resolve",
        json={"fields": {"name": "device", "hukou_address": "server", "phone": "device"}, "note": "电话核实"},
        headers=make.auth(world.staff[0]),
    )
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "resolved" and resp.json["resolution"] == "mixed: 电话核实"
    resident = _resident(app, made["resident_id"])
    assert resident.name == made["device"]["name"]
    assert resident.hukou_address == made["server"]["hukou_address"]
    with app.app_context():
        assert pii.decrypt(pii.PHONE, resident.phone_enc) == made["device"]["phone"]
    [after] = _resolved_events(app, conflict["id"])
    assert after["choice"] == "mixed"
    assert after["fields"] == {"name": "device", "hukou_address": "server", "phone": "device"}


def test_a_choice_for_all_fields_and_one_named_field(app, client, make, world, tablet):
    made = field_conflict(tablet, client, make, world)
    resp = client.post(
        f"/api/v1/sync/conflicts/{made['conflict']['id']}/resolve",
        json={"choice": "server", "fields": {"hukou_address": "device"}},
        headers=make.auth(world.staff[0]),
    )
    assert resp.status_code == 200, resp.json
    resident = _resident(app, made["resident_id"])
    assert resident.name == made["server"]["name"]
    assert resident.hukou_address == made["device"]["hukou_address"]
    [after] = _resolved_events(app, made["conflict"]["id"])
    assert after["fields"] == {"name": "server", "hukou_address": "device", "phone": "server"}


def test_a_field_left_without_a_side_or_not_in_the_conflict_is_refused(app, client, make, world, tablet):
    made = field_conflict(tablet, client, make, world)
    url = f"/api/v1/sync/conflicts/{made['conflict']['id']}/resolve"
    staff = make.auth(world.staff[0])
    before = database_state(app, exclude=QUIET)
    missing = client.post(url, json={"fields": {"name": "device"}}, headers=staff)
    assert missing.status_code == 422
    assert set(missing.json["errors"]) == {"fields.hukou_address", "fields.phone"}
    stranger = client.post(url, json={"choice": "device", "fields": {"sex": "device"}}, headers=staff)
    assert stranger.status_code == 422 and "fields.sex" in stranger.json["errors"]
    bad_side = client.post(url, json={"fields": {"name": "both"}}, headers=staff)
    assert bad_side.status_code == 422 and "fields" in bad_side.json["errors"]
    assert changed_tables(before, database_state(app, exclude=QUIET)) == []
    # another station's staff: not found
    assert client.post(url, json={"choice": "device"}, headers=make.auth(world.staff[1])).status_code == 404
    assert _resolved_events(app, made["conflict"]["id"]) == []
