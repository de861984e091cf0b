"""The sync server against its wire contract: scope, paging, evicts, idempotent push, merge,
facts, rejections kept, envelope errors."""

from __future__ import annotations

import gzip
import uuid
from datetime import timedelta

import orjson
from dateutil.relativedelta import relativedelta

from app import unit_of_work
from app.workdays import local_now
from field_api.permits.models import MATERIAL_KINDS
from field_api.permits.services import material_kinds
from tests.factories import if_match, mobile
from tests.fixtures.field import person
from tests.queries import statements


def _registration(area, resident_id, **over):
    start = (local_now().date() - relativedelta(months=7)).isoformat()
    data = {
        "resident_id": str(resident_id),
        "area_id": str(area.id),
        "address": "北山街道1号",
        "start_date": start,
        "reason": "work",
        "housing": "owned",
    }
    data.update(over)
    return data


def _register(tablet, world, body=None):
    resident_id, registration_id = uuid.uuid4(), uuid.uuid4()
    body = body or person()
    res = tablet.push(
        tablet.mutation("resident", "create", resident_id, body),
        tablet.mutation("registration", "create", registration_id, _registration(world.areas[0][0], resident_id)),
    )
    return res, resident_id, registration_id


def test_first_pull_serves_the_scope_and_reference_data(tablet, world, field):
    field.register()  # in the officer's area
    field.register(who=world.auxiliary[0], area=world.areas[0][1])  # in another area
    changes = tablet.pull_all()
    kinds = sorted({c["entity"] for c in changes})
    assert kinds == ["area", "reference", "registration", "resident"]
    assert len([c for c in changes if c["entity"] == "registration"]) == 1
    assert len([c for c in changes if c["entity"] == "area"]) == 2  # the station's areas
    resident = next(c for c in changes if c["entity"] == "resident")
    assert "*" in resident["data"]["identity_number"] and "*" in resident["data"]["phone"]


def test_the_reference_data_is_permits_material_rule(tablet):
    """Sync serves it without naming permits: permits register it (``registry.register_reference``)."""
    [reference] = [c for c in tablet.pull_all() if c["entity"] == "reference"]
    assert reference["id"] == "material_kinds" and reference["data"] == material_kinds()
    assert {k["kind"] for k in reference["data"]["kinds"]} == set(MATERIAL_KINDS)
    assert {"housing": "owned", "kind": "property_certificate", "core": True} in reference["data"]["kinds"]


def test_push_applies_in_order_and_reports_the_records(tablet, world):
    res, resident_id, _registration_id = _register(tablet, world)
    assert [r["status"] for r in res["results"]] == ["applied", "applied"], res
    assert res["results"][0]["record"]["id"] == str(resident_id)
    assert res["results"][1]["record"]["maturity_date"]
    assert res["last_seq"] == 2


def test_replay_returns_the_stored_result(tablet, world):
    resident_id = uuid.uuid4()
    m = tablet.mutation("resident", "create", resident_id, person())
    first = tablet.push(m)["results"][0]
    second = tablet.push(m)["results"][0]
    assert first["status"] == "applied" and not first["replayed"]
    assert second["replayed"] is True and second["record"] == first["record"]
    other = dict(m, data={**m["data"], "name": "别人"})
    reused = tablet.push(other)["results"][0]
    assert reused["status"] == "rejected" and "mutation-id-reused" in reused["errors"]["mutation_id"]


def test_another_devices_mutation_is_never_replayed_to_this_one(tablet, new_tablet, world):
    m = tablet.mutation("resident", "create", uuid.uuid4(), person())
    first = tablet.push(m)["results"][0]
    thief = new_tablet()
    copied = thief.push(m)["results"][0]  # same mutation_id, same content, another device
    assert first["status"] == "applied"
    assert copied["status"] == "rejected" and copied["record"] is None
    assert "mutation-id-reused" in copied["errors"]["mutation_id"]


def test_a_bad_mutation_does_not_block_the_next(tablet, world, client, make):
    good, bad = uuid.uuid4(), uuid.uuid4()
    broken = person()
    broken["identity_number"] = "123"
    res = tablet.push(
        tablet.mutation("resident", "create", bad, broken), tablet.mutation("resident", "create", good, person())
    )
    assert [r["status"] for r in res["results"]] == ["rejected", "applied"]
    assert "identity_number" in res["results"][0]["errors"]
    kept = client.get("/api/v1/sync/rejections", headers=make.auth(world.staff[0])).json
    assert len(kept) == 1 and kept[0]["errors"]["identity_number"]
    assert kept[0]["payload"]["data"]["identity_number"] != "123" or "*" in str(kept[0]["payload"])
    assert client.get("/api/v1/sync/rejections", headers=make.auth(world.staff[1])).json == []
    done = client.post(
        f"/api/v1/sync/rejections/{kept[0]['mutation_id']}/resolve",
        json={"resolution": "dismissed", "note": "重新登记"},
        headers=make.auth(world.staff[0]),
    )
    assert done.status_code == 200 and done.json["resolved_at"]


def test_new_records_reach_the_tablet_and_other_tablets(tablet, new_tablet, world):
    other = new_tablet()  # the same officer's second tablet
    other.pull_all()
    _res, resident_id, registration_id = _register(tablet, world)
    changes = other.pull_all()
    assert {(c["entity"], c["id"]) for c in changes} >= {
        ("resident", str(resident_id)),
        ("registration", str(registration_id)),
    }
    assert other.pull_all() == []


def test_paging_without_gap_or_repeat(tablet, world, field):
    for _ in range(7):
        field.register()
    pages = []
    while True:
        page = tablet.pull_raw(limit=3).json
        pages.append(page)
        tablet.cursor = page["cursor"]
        if not page["has_more"]:
            break
    seqs = [c["seq"] for p in pages for c in p["changes"] if c["seq"]]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    assert len([1 for p in pages for c in p["changes"] if c["entity"] == "registration"]) == 7
    # an interrupted page is asked for again with the previous cursor and gets the same changes
    first = tablet.pull_raw(cursor=None, limit=3).json
    again = tablet.pull_raw(cursor=None, limit=3).json
    assert first["changes"] == again["changes"]


def test_reassignment_evicts_the_visit(client, make, world, tablet, new_tablet):
    from tests.fixtures.appointments import booking_body, set_template, upcoming_workdays

    app = client.application
    with app.app_context():
        day = upcoming_workdays(1)[0]
    set_template(app, world.areas[0][0])
    staff = make.auth(world.staff[0])
    booking = client.post(
        "/api/v1/bookings",
        json=booking_body(world.areas[0][0], day, caller_name="来电", caller_phone=mobile()),
        headers={**staff, "Idempotency-Key": "k1"},
    ).json
    visit_id = booking["visit_id"]
    client.post(
        f"/api/v1/visits/{visit_id}/assign",
        json={"officer_id": str(world.officer[0].id)},
        headers=if_match(client, f"/api/v1/visits/{visit_id}", staff),
    )
    tablet.pull_all()
    assert ("visit", visit_id) in tablet.records
    second = make.user("officer", world.stations[0], [world.areas[0][0]])
    client.post(
        f"/api/v1/visits/{visit_id}/assign",
        json={"officer_id": str(second.id)},
        headers=if_match(client, f"/api/v1/visits/{visit_id}", staff),
    )
    changes = tablet.pull_all()
    assert [(c["op"], c["reason"]) for c in changes if c["id"] == visit_id] == [("evict", "reassigned")]
    assert ("visit", visit_id) not in tablet.records
    theirs = new_tablet(officer=second)
    theirs.pull_all()
    assert ("visit", visit_id) in theirs.records
    # the first officer records an outcome anyway: a fact, recorded and flagged
    res = tablet.push(tablet.mutation("visit", "outcome", visit_id, {"outcome": "completed", "note": "已办"}))
    result = res["results"][0]
    assert result["status"] == "conflict" and result["conflict"]["kind"] == "fact-after-change"
    assert client.get(f"/api/v1/visits/{visit_id}", headers=staff).json["status"] == "completed"
    flagged = client.get("/api/v1/sync/conflicts", headers=staff).json
    assert [c["kind"] for c in flagged] == ["fact-after-change"]
    ack = client.post(
        f"/api/v1/sync/conflicts/{flagged[0]['id']}/resolve", json={"choice": "acknowledge"}, headers=staff
    )
    assert ack.status_code == 200 and ack.json["status"] == "resolved"


def test_stale_update_merges_field_by_field(tablet, world, client, make):
    _res, resident_id, _reg = _register(tablet, world)
    tablet.pull_all()
    base = tablet.records[("resident", str(resident_id))]["version"]
    staff = make.auth(world.staff[0])
    client.patch(
        f"/api/v1/residents/{resident_id}",
        json={"name": "王五", "hukou_address": "新户籍地"},
        headers=if_match(client, f"/api/v1/residents/{resident_id}", staff),
    )
    res = tablet.push(
        tablet.mutation("resident", "update", resident_id, {"name": "王六", "ethnicity": "回族"}, base_version=base)
    )["results"][0]
    assert res["status"] == "conflict"
    assert res["record"]["name"] == "王五" and res["record"]["ethnicity"] == "回族"
    assert res["conflict"]["fields"] == {"name": {"server": "王五", "device": "王六"}}
    conflicts = client.get("/api/v1/sync/conflicts", headers=staff).json
    assert len(conflicts) == 1
    chosen = client.post(
        f"/api/v1/sync/conflicts/{conflicts[0]['id']}/resolve", json={"choice": "device"}, headers=staff
    )
    assert chosen.status_code == 200
    assert client.get(f"/api/v1/residents/{resident_id}", headers=staff).json["name"] == "王六"


def test_ending_a_registration_evicts_it_and_its_resident(tablet, world, client, make):
    _res, resident_id, registration_id = _register(tablet, world)
    tablet.pull_all()
    client.post(
        f"/api/v1/registrations/{registration_id}/end",
        json={"end_date": local_now().date().isoformat(), "reason": "moved_away"},
        headers=make.auth(world.staff[0]),
    )
    changes = tablet.pull_all()
    assert {(c["entity"], c["op"]) for c in changes} == {("registration", "evict"), ("resident", "evict")}
    assert tablet.records.get(("resident", str(resident_id))) is None


def test_changed_areas_reset_the_cursor(tablet, world, client, make):
    tablet.pull_all()
    client.patch(
        f"/api/v1/users/{world.officer[0].id}",
        json={"area_ids": [str(world.areas[0][0].id), str(world.areas[0][1].id)]},
        headers=make.auth(world.staff[0]),
    )
    tablet.tokens = make.tokens(world.officer[0], tablet.device)
    page = tablet.pull_raw().json
    assert page["reset"] is True


def test_envelope_errors(tablet, client):
    resp = tablet.pull_raw(protocol=2)
    assert resp.status_code == 400 and resp.json["type"].endswith("/unsupported-protocol")
    assert resp.json["supported"] == [1]
    resp = tablet.pull_raw(cursor="not-a-cursor")
    assert resp.status_code == 400 and resp.json["type"].endswith("/invalid-cursor")
    tablet.pull_all()
    forged = tablet.cursor[:-3] + ("AAA" if tablet.cursor[-3:] != "AAA" else "BBB")
    assert tablet.pull_raw(cursor=forged).status_code == 400
    many = [tablet.mutation("resident", "create", uuid.uuid4(), {}) for _ in range(501)]
    resp = client.post("/api/v1/sync/push", json={"protocol": 1, "mutations": many}, headers=tablet.headers)
    assert resp.status_code == 413 and resp.json["type"].endswith("/too-many-mutations")
    resp = client.post("/api/v1/sync/push", json={"protocol": 1, "mutations": [{"seq": "x"}]}, headers=tablet.headers)
    assert resp.status_code == 422
    for field, value in (("seq", 2**70), ("base_version", 2**40)):  # beyond the columns: named, never a 500
        mutation = {**tablet.mutation("resident", "create", uuid.uuid4(), {}), field: value}
        resp = client.post("/api/v1/sync/push", json={"protocol": 1, "mutations": [mutation]}, headers=tablet.headers)
        assert resp.status_code == 422 and field in resp.json["errors"]["mutations"]["0"], resp.json


def test_gzip_both_ways(tablet, client, field):
    field.register()
    body = gzip.compress(orjson.dumps({"protocol": 1, "cursor": None}))
    resp = client.post(
        "/api/v1/sync/pull",
        data=body,
        headers={
            **tablet.headers,
            "Content-Encoding": "gzip",
            "Accept-Encoding": "gzip",
            "Content-Type": "application/json",
        },
    )
    assert resp.status_code == 200 and resp.headers["Content-Encoding"] == "gzip"
    assert orjson.loads(gzip.decompress(resp.data))["changes"]


def test_lost_devices_are_refused_retired_may_still_push(tablet, client, make, world):
    staff = make.auth(world.staff[0])
    client.post(f"/api/v1/devices/{tablet.device.id}/revoke", json={"mode": "retired"}, headers=staff)
    assert (
        tablet.push(tablet.mutation("resident", "create", uuid.uuid4(), person()))["results"][0]["status"] == "applied"
    )
    client.post(f"/api/v1/devices/{tablet.device.id}/revoke", json={"mode": "lost"}, headers=staff)
    resp = tablet.pull_raw()
    assert resp.status_code == 401 and resp.json["type"].endswith("/device-revoked")


def test_staff_see_each_devices_sync_state(tablet, world, client, make):
    _register(tablet, world)
    tablet.pull_all()
    device = client.get(f"/api/v1/devices/{tablet.device.id}", headers=make.auth(world.staff[0])).json
    assert device["last_seq"] == 2 and device["last_push_at"] and device["last_pull_at"]
    assert abs(device["clock_skew_seconds"]) < 60


def test_a_push_writes_the_device_and_its_settled_mutations_once(app, tablet, world):
    """A day's registrations alternate resident and registration creates: each settles on its
    own, but the device's row (its last seq, skew, push time) is written once, at the end, and
    the settled mutations together — not once per mutation."""
    pairs = [(uuid.uuid4(), uuid.uuid4()) for _ in range(4)]
    ms = [
        m
        for resident_id, registration_id in pairs
        for m in (
            tablet.mutation("resident", "create", resident_id, person()),
            tablet.mutation("registration", "create", registration_id, _registration(world.areas[0][0], resident_id)),
        )
    ]
    with statements(app) as sent:
        res = tablet.push(*ms)
    assert [r["status"] for r in res["results"]] == ["applied"] * 8, res
    assert res["last_seq"] == 8
    device_updates = [s for s in sent if s.lstrip().upper().startswith("UPDATE DEVICE ")]
    assert len(device_updates) == 1, device_updates
    # COPY on PostgreSQL (no statement seen here), one multi-row INSERT on SQLite
    assert len([s for s in sent if s.lstrip().upper().startswith("INSERT INTO SYNC_MUTATION")]) <= 1


def _day(tablet, world, people):
    """A day's registrations as a tablet pushes them: each person, then their residence."""
    out = []
    for _ in range(people):
        resident_id = uuid.uuid4()
        out.append(tablet.mutation("resident", "create", resident_id, person()))
        out.append(
            tablet.mutation("registration", "create", uuid.uuid4(), _registration(world.areas[0][0], resident_id))
        )
    return out


def test_a_days_push_costs_a_fixed_number_of_statements_per_person(app, tablet, world):
    """Each person of a push costs the same few statements: their resident's savepoints and
    INSERT; their registration's savepoints, INSERT and the read of the resident its audit
    snapshot names. The people are looked up by identity number once per push (the batch's
    ``prepare``), the officer's area is read once, and a resident the push created is in the
    officer's reach with no query (``in_reach``), nor looked up again by id (``known_id``).
    One more statement per person is a regression to look at, not to re-pin."""
    tablet.push(*_day(tablet, world, 1))  # what a first push reads once (caches a server has warm)
    sent = {}
    for people in (4, 8):
        ms = _day(tablet, world, people)
        with statements(app) as sent[people]:
            res = tablet.push(*ms)
        assert [r["status"] for r in res["results"]] == ["applied"] * 2 * people, res
    per_person = (len(sent[8]) - len(sent[4])) / 4
    assert per_person == 11, sent[8]
    assert len([s for s in sent[8] if s.lstrip().upper().startswith("SELECT AREA.")]) == 1
    assert len([s for s in sent[8] if s.startswith("SELECT resident.identity_bidx, resident.id")]) == 1  # one look-up
    assert len(sent[8]) <= 11 * 8 + 20, sent[8]


def test_sync_needs_a_device_token(client, make, world):
    resp = client.post("/api/v1/sync/pull", json={"protocol": 1}, headers=make.auth(world.officer[0]))
    assert resp.status_code == 403 and resp.json["type"].endswith("/device-required")


def test_a_known_person_registered_offline_keeps_the_registration(tablet, world, field):
    """The tablet made up an id for someone the server knew; its registration in the same push
    names that id and must still land on the existing resident."""
    body, existing = field.matured_resident()
    res, client_id, _registration_id = _register(tablet, world, body=body)
    linked, registration = res["results"]
    assert linked["status"] == "applied" and linked["record"]["id"] == existing["resident_id"] != str(client_id)
    assert registration["status"] in ("applied", "rejected")
    if registration["status"] == "rejected":  # same station: one active registration each
        assert "resident_id" in registration["errors"]
    else:
        assert registration["record"]["resident_id"] == existing["resident_id"]


def test_a_known_person_registered_offline_in_another_station(new_tablet, world, field):
    body, existing = field.matured_resident()
    tablet = new_tablet(station=1)
    resident_id, registration_id = uuid.uuid4(), uuid.uuid4()
    res = tablet.push(
        tablet.mutation("resident", "create", resident_id, body),
        tablet.mutation("registration", "create", registration_id, _registration(world.areas[1][0], resident_id)),
    )
    assert [r["status"] for r in res["results"]] == ["applied", "applied"], res
    assert res["results"][1]["record"]["resident_id"] == existing["resident_id"]


def test_pruned_tombstones_reset_an_old_cursor(app, tablet, world, client, make):
    """A tablet that slept past the retention cannot be told what left its scope: it is reset."""
    from app.extensions import db
    from sync import feed
    from sync.models import SyncRecord

    _res, _resident_id, registration_id = _register(tablet, world)
    tablet.pull_all()
    old_cursor = tablet.cursor
    client.post(
        f"/api/v1/registrations/{registration_id}/end",
        json={"end_date": local_now().date().isoformat(), "reason": "moved_away"},
        headers=make.auth(world.staff[0]),
    )
    with app.app_context():
        from app.db import utcnow

        db.session.execute(
            SyncRecord.__table__.update()
            .where(SyncRecord.op != "upsert")
            .values(changed_at=utcnow() - timedelta(days=60))
        )
        db.session.commit()
        # the registration's and the resident's evicts; a job run is one unit of work
        assert unit_of_work.unit(lambda: feed.prune(30)) == 2
    page = tablet.pull_raw(cursor=old_cursor).json
    assert page["reset"] is True
    assert ("registration", str(registration_id)) not in {(c["entity"], c["id"]) for c in page["changes"]}


def test_every_applied_mutation_is_audited_with_device_and_both_clocks(tablet, world, client, make):
    resident_id = uuid.uuid4()
    m = tablet.mutation("resident", "create", resident_id, person(), occurred_at="2026-11-20T09:30:00+08:00")
    tablet.push(m)
    [event] = client.get(
        "/api/v1/audit-events",
        query_string={"entity": "resident", "entity_id": str(resident_id)},
        headers=make.auth(world.admin),
    ).json
    assert event["actor_id"] == str(world.officer[0].id) and event["device_id"] == str(tablet.device.id)
    assert event["after"]["_sync"]["mutation_id"] == m["mutation_id"]
    from datetime import datetime

    assert datetime.fromisoformat(event["after"]["_sync"]["occurred_at"]) == datetime.fromisoformat(
        "2026-11-20T01:30:00+00:00"
    )
    assert event["after"]["_sync"]["received_at"]


def test_malformed_mutations_are_rejected_naming_the_field_not_a_500(tablet):
    res = tablet.push(
        tablet.mutation("resident", "create", uuid.uuid4(), {}),
        tablet.mutation("registration", "create", uuid.uuid4(), {"area_id": "x"}),
        tablet.mutation("visit", "outcome", uuid.uuid4(), {"outcome": "exploded"}),
        tablet.mutation("resident", "create", uuid.uuid4(), {**person(), "role": "admin"}),
    )
    assert [r["status"] for r in res["results"]] == ["rejected"] * 4
    assert {"name", "sex", "identity_number"} <= set(res["results"][0]["errors"])
    assert "area_id" in res["results"][1]["errors"]
    assert "outcome" in res["results"][2]["errors"]
    assert "role" in res["results"][3]["errors"]


def test_creates_between_residences_settle_as_one_run_would(tablet, world, field):
    """The push looks its people up once, before any is applied; a person or an id the same push
    creates later still links or is refused as if looked up at its turn."""
    body, existing = field.matured_resident()
    twin = person()
    ids = [uuid.uuid4() for _ in range(4)]
    area = world.areas[0][0]
    ms = [
        tablet.mutation("resident", "create", ids[0], twin),
        tablet.mutation("registration", "create", uuid.uuid4(), _registration(area, ids[0])),
        tablet.mutation("resident", "create", ids[1], {**twin, "name": "同一人"}),
        tablet.mutation("registration", "create", uuid.uuid4(), _registration(area, ids[1])),
        tablet.mutation("resident", "create", ids[0], person()),  # the first one's id, someone else
        tablet.mutation("registration", "create", uuid.uuid4(), _registration(area, ids[2])),
        tablet.mutation("resident", "create", ids[3], body),  # known before the push
    ]
    first, home, same, again, taken, nobody, known = tablet.push(*ms)["results"]
    assert first["status"] == home["status"] == "applied"
    assert same["status"] == "applied" and same["record"]["id"] == str(ids[0])  # linked to the first
    assert again["status"] == "rejected" and "resident_id" in again["errors"]  # one active registration
    assert taken["status"] == "rejected" and taken["errors"]["id"] == ["already used"]
    assert nobody["status"] == "rejected" and "resident_id" in nobody["errors"]
    assert known["status"] == "applied" and known["record"]["id"] == existing["resident_id"]


def test_a_run_of_creates_settles_each_on_its_own(tablet, world, client, make, field):
    """Consecutive creates go to the service together; each is still applied, linked or refused
    alone, in seq order, and audited with its own mutation."""
    _body, existing = field.matured_resident()
    twin = person()
    ids = [uuid.uuid4() for _ in range(5)]
    ms = [
        tablet.mutation("resident", "create", ids[0], twin),
        tablet.mutation("resident", "create", ids[1], person(identity_number="123")),
        tablet.mutation("resident", "create", ids[2], {**twin, "name": "同一人"}),
        tablet.mutation("resident", "create", uuid.UUID(existing["resident_id"]), person()),
        tablet.mutation("resident", "create", ids[4], person()),
    ]
    res = tablet.push(*ms)
    first, bad, same, taken, last = res["results"]
    assert first["status"] == last["status"] == "applied"
    assert bad["status"] == "rejected" and "identity_number" in bad["errors"]
    assert same["status"] == "applied" and same["record"]["id"] == str(ids[0])  # linked to the first
    assert taken["status"] == "rejected" and taken["errors"]["id"] == ["already used"]
    assert res["last_seq"] == ms[-1]["seq"]
    for resident_id, m in ((ids[0], ms[0]), (ids[4], ms[4])):
        [event] = client.get(
            "/api/v1/audit-events",
            headers=make.auth(world.admin),
            query_string={"entity": "resident", "entity_id": str(resident_id)},
        ).json
        assert event["after"]["_sync"]["mutation_id"] == m["mutation_id"]
    again = tablet.push(*ms)["results"]
    assert [r["replayed"] for r in again] == [True] * 5
    assert [r["status"] for r in again] == [r["status"] for r in res["results"]]


def test_a_run_of_creates_around_other_mutations_keeps_seq_order(tablet, world):
    """A registration between two creates sees the first create and not the second."""
    a, b, registration_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    res = tablet.push(
        tablet.mutation("resident", "create", a, person()),
        tablet.mutation("registration", "create", registration_id, _registration(world.areas[0][0], a)),
        tablet.mutation("registration", "create", uuid.uuid4(), _registration(world.areas[0][0], b)),
        tablet.mutation("resident", "create", b, person()),
    )
    assert [r["status"] for r in res["results"]] == ["applied", "applied", "rejected", "applied"], res


def test_a_create_matching_another_stations_resident_answers_the_id_alone(tablet, new_tablet, world, field):
    body = person()
    known = field.register(resident=body).json  # station 0's resident
    other = new_tablet(station=1)
    resident_id = uuid.uuid4()
    res = other.push(other.mutation("resident", "create", resident_id, {**body, "name": "探"}))["results"][0]
    assert res["status"] == "applied" and res["record"] == {"id": known["resident_id"]}
    # the match (an identity number the officer held) lets that officer register the residence
    reg = other.push(
        other.mutation("registration", "create", uuid.uuid4(), _registration(world.areas[1][0], resident_id))
    )["results"][0]
    assert reg["status"] == "applied" and reg["record"]["resident_id"] == known["resident_id"]
    # an id alone does not
    stranger = field.register(resident=person()).json
    refused = other.push(
        other.mutation(
            "registration", "create", uuid.uuid4(), _registration(world.areas[1][0], stranger["resident_id"])
        )
    )["results"][0]
    assert refused["status"] == "rejected" and "resident_id" in refused["errors"]


def test_rejected_payloads_show_numbers_masked_and_unmasking_is_audited(tablet, world, client, make):
    body = person()
    outside = world.areas[1][0]  # not the officer's area: refused, with the resident inline
    res = tablet.push(
        tablet.mutation(
            "registration",
            "create",
            uuid.uuid4(),
            {
                **_registration(outside, uuid.uuid4()),
                "resident_id": None,
                "resident": body,
                "landlord_phone": 13912345678,
            },
        )
    )
    assert res["results"][0]["status"] == "rejected"
    staff = make.auth(world.staff[0])
    [kept] = client.get("/api/v1/sync/rejections", headers=staff).json
    shown = str(kept["payload"])
    assert body["identity_number"] not in shown and body["phone"] not in shown and "13912345678" not in shown
    assert kept["payload"]["data"]["resident"]["phone"] == body["phone"][:3] + "****" + body["phone"][-4:]
    plain = client.get(f"/api/v1/sync/rejections/{kept['mutation_id']}/pii", headers=staff)
    assert plain.status_code == 200
    assert plain.json["data"]["resident"]["identity_number"] == body["identity_number"]
    assert plain.json["data"]["landlord_phone"] == "13912345678"
    events = client.get(
        "/api/v1/audit-events",
        headers=make.auth(world.admin),
        query_string={"entity": "sync_mutation", "entity_id": kept["mutation_id"]},
    ).json
    assert [e["action"] for e in events] == ["pii.read"]
    assert (
        client.get(f"/api/v1/sync/rejections/{kept['mutation_id']}/pii", headers=make.auth(world.staff[1])).status_code
        == 404
    )
