"""Accounts: who may create and change whom, and which fields are refused rather than ignored."""

from __future__ import annotations

from tests.factories import PASSWORD, mobile
from tests.problems import assert_problem


def _new(role="officer", station=None, **extra):
    body = {"username": f"u{mobile()}", "password": "a-long-password", "role": role}
    if station is not None:
        body["station_id"] = str(station.id)
    body.update(extra)
    return body


def test_staff_creates_an_officer_of_their_station_who_can_log_in(client, make, world):
    body = _new(area_ids=[str(world.areas[0][0].id)], phone="138 1234 5678", display_name="王芳")
    resp = client.post("/api/v1/users", json=body, headers=make.auth(world.staff[0]))
    assert resp.status_code == 201, resp.json
    user = resp.json
    assert user["station_id"] == str(world.stations[0].id)
    assert user["phone"] == "138****5678"
    assert user["area_ids"] == [str(world.areas[0][0].id)]
    assert "password" not in user and "password_hash" not in user
    login = client.post("/api/v1/auth/login", json={"username": body["username"], "password": body["password"]})
    assert login.status_code == 200


def test_staff_may_not_create_staff_or_admins(client, make, world):
    for role in ("staff", "admin"):
        resp = client.post("/api/v1/users", json=_new(role), headers=make.auth(world.staff[0]))
        assert resp.status_code == 422
        assert "role" in resp.json["errors"]


def test_staff_may_not_place_an_account_in_another_station(client, make, world):
    resp = client.post("/api/v1/users", json=_new(station=world.stations[1]), headers=make.auth(world.staff[0]))
    assert resp.status_code == 422
    assert "station_id" in resp.json["errors"]


def test_areas_must_belong_to_the_accounts_station(client, make, world):
    resp = client.post(
        "/api/v1/users", json=_new(area_ids=[str(world.areas[1][0].id)]), headers=make.auth(world.staff[0])
    )
    assert resp.status_code == 422 and "area_ids" in resp.json["errors"]
    resp = client.post(
        "/api/v1/users",
        json=_new("staff", world.stations[0], area_ids=[str(world.areas[0][0].id)]),
        headers=make.auth(world.admin),
    )
    assert resp.status_code == 422 and "area_ids" in resp.json["errors"]


def test_unknown_and_server_owned_fields_are_refused(client, make, world):
    headers = make.auth(world.staff[0])
    for field in ("password_hash", "id", "created_at", "phone_bidx"):
        resp = client.post("/api/v1/users", json=_new(**{field: "x"}), headers=headers)
        assert resp.status_code == 422, field
        assert field in resp.json["errors"]
    resp = client.patch(f"/api/v1/users/{world.officer[0].id}", json={"username": "renamed"}, headers=headers)
    assert resp.status_code == 422 and "username" in resp.json["errors"]


def test_staff_cannot_promote_or_move_an_officer(client, make, world):
    headers = make.auth(world.staff[0])
    url = f"/api/v1/users/{world.officer[0].id}"
    resp = client.patch(url, json={"role": "staff"}, headers=headers)
    assert resp.status_code == 422 and "role" in resp.json["errors"]
    resp = client.patch(url, json={"station_id": str(world.stations[1].id)}, headers=headers)
    assert resp.status_code == 422 and "station_id" in resp.json["errors"]
    resp = client.patch(url, json={"role": "auxiliary"}, headers=headers)
    assert resp.status_code == 200 and resp.json["role"] == "auxiliary"


def test_staff_cannot_change_other_staff(client, make, world):
    other = make.user("staff", world.stations[0])
    before = client.get(f"/api/v1/users/{other.id}", headers=make.auth(world.admin)).json
    resp = client.patch(f"/api/v1/users/{other.id}", json={"display_name": "x"}, headers=make.auth(world.staff[0]))
    assert_problem(resp, 403)
    assert client.get(f"/api/v1/users/{other.id}", headers=make.auth(world.admin)).json == before
    assert before["display_name"] != "x"


def test_admin_moves_an_officer_and_their_areas_are_cleared(client, make, world):
    resp = client.patch(
        f"/api/v1/users/{world.officer[0].id}",
        json={"station_id": str(world.stations[1].id)},
        headers=make.auth(world.admin),
    )
    assert resp.status_code == 200
    assert resp.json["station_id"] == str(world.stations[1].id) and resp.json["area_ids"] == []


def test_deactivating_an_account_ends_its_sessions(client, make, world):
    tokens = make.tokens(world.officer[0])
    resp = client.patch(
        f"/api/v1/users/{world.officer[0].id}", json={"active": False}, headers=make.auth(world.staff[0])
    )
    assert resp.status_code == 200
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401
    login = client.post("/api/v1/auth/login", json={"username": world.officer[0].username, "password": PASSWORD})
    assert login.status_code == 401


def test_duplicate_username_is_a_conflict(client, make, world):
    body = _new(username=world.officer[0].username)
    resp = client.post("/api/v1/users", json=body, headers=make.auth(world.staff[0]))
    assert resp.status_code == 409 and "username" in resp.json["errors"]


def test_bad_phone_and_short_password_name_the_field(client, make, world):
    headers = make.auth(world.staff[0])
    resp = client.post("/api/v1/users", json=_new(phone="12345678901"), headers=headers)
    assert resp.status_code == 422 and "phone" in resp.json["errors"]
    resp = client.post("/api/v1/users", json=_new(password="short"), headers=headers)
    assert resp.status_code == 422 and "password" in resp.json["errors"]


def test_admin_accounts_belong_to_no_station(client, make, world):
    resp = client.post("/api/v1/users", json=_new("admin", world.stations[0]), headers=make.auth(world.admin))
    assert resp.status_code == 422 and "station_id" in resp.json["errors"]
    resp = client.post("/api/v1/users", json=_new("admin"), headers=make.auth(world.admin))
    assert resp.status_code == 201 and resp.json["station_id"] is None


def test_citizen_accounts_are_not_created_by_hand(client, make, world):
    resp = client.post("/api/v1/users", json=_new("citizen"), headers=make.auth(world.admin))
    assert resp.status_code == 422 and "role" in resp.json["errors"]


def test_user_list_filters(client, make, world):
    headers = make.auth(world.admin)
    officers = client.get(f"/api/v1/users?role=officer&station_id={world.stations[1].id}", headers=headers)
    assert [u["id"] for u in officers.json] == [str(world.officer[1].id)]
    assert client.get("/api/v1/users?role=boss", headers=headers).status_code == 422


def test_me_lists_permissions(client, make, world):
    me = client.get("/api/v1/me", headers=make.auth(world.officer[0])).json
    assert me["id"] == str(world.officer[0].id)
    assert "area.read" in me["permissions"] and "user.manage" not in me["permissions"]


def test_moving_an_officer_to_another_station_ends_their_sessions(client, make, world):
    tokens = make.tokens(world.officer[0])
    resp = client.patch(
        f"/api/v1/users/{world.officer[0].id}",
        json={"station_id": str(world.stations[1].id)},
        headers=make.auth(world.admin),
    )
    assert resp.status_code == 200
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401


def test_a_citizen_account_never_becomes_a_staff_account(client, make, world):
    admin = make.auth(world.admin)
    citizen = world.citizen
    for body in (
        {"role": "officer"},
        {"role": "officer", "station_id": str(world.stations[0].id), "area_ids": [str(world.areas[0][0].id)]},
        {"station_id": str(world.stations[0].id)},
        {"password": "a long enough password"},
    ):
        resp = client.patch(f"/api/v1/users/{citizen.id}", json=body, headers=admin)
        assert resp.status_code == 422, (body, resp.json)
        assert set(resp.json["errors"]) & set(body)
    me = client.get("/api/v1/me", headers=make.auth(citizen)).json
    assert me["role"] == "citizen" and "resident.create" not in me["permissions"]


def test_nobody_deactivates_demotes_or_moves_their_own_account(client, make, world):
    me = make.auth(world.admin)
    for change in ({"active": False}, {"role": "staff"}):
        resp = client.patch(f"/api/v1/users/{world.admin.id}", json=change, headers=me)
        assert resp.status_code == 422 and set(change) <= set(resp.json["errors"]), resp.json
    assert client.get("/api/v1/me", headers=me).json["active"] is True
    other = make.user("admin")
    assert client.patch(f"/api/v1/users/{other.id}", json={"active": False}, headers=me).status_code == 200
