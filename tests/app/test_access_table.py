"""Every route, every role: the outcome is written down here, and a route missing from the
table fails the suite — a new endpoint cannot ship without saying who may call it."""
from __future__ import annotations

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
]


def expected(row, role):
    rules = row[3]
    if "*" in rules:
        return rules["*"]
    if role in rules:
        return rules[role]
    return 401 if role == "anonymous" else 403


def _fill(rule: str, w, device) -> str:
    return (rule.replace("<uuid:station_id>", str(w.stations[0].id))
            .replace("<uuid:area_id>", str(w.areas[0][0].id))
            .replace("<uuid:user_id>", str(w.officer[0].id))
            .replace("<uuid:device_id>", str(device.id)))


def test_table_covers_every_route(app):
    from app.auth.permissions import LIBRARY_ENDPOINTS

    routes = {(m, r.rule) for r in app.url_map.iter_rules() if r.endpoint not in LIBRARY_ENDPOINTS
              for m in r.methods - {"HEAD", "OPTIONS"}}
    listed = {(row[0], row[1]) for row in TABLE}
    assert routes - listed == set(), "routes missing from the access table"
    assert listed - routes == set(), "table rows for routes that do not exist"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("row", TABLE, ids=[f"{r[0]} {r[1]}" for r in TABLE])
def test_route_outcome_per_role(client, make, world, row, role):
    method, rule, body, _ = row
    device = make.device(world.stations[0])
    headers = {} if role == "anonymous" else make.auth(world.user(role, 0))
    resp = client.open(_fill(rule, world, device), method=method, headers=headers,
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
]


@pytest.mark.parametrize("method,rule,body", CROSS_STATION, ids=[f"{m} {r}" for m, r, _ in CROSS_STATION])
def test_other_stations_records_do_not_exist_for_staff(client, make, world, method, rule, body):
    device = make.device(world.stations[0])
    resp = client.open(_fill(rule, world, device), method=method, headers=make.auth(world.staff[1]), json=body)
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
