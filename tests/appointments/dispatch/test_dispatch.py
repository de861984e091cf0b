"""Dispatch: the station's queue, assignment rules, suggestions, and officers at the door."""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.notify.models import Notification
from tests.factories import if_match


def _visit(client, make, world, booker, **kw):
    booking = booker.as_staff(**kw).json
    return booking["visit_id"], booking


def _act(client, headers, visit_id, action, body=None):
    """An edit of the visit as the console makes it: read it, then send its ETag back."""
    url = f"/api/v1/visits/{visit_id}"
    return client.post(f"{url}/{action}", json=body, headers=if_match(client, url, headers))


def _assign(client, headers, visit_id, officer):
    return _act(client, headers, visit_id, "assign", {"officer_id": str(officer.id)})


def test_staff_assign_and_the_officer_works_the_visit(app, client, make, world, booker, windows):
    staff = make.auth(world.staff[0])
    visit_id, booking = _visit(client, make, world, booker)
    queue = client.get(
        "/api/v1/visits", query_string={"unassigned": "true", "day": windows.days[0].isoformat()}, headers=staff
    ).json
    assert [v["id"] for v in queue] == [visit_id]
    resp = _assign(client, staff, visit_id, world.officer[0])
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "assigned" and resp.json["officer_name"] == "officer"

    officer = make.auth(world.officer[0])
    mine = client.get("/api/v1/visits", query_string={"day": windows.days[0].isoformat()}, headers=officer).json
    assert [v["id"] for v in mine] == [visit_id] and mine[0]["contact_phone"].count("*") == 4
    assert _act(client, officer, visit_id, "start").json["status"] == "en_route"
    done = _act(client, officer, visit_id, "outcome", {"outcome": "completed", "note": "已登记"})
    assert done.status_code == 200 and done.json["status"] == "completed"
    timeline = client.get(f"/api/v1/bookings/{booking['id']}", headers=staff).json
    assert timeline["status"] == "completed"
    assert [e["action"] for e in timeline["timeline"]] == [
        "booked",
        "visit_assigned",
        "visit_started",
        "visit_completed",
    ]
    assert timeline["timeline"][1]["detail"]["officer"] == "officer"
    with app.app_context():
        kinds = db.session.execute(sa.select(Notification.kind).order_by(Notification.created_at)).scalars().all()
        assert kinds == ["booking_confirmed", "visit_assigned"]
    events = client.get(
        "/api/v1/audit-events", query_string={"entity": "visit", "entity_id": visit_id}, headers=staff
    ).json
    assert [e["action"] for e in reversed(events)] == ["visit.assigned", "visit.started", "visit.completed"]
    assert events[0]["before"]["status"] == "en_route" and events[0]["after"]["status"] == "completed"


def test_finished_visits_do_not_move(client, make, world, booker):
    staff = make.auth(world.staff[0])
    visit_id, _ = _visit(client, make, world, booker)
    _assign(client, staff, visit_id, world.officer[0])
    _act(client, make.auth(world.officer[0]), visit_id, "outcome", {"outcome": "not_home"})
    resp = _assign(client, staff, visit_id, world.officer[0])
    assert resp.status_code == 409 and resp.json["type"].endswith("/invalid-transition")


def test_assignment_is_refused_with_the_reason(app, client, make, world, booker, windows):
    staff = make.auth(world.staff[0])
    visit_id, _ = _visit(client, make, world, booker)
    # works another area
    resp = _assign(client, staff, visit_id, world.auxiliary[0])
    assert resp.status_code == 422 and "area" in resp.json["errors"]["officer_id"][0]
    # another station's officer
    resp = _assign(client, staff, visit_id, world.officer[1])
    assert resp.status_code == 422 and "station" in resp.json["errors"]["officer_id"][0]
    # inactive
    idle = make.user("officer", world.stations[0], [windows.area], active=False)
    resp = _assign(client, staff, visit_id, idle)
    assert resp.status_code == 422 and "inactive" in resp.json["errors"]["officer_id"][0]
    # on leave that day
    day = windows.days[0].isoformat()
    leave = client.post(
        "/api/v1/leave", json={"start_day": day, "end_day": day, "reason": "病假"}, headers=make.auth(world.officer[0])
    )
    assert leave.status_code == 201
    resp = _assign(client, staff, visit_id, world.officer[0])
    assert resp.status_code == 422 and "leave" in resp.json["errors"]["officer_id"][0]


def test_leave_lists_the_visits_it_affects(client, make, world, booker, windows):
    staff = make.auth(world.staff[0])
    visit_id, _ = _visit(client, make, world, booker)
    _assign(client, staff, visit_id, world.officer[0])
    day = windows.days[0].isoformat()
    resp = client.post(
        "/api/v1/leave", json={"officer_id": str(world.officer[0].id), "start_day": day, "end_day": day}, headers=staff
    )
    assert resp.status_code == 201 and resp.json["affected_visit_ids"] == [visit_id]
    # officers record only their own leave
    resp = client.post(
        "/api/v1/leave",
        json={"officer_id": str(world.auxiliary[0].id), "start_day": day, "end_day": day},
        headers=make.auth(world.officer[0]),
    )
    assert resp.status_code == 422 and "officer_id" in resp.json["errors"]
    listed = client.get("/api/v1/leave", headers=make.auth(world.officer[0])).json
    assert len(listed) == 1
    assert client.delete(f"/api/v1/leave/{listed[0]['id']}", headers=make.auth(world.staff[1])).status_code == 404
    assert client.delete(f"/api/v1/leave/{listed[0]['id']}", headers=staff).status_code == 204


def test_daily_limit(app, client, make, world, booker, windows):
    staff = make.auth(world.staff[0])
    app.config["OFFICER_DAILY_LIMIT"] = 2
    try:
        ids = [_visit(client, make, world, booker)[0] for _ in range(3)]
        assert _assign(client, staff, ids[0], world.officer[0]).status_code == 200
        assert _assign(client, staff, ids[1], world.officer[0]).status_code == 200
        resp = _assign(client, staff, ids[2], world.officer[0])
        assert resp.status_code == 422 and "2 open visits" in resp.json["errors"]["officer_id"][0]
        # re-assigning a visit the officer already holds does not count twice
        assert _assign(client, staff, ids[0], world.officer[0]).status_code == 200
    finally:
        app.config["OFFICER_DAILY_LIMIT"] = 12


def test_reassign_and_unassign(client, make, world, booker, windows):
    staff = make.auth(world.staff[0])
    second = make.user("officer", world.stations[0], [windows.area])
    visit_id, _ = _visit(client, make, world, booker)
    _assign(client, staff, visit_id, world.officer[0])
    resp = _assign(client, staff, visit_id, second)
    assert resp.status_code == 200 and resp.json["officer_id"] == str(second.id)
    assert client.get(f"/api/v1/visits/{visit_id}", headers=make.auth(world.officer[0])).status_code == 404
    resp = _act(client, staff, visit_id, "unassign", {"reason": "改派"})
    assert resp.status_code == 200 and resp.json["status"] == "requested" and resp.json["officer_id"] is None


def test_bulk_assignment_reports_each_visit(client, make, world, booker, windows):
    staff = make.auth(world.staff[0])
    a, _ = _visit(client, make, world, booker)
    b, _ = _visit(client, make, world, booker, start=windows.afternoon)
    c, _ = _visit(client, make, world, booker)
    client.post(f"/api/v1/bookings/{_booking_of(client, staff, c)}/cancel", json={"reason": "x"}, headers=staff)
    resp = client.post(
        "/api/v1/visits/bulk-assign",
        json={"visit_ids": [a, b, c], "officer_id": str(world.officer[0].id)},
        headers=staff,
    )
    assert resp.status_code == 200
    assert [(r["ok"], r["status"]) for r in resp.json] == [(True, "assigned"), (True, "assigned"), (False, None)]
    assert resp.json[2]["error"]["slug"] == "invalid-transition"
    resp = client.post("/api/v1/visits/bulk-assign", json={"visit_ids": [a, b], "officer_id": None}, headers=staff)
    assert [r["status"] for r in resp.json] == ["requested", "requested"]


def _booking_of(client, headers, visit_id):
    return client.get(f"/api/v1/visits/{visit_id}", headers=headers).json["booking_id"]


def test_suggestions_rank_by_load_then_least_recently_assigned(client, make, world, booker, windows):
    staff = make.auth(world.staff[0])
    busy, idle = world.officer[0], make.user("officer", world.stations[0], [windows.area])
    away = make.user("auxiliary", world.stations[0], [windows.area])
    day = windows.days[0].isoformat()
    client.post("/api/v1/leave", json={"officer_id": str(away.id), "start_day": day, "end_day": day}, headers=staff)
    first, _ = _visit(client, make, world, booker)
    _assign(client, staff, first, busy)
    target, _ = _visit(client, make, world, booker, start=windows.afternoon)
    ranked = client.get(f"/api/v1/visits/{target}/suggest-officers", headers=staff).json
    assert [r["officer_id"] for r in ranked] == [str(idle.id), str(busy.id)]
    assert [r["open_visits"] for r in ranked] == [0, 1]


def test_officers_cannot_dispatch_and_staff_cannot_record_outcomes(client, make, world, booker):
    visit_id, _ = _visit(client, make, world, booker)
    resp = _assign(client, make.auth(world.officer[0]), visit_id, world.officer[0])
    assert resp.status_code == 403
    resp = _act(client, make.auth(world.staff[0]), visit_id, "outcome", {"outcome": "completed"})
    assert resp.status_code == 403
    # an officer who does not hold the visit does not see it
    resp = _act(client, make.auth(world.officer[0]), visit_id, "start")
    assert resp.status_code == 404


def test_queue_filters_and_scope(client, make, world, booker, windows):
    staff = make.auth(world.staff[0])
    _visit(client, make, world, booker)
    _visit(client, make, world, booker, day=windows.days[1])
    assert len(client.get("/api/v1/visits", headers=staff).json) == 2
    assert len(client.get("/api/v1/visits", query_string={"day": windows.days[1].isoformat()}, headers=staff).json) == 1
    assert client.get("/api/v1/visits", headers=make.auth(world.staff[1])).json == []
    assert client.get("/api/v1/visits", query_string={"status": "flying"}, headers=staff).status_code == 422
