"""Residents and residence registration: one person per identity number, scope, maturity."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from app.workdays import LOCAL_TZ, local_now
from field_api.residency.services import maturity_date
from tests.factories import mobile
from tests.fixtures.field import person, registration_body


@pytest.mark.parametrize(
    "start, matures",
    [
        (date(2026, 8, 31), date(2027, 2, 28)),
        (date(2027, 8, 31), date(2028, 2, 29)),
        (date(2026, 3, 31), date(2026, 9, 30)),
        (date(2026, 1, 15), date(2026, 7, 15)),
        (date(2025, 12, 31), date(2026, 6, 30)),
    ],
)
def test_six_calendar_months_clamped_to_month_end(start, matures):
    assert maturity_date(start) == matures


def test_an_officer_registers_a_person_at_the_door(field, client, make, world, time_machine):
    time_machine.move_to(datetime(2026, 9, 1, 10, tzinfo=LOCAL_TZ))  # the day after residence started
    body = person()
    resp = field.register(resident=body, start=date(2026, 8, 31))
    assert resp.status_code == 201, resp.json
    reg = resp.json
    assert reg["maturity_date"] == "2027-02-28" and reg["status"] == "active"
    assert reg["registered_by_id"] == str(world.officer[0].id)
    assert reg["landlord_phone"].count("*") == 4
    resident = client.get(f"/api/v1/residents/{reg['resident_id']}", headers=make.auth(world.officer[0])).json
    assert resident["identity_number"] == body["identity_number"][:4] + "*" * 10 + body["identity_number"][-4:]
    assert resident["phone"] == body["phone"][:3] + "****" + body["phone"][-4:]


def test_a_known_identity_number_links_instead_of_duplicating(field, client, make, world):
    body = person()
    first = client.post("/api/v1/residents", json=body, headers=make.auth(world.staff[0]))
    again = client.post(
        "/api/v1/residents",
        json={**body, "identity_number": body["identity_number"].lower(), "name": "张伟伟"},
        headers=make.auth(world.staff[0]),
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["id"] == first.json["id"] and again.json["name"] == "张伟"
    reg = field.register(resident={**body, "name": "别名"})
    assert reg.json["resident_id"] == first.json["id"]


def test_another_stations_resident_is_not_handed_out_by_identity_number(field, client, make, world):
    body = person()
    mine = field.register(resident=body).json  # station 0 registers the person
    other = client.post("/api/v1/residents", json={**body, "name": "探"}, headers=make.auth(world.staff[1]))
    assert other.status_code == 409 and other.json["type"].endswith("/resident-exists-elsewhere")
    text = other.get_data(as_text=True)
    assert mine["resident_id"] not in text and body["name"] not in text and body["phone"][-4:] not in text
    # registering the person's residence at the door links them, and says no more than the registration
    reg = field.register(who=world.officer[1], area=world.areas[1][0], resident={**body, "name": "别名"})
    assert reg.status_code == 201 and reg.json["resident_id"] == mine["resident_id"]


def test_a_registration_naming_another_stations_resident_by_id_is_refused(field, client, make, world):
    mine = field.register().json
    stolen = field.register(who=world.officer[1], area=world.areas[1][0], resident_id=mine["resident_id"])
    assert stolen.status_code == 422 and "resident_id" in stolen.json["errors"]
    stolen = field.register(who=world.staff[1], area=world.areas[1][0], resident_id=mine["resident_id"])
    assert stolen.status_code == 422 and "resident_id" in stolen.json["errors"]
    pii = client.get(f"/api/v1/residents/{mine['resident_id']}/pii", headers=make.auth(world.staff[1]))
    assert pii.status_code == 404


def test_identity_and_dates_are_validated(field):
    bad = person()
    bad["identity_number"] = bad["identity_number"][:17] + ("0" if bad["identity_number"][17] != "0" else "1")
    resp = field.register(resident=bad)
    assert resp.status_code == 422 and "identity_number" in resp.json["errors"]
    resp = field.register(start=local_now().date() + timedelta(days=1))
    assert resp.status_code == 422 and "start_date" in resp.json["errors"]
    resp = field.register(housing="rented", landlord_name=None)
    assert resp.status_code == 422 and "landlord_name" in resp.json["errors"]
    resp = field.register(housing="employer", landlord_name=None)
    assert resp.status_code == 422 and "employer_name" in resp.json["errors"]


def test_officers_register_only_in_their_areas(field, world):
    resp = field.register(area=world.areas[0][1])  # the auxiliary officer's area, not the officer's
    assert resp.status_code == 422 and "area_id" in resp.json["errors"]
    assert field.register(who=world.auxiliary[0], area=world.areas[0][1]).status_code == 201


def test_one_active_registration_per_station_and_ending_restarts_the_clock(field, client, make, world):
    body = person()
    first = field.register(resident=body).json
    second = field.register(resident=body)
    assert second.status_code == 409 and second.json["type"].endswith("/active-registration-exists")
    # another station may hold one at the same time
    assert field.register(who=world.officer[1], area=world.areas[1][0], resident=body).status_code == 201
    today = local_now().date()
    ended = client.post(
        f"/api/v1/registrations/{first['id']}/end",
        json={"end_date": today.isoformat(), "reason": "moved_away"},
        headers=make.auth(world.officer[0]),
    )
    assert ended.status_code == 200 and ended.json["status"] == "ended"
    again = field.register(resident=body, start=today)
    assert again.status_code == 201 and again.json["maturity_date"] == maturity_date(today).isoformat()
    twice = client.post(
        f"/api/v1/registrations/{first['id']}/end",
        json={"end_date": today.isoformat(), "reason": "cancelled"},
        headers=make.auth(world.staff[0]),
    )
    assert twice.status_code == 409


def test_staff_search_by_number_and_name_within_their_station(field, client, make, world):
    body = person(name="欧阳娜娜")
    field.register(resident=body)
    staff = make.auth(world.staff[0])
    by_id = client.get(
        "/api/v1/residents", query_string={"identity_number": body["identity_number"]}, headers=staff
    ).json
    by_phone = client.get("/api/v1/residents", query_string={"phone": body["phone"]}, headers=staff).json
    by_name = client.get("/api/v1/residents", query_string={"name": "欧阳"}, headers=staff).json
    assert len(by_id) == len(by_phone) == len(by_name) == 1
    assert (
        client.get(
            "/api/v1/residents",
            query_string={"identity_number": body["identity_number"]},
            headers=make.auth(world.staff[1]),
        ).json
        == []
    )
    assert client.get(f"/api/v1/residents/{by_id[0]['id']}", headers=make.auth(world.staff[1])).status_code == 404
    bad = client.get("/api/v1/residents", query_string={"phone": "12"}, headers=staff)
    assert bad.status_code == 422 and "phone" in bad.json["errors"]


def test_page_through_an_areas_registrations(field, client, make, world):
    for _ in range(3):
        field.register()
    field.register(who=world.auxiliary[0], area=world.areas[0][1])
    resp = client.get(
        "/api/v1/registrations",
        query_string={"area_id": str(world.areas[0][0].id), "page_size": 2},
        headers=make.auth(world.staff[0]),
    )
    assert resp.status_code == 200 and len(resp.json) == 2
    assert '"total": 3' in resp.headers["X-Pagination"] or '"total":3' in resp.headers["X-Pagination"]


def test_unmasked_numbers_are_audited(field, client, make, world):
    body = person()
    reg = field.register(resident=body).json
    resp = client.get(f"/api/v1/residents/{reg['resident_id']}/pii", headers=make.auth(world.staff[0]))
    assert resp.json == {"id": reg["resident_id"], "identity_number": body["identity_number"], "phone": body["phone"]}
    events = client.get(
        "/api/v1/audit-events",
        query_string={"action": "pii.read", "entity": "resident"},
        headers=make.auth(world.admin),
    ).json
    assert events[0]["actor_id"] == str(world.staff[0].id)
    assert (
        client.get(f"/api/v1/residents/{reg['resident_id']}/pii", headers=make.auth(world.officer[0])).status_code
        == 403
    )


def test_a_citizen_sees_the_resident_who_registered_their_phone(field, client, make, world):
    phone = mobile()
    citizen = make.user("citizen", phone=phone)
    reg = field.register(resident=person(phone=phone)).json
    mine = client.get("/api/v1/registrations", headers=make.auth(citizen)).json
    assert [r["id"] for r in mine] == [reg["id"]]
    assert client.get("/api/v1/registrations", headers=make.auth(world.citizen)).json == []


def test_stale_edits_are_refused(field, client, make, world):
    reg = field.register().json
    url = f"/api/v1/residents/{reg['resident_id']}"
    staff = make.auth(world.staff[0])
    read = client.get(url, headers=staff)
    assert read.headers["ETag"] == '"1"'
    ok = client.patch(
        url, json={"base_version": 1, "hukou_address": "新地址"}, headers={**staff, "If-Match": read.headers["ETag"]}
    )
    assert ok.status_code == 200 and ok.json["version"] == 2 and ok.headers["ETag"] == '"2"'
    stale = client.patch(url, json={"base_version": 1, "name": "改名"}, headers={**staff, "If-Match": '"2"'})
    assert stale.status_code == 409 and stale.json["type"].endswith("/stale-version")


def test_an_online_edit_needs_the_etag_it_was_based_on(field, client, make, world):
    """The same optimistic check a tablet's push makes: without If-Match 428, with an old one 412."""
    url = f"/api/v1/residents/{field.register().json['resident_id']}"
    staff = make.auth(world.staff[0])
    missing = client.patch(url, json={"name": "改名"}, headers=staff)
    assert missing.status_code == 428 and "If-Match" in missing.json["errors"]
    assert missing.mimetype == "application/problem+json"
    first = client.patch(url, json={"name": "改名"}, headers={**staff, "If-Match": '"1"'})
    assert first.status_code == 200 and first.headers["ETag"] == '"2"'
    lost_update = client.patch(url, json={"name": "另一个名字"}, headers={**staff, "If-Match": '"1"'})
    assert lost_update.status_code == 412 and lost_update.json["type"].endswith("/precondition-failed")
    assert client.get(url, headers=staff).json["name"] == "改名"
    weak = client.patch(url, json={"name": "另一个名字"}, headers={**staff, "If-Match": 'W/"2"'})
    assert weak.status_code == 412  # If-Match compares strongly (RFC 9110)


def test_a_registration_answers_where_it_lives(client, make, world):
    staff = make.auth(world.staff[0])
    created = client.post("/api/v1/registrations", json=registration_body(world.areas[0][0]), headers=staff)
    assert created.status_code == 201
    assert created.headers["Location"] == f"/api/v1/registrations/{created.json['id']}"
    assert client.get(created.headers["Location"], headers=staff).json["id"] == created.json["id"]


def test_many_at_once_link_whoever_was_registered_meanwhile(app, world, client, make, monkeypatch):
    """Registering a tablet's batch: a person someone else registered between the batch's look-up
    and its INSERT makes the INSERT fail; the batch then goes one by one, links that person, and
    still creates the others."""
    import uuid

    from app.auth.permissions import Actor
    from app.extensions import db
    from field_api.residency import services as residents
    from field_api.residency.models import Resident

    known = person()
    first = client.post("/api/v1/residents", json=known, headers=make.auth(world.staff[0])).json
    officer = world.officer[0]
    actor = Actor(user_id=officer.id, role="officer", station_id=officer.station_id)
    real_known = residents._known
    misses = iter([True])  # the look-up, as it was before the other registration committed
    monkeypatch.setattr(
        residents, "_known", lambda bidxs, ids: ({}, set()) if next(misses, False) else real_known(bidxs, ids)
    )
    items = [
        {**person(), "id": uuid.uuid4()},
        {**known, "id": uuid.uuid4()},
        {**person(), "id": uuid.uuid4()},
        {**known, "id": uuid.uuid4()},
    ]  # the same person twice in the batch: linked to the first
    with app.app_context():
        outcomes = residents.register_residents(actor, items)
        db.session.commit()
        assert [outcome.created for outcome in outcomes] == [True, False, True, False]
        assert str(outcomes[1].id) == first["id"] and str(outcomes[3].id) == first["id"]
        assert db.session.query(Resident).count() == 3


def test_the_creation_audited_is_the_resident_as_the_api_shows_them(field, client, make, world):
    """Registration writes its audit event from the numbers in plain, not by reading the new row
    back: what it records must be exactly what ``GET /residents/<id>`` shows."""
    reg = field.register(resident={**person(), "photo_sha256": "a" * 64}).json
    shown = client.get(f"/api/v1/residents/{reg['resident_id']}", headers=make.auth(world.staff[0])).json
    events = client.get(
        "/api/v1/audit-events",
        query_string={"action": "resident.create", "entity_id": reg["resident_id"]},
        headers=make.auth(world.admin),
    ).json
    assert len(events) == 1 and events[0]["after"] == shown
    assert shown["photo_stored"] is False  # named, not yet uploaded
