"""Stations and areas are the sub-bureau's: administrators shape them, everyone else reads their part."""

from __future__ import annotations


def test_admin_creates_a_station_and_its_areas(client, make, world):
    headers = make.auth(world.admin)
    station = client.post("/api/v1/stations", json={"code": "XH01", "name": "西湖派出所"}, headers=headers)
    assert station.status_code == 201
    sid = station.json["id"]
    area = client.post(
        "/api/v1/areas",
        json={"station_id": sid, "code": "BS", "name": "北山社区", "kind": "police_point"},
        headers=headers,
    )
    assert area.status_code == 201 and area.json["kind"] == "police_point"
    listed = client.get(f"/api/v1/areas?station_id={sid}", headers=headers)
    assert [a["code"] for a in listed.json] == ["BS"]
    assert listed.headers["X-Pagination"]


def test_codes_are_unique(client, make, world):
    headers = make.auth(world.admin)
    resp = client.post("/api/v1/stations", json={"code": world.stations[0].code, "name": "重复"}, headers=headers)
    assert resp.status_code == 409 and "code" in resp.json["errors"]
    body = {"station_id": str(world.stations[0].id), "code": world.areas[0][0].code, "name": "重复"}
    assert client.post("/api/v1/areas", json=body, headers=headers).status_code == 409
    # the same area code in another station is fine
    body["station_id"] = str(world.stations[1].id)
    assert client.post("/api/v1/areas", json=body, headers=headers).status_code == 201


def test_codes_and_kinds_are_validated(client, make, world):
    headers = make.auth(world.admin)
    resp = client.post("/api/v1/stations", json={"code": "bad code", "name": "x"}, headers=headers)
    assert resp.status_code == 422 and "code" in resp.json["errors"]
    resp = client.post(
        "/api/v1/areas",
        json={"station_id": str(world.stations[0].id), "code": "A1", "name": "x", "kind": "village"},
        headers=headers,
    )
    assert resp.status_code == 422 and "kind" in resp.json["errors"]


def test_area_for_an_unknown_station_is_404(client, make, world):
    resp = client.post(
        "/api/v1/areas",
        json={"station_id": "00000000-0000-4000-8000-000000000000", "code": "A1", "name": "x"},
        headers=make.auth(world.admin),
    )
    assert resp.status_code == 404


def test_deactivate_station(client, make, world):
    resp = client.patch(
        f"/api/v1/stations/{world.stations[1].id}", json={"active": False}, headers=make.auth(world.admin)
    )
    assert resp.status_code == 200 and resp.json["active"] is False
