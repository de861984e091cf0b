"""Whatever a tablet sends, every mutation settles and no push answers 5xx: reused and duplicate
seqs, numbers that are not integers, nesting without end, impossible clocks, versions from the
future, and a mutation the server fails on unexpectedly."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.auth.models import Device
from app.db import utcnow
from app.extensions import db
from sync.models import SyncMutation
from tests.factories import if_match
from tests.fixtures.field import person
from tests.problems import assert_problem
from tests.sync.test_protocol import _register


def _nested(depth: int):
    value: object = "x"
    for _ in range(depth):
        value = {"k": value}
    return value


def _stored(app, mutation_id) -> SyncMutation | None:
    with app.app_context():
        return db.session.get(SyncMutation, uuid.UUID(str(mutation_id)))


def _rename(tablet, resident_id, name, **extra):
    return tablet.mutation("resident", "update", resident_id, {"name": name}, **extra)


def test_a_seq_settled_under_another_mutation_is_rejected_and_the_next_push_goes_on(app, tablet, world):
    _res, resident_id, _reg = _register(tablet, world)  # seqs 1 and 2
    restored = _rename(tablet, resident_id, "张三丰", seq=2)  # a tablet restored from a backup
    first = tablet.push(restored)["results"][0]
    assert first["status"] == "rejected" and first["errors"]["_type"] == ["seq-reused"] and "seq" in first["errors"]
    again = tablet.push(restored)["results"][0]  # sent again: replayed, not a 500
    assert again["replayed"] is True and again["status"] == "rejected"
    after = tablet.push(_rename(tablet, resident_id, "李四"))["results"][0]
    assert after["status"] == "applied" and after["record"]["name"] == "李四"
    assert _stored(app, restored["mutation_id"]).status == "rejected"


def test_two_mutations_with_one_seq_in_one_push_the_first_leads(tablet, world):
    _res, resident_id, _reg = _register(tablet, world)
    lead = _rename(tablet, resident_id, "王五")
    twin = _rename(tablet, resident_id, "赵六", seq=lead["seq"])
    results = {r["mutation_id"]: r for r in tablet.push(lead, twin)["results"]}
    assert results[lead["mutation_id"]]["status"] == "applied"
    assert results[twin["mutation_id"]]["errors"]["_type"] == ["seq-reused"]


def test_a_seq_below_the_last_settled_never_used_is_not_rising(tablet, world):
    _register(tablet, world)
    late = tablet.mutation("resident", "create", uuid.uuid4(), person(), seq=1)
    tablet.push(tablet.mutation("resident", "create", uuid.uuid4(), person(), seq=50))
    gap = tablet.mutation("resident", "create", uuid.uuid4(), person(), seq=40)
    late_result, gap_result = tablet.push(late)["results"][0], tablet.push(gap)["results"][0]
    assert late_result["errors"]["_type"] == ["seq-reused"]
    assert gap_result["errors"]["_type"] == ["seq-not-rising"]


@pytest.mark.parametrize(
    "field, value",
    [("seq", 1.5), ("seq", "3"), ("seq", True), ("base_version", "3"), ("base_version", 2.0), ("seq", 2**64)],
)
def test_envelope_numbers_are_json_integers_and_nothing_else(tablet, field, value):
    mutation = {**tablet.mutation("resident", "update", uuid.uuid4(), {"name": "张三"}), field: value}
    body = assert_problem(tablet.push_raw(mutation), 422)
    assert field in body["errors"]["mutations"]["0"], body


def test_nesting_beyond_the_limit_is_a_422_for_a_push_and_for_any_route(tablet, client):
    deep = tablet.mutation("resident", "update", uuid.uuid4(), {"name": _nested(260)})
    assert_problem(tablet.push_raw(deep), 422, "too-deep", "body")
    login = client.post("/api/v1/auth/login", json={"username": _nested(300), "password": "x"})
    assert_problem(login, 422, "too-deep", "body")
    within = tablet.push(tablet.mutation("resident", "update", uuid.uuid4(), {"name": _nested(40)}))
    assert within["results"][0]["status"] == "rejected"  # parsed, then refused by the schema


@pytest.mark.parametrize(
    "occurred_at, reason",
    [
        ("2100-01-01T00:00:00+08:00", "between"),
        ("1970-01-01T00:00:00Z", "between"),
        ("yesterday", "RFC 3339"),
        ("2026-12-04T10:00:00", "RFC 3339"),
        ("2026-12-04", "RFC 3339"),
        ("2026-02-30T10:00:00+08:00", "real date"),
        (None, "required"),
    ],
)
def test_an_impossible_occurred_at_rejects_that_mutation_only(app, tablet, world, occurred_at, reason):
    _res, resident_id, _reg = _register(tablet, world)
    bad = _rename(tablet, resident_id, "钱七", occurred_at=occurred_at)
    good = _rename(tablet, resident_id, "孙八")
    results = tablet.push(bad, good)["results"]
    assert results[0]["status"] == "rejected" and reason in results[0]["errors"]["occurred_at"][0]
    assert results[1]["status"] == "applied"
    assert _stored(app, bad["mutation_id"]).payload["data"] == {"name": "钱七"}  # kept for staff


def test_clock_skew_is_measured_from_the_push_sent_at_and_clamped(app, tablet, world, client, make):
    staff = make.auth(world.staff[0])
    behind = (utcnow() - timedelta(hours=1)).isoformat()
    tablet.push(
        tablet.mutation("resident", "create", uuid.uuid4(), person(), occurred_at="2026-01-02T08:00:00+08:00"),
        sent_at=behind,
    )
    skew = client.get(f"/api/v1/devices/{tablet.device.id}", headers=staff).json["clock_skew_seconds"]
    assert -3660 < skew < -3540  # an hour behind, whatever the mutation's age
    tablet.push(sent_at="2100-01-01T00:00:00+00:00")
    skew = client.get(f"/api/v1/devices/{tablet.device.id}", headers=staff).json["clock_skew_seconds"]
    assert skew == 366 * 86400
    assert_problem(tablet.push_raw(sent_at="soon"), 422, field="sent_at")


def test_a_base_version_ahead_of_the_server_is_refused_and_kept(app, tablet, world, client, make):
    _res, resident_id, _reg = _register(tablet, world)
    staff = make.auth(world.staff[0])
    url = f"/api/v1/residents/{resident_id}"
    assert client.patch(url, json={"name": "周九"}, headers=if_match(client, url, staff)).status_code == 200
    ahead = _rename(tablet, resident_id, "吴十", base_version=99)
    result = tablet.push(ahead)["results"][0]
    assert result["status"] == "rejected" and result["errors"]["_type"] == ["version-ahead"]
    assert "base_version" in result["errors"]
    assert client.get(f"/api/v1/residents/{resident_id}", headers=staff).json["name"] == "周九"
    rejections = client.get("/api/v1/sync/rejections", headers=staff).json
    assert ahead["mutation_id"] in {r["mutation_id"] for r in rejections}


def test_an_unexpected_failure_settles_one_mutation_as_internal_error(app, tablet, world, monkeypatch, caplog):
    _res, resident_id, _reg = _register(tablet, world)
    from field_api.residency import services as residents

    def broken(*_args, **_kw):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(residents, "update_resident", broken)
    failing = _rename(tablet, resident_id, "郑十一")
    following = tablet.mutation("resident", "create", uuid.uuid4(), person())
    results = tablet.push(failing, following)["results"]
    assert results[0]["status"] == "rejected" and results[0]["errors"]["_type"] == ["internal-error"]
    assert "disk on fire" not in str(results[0])
    assert results[1]["status"] == "applied"
    assert any(getattr(r, "mutation_id", None) == failing["mutation_id"] for r in caplog.records)


def test_a_failed_read_ahead_costs_only_its_reads_and_the_push_applies(app, tablet, world, monkeypatch, caplog):
    """The push's look-up of its new people fails after a statement the database refused (on
    PostgreSQL that aborts the transaction): the people and their residences still settle."""
    from sync import registry
    from tests.sync.test_protocol import _day

    def broken(_actor, _mutations):
        try:
            db.session.execute(sa.text("SELECT 1 / 0 FROM device WHERE 1 / 0 = 1")).all()
        except sa.exc.DBAPIError:
            pass  # PostgreSQL refuses it (its transaction is now aborted); SQLite reads NULL
        raise RuntimeError("index on fire")

    key = ("resident", "create")
    monkeypatch.setitem(registry.BATCHES, key, dataclasses.replace(registry.BATCHES[key], prepare=broken))
    known = person()
    first = tablet.push(tablet.mutation("resident", "create", uuid.uuid4(), known))["results"][0]
    results = tablet.push(*_day(tablet, world, 2), tablet.mutation("resident", "create", uuid.uuid4(), known))[
        "results"
    ]
    assert [r["status"] for r in results] == ["applied"] * 5, results
    assert results[4]["record"]["id"] == first["record"]["id"]  # still matched by identity number, read alone
    assert any("read-ahead failed" in r.getMessage() and r.exc_info for r in caplog.records)


def test_unknown_entities_and_ops_name_their_field(tablet):
    results = tablet.push(
        tablet.mutation("spaceship", "create", uuid.uuid4(), {}),
        tablet.mutation("resident", "teleport", uuid.uuid4(), {}),
    )["results"]
    assert "entity" in results[0]["errors"] and "op" not in results[0]["errors"]
    assert "op" in results[1]["errors"]


def test_protocol_missing_is_a_422_unsupported_a_400(tablet, client):
    for path in ("/api/v1/sync/push", "/api/v1/sync/pull"):
        assert_problem(
            client.post(path, json={"mutations": [], "cursor": None}, headers=tablet.headers), 422, field="protocol"
        )
        for version in (2, "1", 1.0):
            body = assert_problem(
                client.post(path, json={"protocol": version, "mutations": []}, headers=tablet.headers),
                400,
                "unsupported-protocol",
            )
            assert body["supported"] == [1]


def test_pull_honours_limit_exactly_reference_data_included(tablet, world, field):
    for _ in range(9):
        field.register()
    sizes = []
    tablet.cursor = None
    while True:
        page = tablet.pull_raw(limit=7).json
        sizes.append(len(page["changes"]))
        tablet.cursor = page["cursor"]
        if not page["has_more"]:
            break
    assert max(sizes) == 7 and sizes[0] == 7
    one = tablet.pull_raw(cursor=None, limit=1).json
    assert [c["entity"] for c in one["changes"]] == ["reference"] and one["has_more"] is True


def test_a_reset_page_carries_the_reset_and_nothing_else(tablet, world, client, make, field):
    field.register()
    tablet.pull_all()
    client.patch(
        f"/api/v1/users/{world.officer[0].id}",
        json={"area_ids": [str(world.areas[0][1].id)]},
        headers=make.auth(world.admin),
    )
    page = tablet.pull_raw().json
    assert page["reset"] is True and page["changes"] == [] and page["has_more"] is True


def test_device_row_shows_the_last_settled_seq_after_rejections(app, tablet, world):
    _register(tablet, world)
    tablet.push(tablet.mutation("resident", "update", uuid.uuid4(), {"name": "x"}, occurred_at="nonsense"))
    with app.app_context():
        device = db.session.get(Device, tablet.device.id)
        assert device.last_seq == 3
        assert db.session.execute(sa.select(sa.func.count()).select_from(SyncMutation)).scalar() == 3
