"""Public availability: windows per day, seats left, and why a window or day cannot be booked."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from app.workdays import LOCAL_TZ
from tests.fixtures.appointments import upcoming_workdays


def _slots(client, area, start, end):
    resp = client.get(
        "/api/v1/slots", query_string={"area_id": str(area.id), "from": start.isoformat(), "to": end.isoformat()}
    )
    assert resp.status_code == 200, resp.json
    return {d["day"]: d for d in resp.json}


def test_anyone_sees_windows_and_seats_left(client, booker, windows):
    day = windows.days[0]
    assert booker.as_citizen().status_code == 201
    days = _slots(client, windows.area, day, day)
    morning, afternoon = days[day.isoformat()]["windows"]
    assert (morning["start"], morning["end"], morning["capacity"], morning["left"]) == ("09:00", "12:00", 3, 2)
    assert afternoon["left"] == 2 and afternoon["bookable"] is True
    assert "contact" not in str(days) and "李娜" not in str(days)


def test_full_windows_say_so(client, booker, windows):
    for _ in range(2):
        assert booker.as_staff(start=windows.afternoon).status_code == 201
    day = windows.days[0]
    afternoon = _slots(client, windows.area, day, day)[day.isoformat()]["windows"][1]
    assert afternoon["left"] == 0 and afternoon["bookable"] is False and afternoon["reason"] == "full"


def test_weekends_and_holidays_have_no_windows(client, windows, world, time_machine):
    # 2026-10-01 is National Day; 2026-10-10 a Saturday worked in lieu; 2026-10-11 an ordinary Sunday.
    time_machine.move_to(datetime(2026, 10, 12, 9, tzinfo=LOCAL_TZ))  # the Monday after: all past
    days = _slots(client, windows.area, date(2026, 10, 1), date(2026, 10, 11))
    assert days["2026-10-01"]["reason"] == "holiday" and days["2026-10-01"]["holiday_name"]
    assert days["2026-10-10"]["is_workday"] is True and len(days["2026-10-10"]["windows"]) == 2
    assert days["2026-10-11"]["reason"] == "weekend" and days["2026-10-11"]["windows"] == []
    # the past is never bookable
    assert all(not w["bookable"] and w["reason"] == "past_cutoff" for w in days["2026-10-10"]["windows"])


def test_windows_beyond_the_horizon_are_not_bookable(app, client, windows):
    with app.app_context():
        far = upcoming_workdays(1, skip=app.config["BOOKING_HORIZON_DAYS"] + 2)[0]
    windows_far = _slots(client, windows.area, far, far)[far.isoformat()]["windows"]
    assert windows_far and all(w["reason"] == "beyond_horizon" for w in windows_far)


def test_exceptions_close_a_day_close_a_window_or_open_one(client, make, world, windows):
    staff = make.auth(world.staff[0])
    url = f"/api/v1/areas/{windows.area.id}/window-exceptions"
    d0, d1, d2 = windows.days
    assert (
        client.post(url, json={"day": d0.isoformat(), "kind": "closed", "note": "培训"}, headers=staff).status_code
        == 201
    )
    assert (
        client.post(url, json={"day": d1.isoformat(), "kind": "closed", "start": "14:00"}, headers=staff).status_code
        == 201
    )
    assert (
        client.post(
            url,
            json={"day": d2.isoformat(), "kind": "open", "start": "09:00", "end": "12:00", "capacity": 8},
            headers=staff,
        ).status_code
        == 201
    )
    assert (
        client.post(
            url,
            json={"day": d2.isoformat(), "kind": "open", "start": "18:00", "end": "20:00", "capacity": 1},
            headers=staff,
        ).status_code
        == 201
    )
    days = _slots(client, windows.area, d0, d2)
    assert days[d0.isoformat()]["windows"] == [] and days[d0.isoformat()]["reason"] == "closed"
    assert [w["start"] for w in days[d1.isoformat()]["windows"]] == ["09:00"]
    assert [(w["start"], w["capacity"]) for w in days[d2.isoformat()]["windows"]] == [
        ("09:00", 8),
        ("14:00", 2),
        ("18:00", 1),
    ]
    listed = client.get(url, query_string={"from": d0.isoformat(), "to": d2.isoformat()}, headers=staff).json
    assert len(listed) == 4
    resp = client.delete(f"{url}/{listed[0]['id']}", headers=staff)
    assert resp.status_code == 204
    assert len(_slots(client, windows.area, d0, d0)[d0.isoformat()]["windows"]) == 2


def test_exception_validation(client, make, world, windows):
    staff = make.auth(world.staff[0])
    url = f"/api/v1/areas/{windows.area.id}/window-exceptions"
    day = windows.days[0].isoformat()
    resp = client.post(url, json={"day": day, "kind": "open", "start": "18:00"}, headers=staff)
    assert resp.status_code == 422 and "end" in resp.json["errors"]
    resp = client.post(url, json={"day": "2020-01-06", "kind": "closed"}, headers=staff)
    assert resp.status_code == 422 and "day" in resp.json["errors"]
    resp = client.post(url, json={"day": day, "kind": "closed", "capacity": 3}, headers=staff)
    assert resp.status_code == 422 and "capacity" in resp.json["errors"]


def test_staff_replace_the_weekly_template(client, make, world, windows):
    staff = make.auth(world.staff[0])
    url = f"/api/v1/areas/{windows.area.id}/window-template"
    body = {"windows": [{"weekday": d, "start": "08:30", "end": "11:30", "capacity": 5} for d in range(5)]}
    assert client.put(url, json=body, headers=staff).status_code == 428
    resp = client.put(url, json=body, headers={**staff, "If-Match": client.get(url, headers=staff).headers["ETag"]})
    assert resp.status_code == 200 and len(resp.json) == 5
    stale = client.put(url, json=body, headers={**staff, "If-Match": '"w-0000000000000000"'})
    assert stale.status_code == 412
    staff = {**staff, "If-Match": resp.headers["ETag"]}
    assert client.get(url, headers=staff).json[0] == {"weekday": 0, "start": "08:30", "end": "11:30", "capacity": 5}
    overlapping = {
        "windows": [
            {"weekday": 0, "start": "08:00", "end": "12:00", "capacity": 1},
            {"weekday": 0, "start": "11:00", "end": "13:00", "capacity": 1},
        ]
    }
    resp = client.put(url, json=overlapping, headers=staff)
    assert resp.status_code == 422 and "overlap" in resp.json["errors"]["windows"][0]
    # another station's staff cannot see or change this area's windows
    assert client.get(url, headers=make.auth(world.staff[1])).status_code == 404


def test_a_capacity_that_is_not_a_whole_number_is_refused_not_truncated(client, make, world, windows):
    staff = make.auth(world.staff[0])
    url = f"/api/v1/areas/{windows.area.id}/window-template"
    before = client.get(url, headers=staff)
    staff = {**staff, "If-Match": before.headers["ETag"]}
    for capacity in (2.5e-42, 2.5, "3", True):
        body = {"windows": [{"weekday": 1, "start": "09:00", "end": "12:00", "capacity": capacity}]}
        resp = client.put(url, json=body, headers=staff)
        assert resp.status_code == 422, capacity
        assert resp.mimetype == "application/problem+json"
        assert "capacity" in resp.json["errors"]["windows"]["0"], resp.json
    assert client.get(url, headers=staff).json == before.json


def test_bad_queries_name_the_field(client, windows):
    day = windows.days[0]
    resp = client.get(
        "/api/v1/slots",
        query_string={
            "area_id": str(windows.area.id),
            "from": day.isoformat(),
            "to": (day + timedelta(days=100)).isoformat(),
        },
    )
    assert resp.status_code == 422 and "to" in resp.json["errors"]
    resp = client.get("/api/v1/slots", query_string={"from": day.isoformat(), "to": day.isoformat()})
    assert resp.status_code == 422 and "area_id" in resp.json["errors"]
