"""Every route, every role: the outcome is written down here, and a route missing from the
table fails the suite — a new endpoint cannot ship without saying who may call it."""
from __future__ import annotations

from datetime import date, time

import pytest

from tests.factories import mobile

ROLES = ("anonymous", "admin", "staff", "officer", "auxiliary", "citizen")


def _user_body(w):
    return {"username": f"new.{mobile()}", "password": "a-long-password", "role": "officer",
            "station_id": str(w.stations[0].id)}


# (method, rule as Flask writes it, body builder, {role: expected status}); roles absent → 403
# when authenticated, 401 when anonymous. Path parameters refer to station 0's records.
TABLE = [
    ("GET", "/healthz", None, {"*": 200}),
    ("GET", "/readyz", None, {"*": 200}),
    ("GET", "/.well-known/jwks.json", None, {"*": 200}),
    ("POST", "/api/v1/auth/login", lambda w: {"username": "nobody", "password": "wrong-password"}, {"*": 401}),
    ("POST", "/api/v1/auth/refresh", lambda w: {"refresh_token": "not-a-token"}, {"*": 401}),
    ("POST", "/api/v1/auth/logout", lambda w: {"refresh_token": "not-a-token"}, {"*": 204}),
    ("POST", "/api/v1/auth/otp", lambda w: {"phone": "12345"}, {"*": 422}),
    ("POST", "/api/v1/auth/otp/verify", lambda w: {"phone": mobile(), "code": "123456"}, {"*": 401}),
    ("POST", "/api/v1/devices/enroll", lambda w: {"enrollment_code": "AAAA-BBBB-CCCC", "public_key": {}}, {"*": 422}),
    ("GET", "/api/v1/me", None, {"admin": 200, "staff": 200, "officer": 200, "auxiliary": 200, "citizen": 200}),
    ("GET", "/api/v1/stations", None, {"admin": 200, "staff": 200}),
    ("POST", "/api/v1/stations", lambda w: {"code": "NEW1", "name": "新站"}, {"admin": 201}),
    ("GET", "/api/v1/stations/<uuid:station_id>", None, {"admin": 200, "staff": 200}),
    ("PATCH", "/api/v1/stations/<uuid:station_id>", lambda w: {"name": "改名"}, {"admin": 200}),
    ("GET", "/api/v1/areas", None, {"admin": 200, "staff": 200, "officer": 200, "auxiliary": 200}),
    ("POST", "/api/v1/areas", lambda w: {"station_id": str(w.stations[0].id), "code": "NEWA", "name": "新区"},
     {"admin": 201}),
    # area 0 is the officer's; the auxiliary officer works area 1 only, so area 0 is out of scope.
    ("GET", "/api/v1/areas/<uuid:area_id>", None, {"admin": 200, "staff": 200, "officer": 200, "auxiliary": 404}),
    ("PATCH", "/api/v1/areas/<uuid:area_id>", lambda w: {"name": "改名"}, {"admin": 200}),
    ("GET", "/api/v1/users", None, {"admin": 200, "staff": 200}),
    ("POST", "/api/v1/users", _user_body, {"admin": 201, "staff": 201}),
    ("GET", "/api/v1/users/<uuid:user_id>", None, {"admin": 200, "staff": 200}),
    ("PATCH", "/api/v1/users/<uuid:user_id>", lambda w: {"display_name": "Li"}, {"admin": 200, "staff": 200}),
    ("GET", "/api/v1/users/<uuid:user_id>/pii", None, {"admin": 200, "staff": 200}),
    ("POST", "/api/v1/devices", lambda w: {"label": "Tablet", "station_id": str(w.stations[0].id)},
     {"admin": 201, "staff": 201}),
    ("GET", "/api/v1/devices", None, {"admin": 200, "staff": 200}),
    ("GET", "/api/v1/devices/<uuid:device_id>", None, {"admin": 200, "staff": 200}),
    ("POST", "/api/v1/devices/<uuid:device_id>/revoke", lambda w: {"mode": "retired"}, {"admin": 200, "staff": 200}),
    ("GET", "/api/v1/audit-events", None, {"admin": 200, "staff": 200}),
    # working calendar
    ("GET", "/api/v1/calendar?from=2026-10-01&to=2026-10-07", None, {"*": 200}),
    ("PUT", "/api/v1/calendar/<isodate:day>", lambda w: {"is_workday": False}, {"admin": 200, "staff": 200}),
    ("DELETE", "/api/v1/calendar/<isodate:day>", None, {"admin": 404, "staff": 404}),
    # windows and availability (area 0 of station 0)
    ("GET", "/api/v1/slots?area_id={area}&from=2026-10-08&to=2026-10-09", None, {"*": 200}),
    ("GET", "/api/v1/areas/<uuid:area_id>/window-template", None, {"admin": 200, "staff": 200}),
    ("PUT", "/api/v1/areas/<uuid:area_id>/window-template", lambda w: {"windows": []}, {"admin": 200, "staff": 200}),
    ("GET", "/api/v1/areas/<uuid:area_id>/window-exceptions?from=2026-10-01&to=2026-10-07", None,
     {"admin": 200, "staff": 200}),
    ("POST", "/api/v1/areas/<uuid:area_id>/window-exceptions", lambda w: {"day": "2099-01-05", "kind": "closed"},
     {"admin": 201, "staff": 201}),
    ("DELETE", "/api/v1/areas/<uuid:area_id>/window-exceptions/<uuid:exception_id>", None,
     {"admin": 404, "staff": 404}),
    # bookings: the citizen's own booking in station 0, assigned to station 0's officer
    ("POST", "/api/v1/bookings", lambda w: {}, {"staff": 422, "citizen": 422}),
    ("GET", "/api/v1/bookings", None, {"admin": 200, "staff": 200, "officer": 200, "auxiliary": 200, "citizen": 200}),
    ("GET", "/api/v1/bookings/<uuid:booking_id>", None,
     {"admin": 200, "staff": 200, "officer": 200, "auxiliary": 404, "citizen": 200}),
    ("GET", "/api/v1/bookings/<uuid:booking_id>/pii", None,
     {"admin": 200, "staff": 200, "officer": 200, "auxiliary": 404}),
    ("POST", "/api/v1/bookings/<uuid:booking_id>/cancel", lambda w: {"reason": "测试"},
     {"staff": 200, "citizen": 200}),
    ("POST", "/api/v1/bookings/<uuid:booking_id>/reschedule",
     lambda w: {"day": "2099-01-05", "window_start": "09:00", "reason": "测试"}, {"staff": 422, "citizen": 422}),
    # visits
    ("GET", "/api/v1/visits", None, {"admin": 200, "staff": 200, "officer": 200, "auxiliary": 200}),
    ("GET", "/api/v1/visits/<uuid:visit_id>", None, {"admin": 200, "staff": 200, "officer": 200, "auxiliary": 404}),
    ("POST", "/api/v1/visits/<uuid:visit_id>/assign", lambda w: {"officer_id": str(w.officer[0].id)},
     {"staff": 200}),
    ("POST", "/api/v1/visits/<uuid:visit_id>/unassign", lambda w: {"reason": "测试"}, {"staff": 200}),
    ("POST", "/api/v1/visits/bulk-assign", lambda w: {"visit_ids": [], "officer_id": None}, {"staff": 422}),
    ("GET", "/api/v1/visits/<uuid:visit_id>/suggest-officers", None, {"staff": 200}),
    ("POST", "/api/v1/visits/<uuid:visit_id>/start", None, {"officer": 200, "auxiliary": 404}),
    ("POST", "/api/v1/visits/<uuid:visit_id>/outcome", lambda w: {"outcome": "not_home"},
     {"officer": 200, "auxiliary": 404}),
    # leave
    ("POST", "/api/v1/leave", lambda w: {"officer_id": str(w.officer[0].id), "start_day": "2099-01-05",
                                         "end_day": "2099-01-05"}, {"staff": 201, "officer": 201, "auxiliary": 422}),
    ("GET", "/api/v1/leave", None, {"staff": 200, "officer": 200, "auxiliary": 200}),
    ("DELETE", "/api/v1/leave/<uuid:leave_id>", None, {"staff": 204, "officer": 204, "auxiliary": 404}),
]


def expected(row, role):
    rules = row[3]
    if "*" in rules:
        return rules["*"]
    if role in rules:
        return rules[role]
    return 401 if role == "anonymous" else 403


def _fill(rule: str, w, records: dict) -> str:
    for key, value in {"<uuid:station_id>": w.stations[0].id, "<uuid:area_id>": w.areas[0][0].id,
                       "{area}": w.areas[0][0].id, "<uuid:user_id>": w.officer[0].id,
                       "<isodate:day>": "2099-01-05", **records}.items():
        rule = rule.replace(key, str(value))
    return rule


def _records(make, w) -> dict:
    """One of each record a path can name, all in station 0: a device, and a citizen's booking
    whose visit is assigned to the station's officer, with a leave entry and an exception id."""
    from app import pii
    from app.extensions import db
    from appointments.models import Booking, OfficerLeave, Slot, Visit

    device = make.device(w.stations[0])
    with make.app.app_context():
        today = date(2099, 1, 5)
        slot = Slot(area_id=w.areas[0][0].id, day=today, start_time=time(9), end_time=time(12), capacity=5, booked=1)
        db.session.add(slot)
        db.session.flush()
        booking = Booking(reference="ACCESS22", station_id=w.stations[0].id, area_id=w.areas[0][0].id,
                          slot_id=slot.id, day=today, window_start=time(9), window_end=time(12),
                          purpose="registration", channel="mini_program", citizen_id=w.citizen.id,
                          created_by_id=w.citizen.id, address="x", contact_name="x",
                          contact_phone_enc=pii.encrypt(pii.PHONE, "13800000000"), idempotency_key="k",
                          request_hash="h", active_key=f"{w.citizen.id}:registration")
        db.session.add(booking)
        db.session.flush()
        visit = Visit(booking_id=booking.id, station_id=w.stations[0].id, area_id=w.areas[0][0].id, day=today,
                      window_start=time(9), window_end=time(12), address="x", status="assigned",
                      officer_id=w.officer[0].id)
        leave = OfficerLeave(officer_id=w.officer[0].id, start_day=date(2099, 2, 1), end_day=date(2099, 2, 2))
        db.session.add_all([visit, leave])
        db.session.commit()
        return {"<uuid:device_id>": device.id, "<uuid:booking_id>": booking.id, "<uuid:visit_id>": visit.id,
                "<uuid:leave_id>": leave.id, "<uuid:exception_id>": "00000000-0000-4000-8000-000000000000"}


def test_table_covers_every_route(app):
    from app.auth.permissions import LIBRARY_ENDPOINTS

    routes = {(m, r.rule) for r in app.url_map.iter_rules() if r.endpoint not in LIBRARY_ENDPOINTS
              for m in r.methods - {"HEAD", "OPTIONS"}}
    listed = {(row[0], row[1].split("?")[0]) for row in TABLE}
    assert routes - listed == set(), "routes missing from the access table"
    assert listed - routes == set(), "table rows for routes that do not exist"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("row", TABLE, ids=[f"{r[0]} {r[1]}" for r in TABLE])
def test_route_outcome_per_role(client, make, world, row, role):
    method, rule, body, _ = row
    records = _records(make, world)
    headers = {} if role == "anonymous" else make.auth(world.user(role, 0))
    resp = client.open(_fill(rule, world, records), method=method, headers=headers,
                       json=body(world) if body else None)
    assert resp.status_code == expected(row, role), resp.get_data(as_text=True)
    if resp.status_code >= 400:
        assert resp.mimetype == "application/problem+json"


CROSS_STATION = [
    ("GET", "/api/v1/stations/<uuid:station_id>", None),
    ("GET", "/api/v1/areas/<uuid:area_id>", None),
    ("GET", "/api/v1/users/<uuid:user_id>", None),
    ("PATCH", "/api/v1/users/<uuid:user_id>", {"display_name": "x"}),
    ("GET", "/api/v1/users/<uuid:user_id>/pii", None),
    ("GET", "/api/v1/devices/<uuid:device_id>", None),
    ("POST", "/api/v1/devices/<uuid:device_id>/revoke", {"mode": "lost"}),
    ("GET", "/api/v1/areas/<uuid:area_id>/window-template", None),
    ("GET", "/api/v1/bookings/<uuid:booking_id>", None),
    ("POST", "/api/v1/bookings/<uuid:booking_id>/cancel", {"reason": "x"}),
    ("GET", "/api/v1/bookings/<uuid:booking_id>/pii", None),
    ("GET", "/api/v1/visits/<uuid:visit_id>", None),
    ("POST", "/api/v1/visits/<uuid:visit_id>/assign", {"officer_id": "00000000-0000-4000-8000-000000000000"}),
    ("DELETE", "/api/v1/leave/<uuid:leave_id>", None),
]


@pytest.mark.parametrize("method,rule,body", CROSS_STATION, ids=[f"{m} {r}" for m, r, _ in CROSS_STATION])
def test_other_stations_records_do_not_exist_for_staff(client, make, world, method, rule, body):
    resp = client.open(_fill(rule, world, _records(make, world)), method=method, headers=make.auth(world.staff[1]),
                       json=body)
    assert resp.status_code == 404
    assert resp.json["type"].endswith("/not-found")


def test_lists_are_scoped_to_the_station(client, make, world):
    make.device(world.stations[0])
    make.device(world.stations[1])
    staff1 = make.auth(world.staff[1])
    users = client.get("/api/v1/users", headers=staff1).json
    assert users and {u["station_id"] for u in users} == {str(world.stations[1].id)}
    devices = client.get("/api/v1/devices", headers=staff1).json
    assert len(devices) == 1 and devices[0]["station_id"] == str(world.stations[1].id)
    stations = client.get("/api/v1/stations", headers=staff1).json
    assert [s["id"] for s in stations] == [str(world.stations[1].id)]
    areas = client.get("/api/v1/areas", headers=make.auth(world.officer[1])).json
    assert [a["id"] for a in areas] == [str(world.areas[1][0].id)]
    assert len(client.get("/api/v1/stations", headers=make.auth(world.admin)).json) == 2
