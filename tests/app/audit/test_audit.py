"""The audit trail: written with the change, masked, scoped, and tamper-evident."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from app.audit import verify_chain
from app.extensions import db


def _events(client, headers, **params):
    resp = client.get("/api/v1/audit-events", query_string=params, headers=headers)
    assert resp.status_code == 200, resp.json
    return resp.json


def test_a_change_records_who_what_and_before_after(client, make, world):
    staff = make.auth(world.staff[0])
    resp = client.patch(
        f"/api/v1/users/{world.officer[0].id}",
        json={"display_name": "张伟", "phone": "13900001111"},
        headers={**staff, "X-Request-ID": "req-audit-1"},
    )
    assert resp.status_code == 200
    [event] = _events(client, staff, entity="user", entity_id=str(world.officer[0].id), action="user.update")
    assert event["actor_id"] == str(world.staff[0].id) and event["actor_role"] == "staff"
    assert event["station_id"] == str(world.stations[0].id)
    assert event["request_id"] == "req-audit-1" and event["client_addr"]
    assert event["before"]["display_name"] == "officer" and event["after"]["display_name"] == "张伟"
    assert event["after"]["phone"] == "139****1111"


def test_a_refused_change_leaves_no_event(client, make, world):
    admin = make.auth(world.admin)
    before = len(_events(client, admin, action="station.create"))
    resp = client.post("/api/v1/stations", json={"code": world.stations[0].code, "name": "重复"}, headers=admin)
    assert resp.status_code == 409
    assert len(_events(client, admin, action="station.create")) == before


def test_staff_read_only_their_station_and_admins_everything(client, make, world):
    client.patch(f"/api/v1/users/{world.officer[1].id}", json={"display_name": "x"}, headers=make.auth(world.staff[1]))
    mine = _events(client, make.auth(world.staff[0]), entity="user")
    assert all(e["station_id"] == str(world.stations[0].id) for e in mine)
    assert str(world.officer[1].id) not in {e["entity_id"] for e in mine}
    everything = _events(client, make.auth(world.admin), entity="user", action="user.update")
    assert str(world.officer[1].id) in {e["entity_id"] for e in everything}


def test_paging_backwards_with_before_id(client, make, world):
    admin = make.auth(world.admin)
    for i in range(5):
        client.patch(f"/api/v1/stations/{world.stations[0].id}", json={"name": f"站{i}"}, headers=admin)
    first = _events(client, admin, action="station.update", limit=3)
    second = _events(client, admin, action="station.update", limit=3, before_id=first[-1]["id"])
    assert len(first) == 3 and len(second) == 2
    assert [e["after"]["name"] for e in first + second] == [f"站{i}" for i in range(4, -1, -1)]


def test_bad_filters_are_refused(client, make, world):
    resp = client.get("/api/v1/audit-events?since=yesterday", headers=make.auth(world.admin))
    assert resp.status_code == 422 and "since" in resp.json["errors"]
    resp = client.get("/api/v1/audit-events?limit=100000", headers=make.auth(world.admin))
    assert resp.status_code == 422 and "limit" in resp.json["errors"]


def test_chain_detects_edits_and_deletions(app, client, make, world):
    admin = make.auth(world.admin)
    for i in range(3):
        client.patch(f"/api/v1/stations/{world.stations[0].id}", json={"name": f"站{i}"}, headers=admin)
    with app.app_context():
        report = verify_chain()
        assert report.ok and report.checked >= 3
        db.session.execute(sa.text("UPDATE audit_event SET after = :a WHERE id = 2"), {"a": '{"name": "forged"}'})
        db.session.commit()
        report = verify_chain()
        assert not report.ok and report.at_id == 2 and "altered" in report.problem


def test_chain_detects_a_removed_middle_or_last_event(app, client, make, world):
    admin = make.auth(world.admin)
    for i in range(3):
        client.patch(f"/api/v1/stations/{world.stations[0].id}", json={"name": f"站{i}"}, headers=admin)
    with app.app_context():
        last = db.session.execute(sa.text("SELECT max(id) FROM audit_event")).scalar()
        db.session.execute(sa.text("DELETE FROM audit_event WHERE id = :i"), {"i": last})
        db.session.commit()
        assert not verify_chain().ok
        db.session.execute(sa.text("DELETE FROM audit_event WHERE id = 2"))
        db.session.commit()
        report = verify_chain()
        assert not report.ok and report.at_id == 2 and "missing" in report.problem


def test_concurrent_writers_keep_one_linear_chain(app, make, world):
    """Many requests appending at once (PostgreSQL runs them truly in parallel) still form
    one gapless chain: the head row lock serialises appends."""
    admin_headers = make.auth(world.admin)
    barrier = threading.Barrier(12)
    statuses = []

    def create(i):
        c = app.test_client()
        barrier.wait()
        r = c.post(
            "/api/v1/areas",
            json={"station_id": str(world.stations[0].id), "code": f"C{i:02d}", "name": "x"},
            headers=admin_headers,
        )
        statuses.append(r.status_code)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [201] * 12
    with app.app_context():
        report = verify_chain()
        assert report.ok, report
        count = db.session.execute(sa.text("SELECT count(*) FROM audit_event WHERE action = 'area.create'")).scalar()
        assert count == 12


def test_an_id_beyond_any_column_is_a_422_naming_it(client, make, world):
    resp = client.get(f"/api/v1/audit-events?before_id={2**70}", headers=make.auth(world.admin))
    assert resp.status_code == 422 and "before_id" in resp.json["errors"]
    assert resp.mimetype == "application/problem+json"
