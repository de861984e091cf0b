"""The working calendar: published holidays and adjusted weekends, staff declarations, and
counting working days across a holiday."""

from __future__ import annotations

from datetime import date


def _days(client, start, end):
    resp = client.get("/api/v1/calendar", query_string={"from": start, "to": end})
    assert resp.status_code == 200, resp.json
    return {d["day"]: d for d in resp.json}


def test_published_holidays_and_worked_weekends(client):
    days = _days(client, "2026-09-30", "2026-10-11")
    assert days["2026-09-30"]["is_workday"] is True
    assert days["2026-10-01"]["is_workday"] is False and days["2026-10-01"]["source"] == "official"
    assert days["2026-10-10"]["is_workday"] is True  # Saturday worked in lieu of National Day
    assert days["2026-10-11"]["is_workday"] is False


def test_unpublished_years_fall_back_to_weekdays_and_say_so(client):
    days = _days(client, "2027-03-05", "2027-03-06")
    assert days["2027-03-05"] == {"day": "2027-03-05", "is_workday": True, "name": "", "source": "weekday-rule"}
    assert days["2027-03-06"]["is_workday"] is False


def test_staff_declare_dates_the_package_does_not_know(client, make, world):
    staff = make.auth(world.staff[0])
    resp = client.put("/api/v1/calendar/2027-02-08", json={"is_workday": False, "name": "春节"}, headers=staff)
    assert resp.status_code == 200 and resp.json["source"] == "staff"
    assert (
        client.put("/api/v1/calendar/2027-02-06", json={"is_workday": True, "name": "调休"}, headers=staff).json[
            "is_workday"
        ]
        is True
    )
    days = _days(client, "2027-02-06", "2027-02-08")
    assert (days["2027-02-06"]["is_workday"], days["2027-02-08"]["is_workday"]) == (True, False)
    resp = client.delete("/api/v1/calendar/2027-02-08", headers=staff)
    assert resp.status_code == 200 and resp.json["source"] == "weekday-rule" and resp.json["is_workday"] is True
    assert client.delete("/api/v1/calendar/2027-02-08", headers=staff).status_code == 404
    events = client.get(
        "/api/v1/audit-events", query_string={"entity": "calendar_day"}, headers=make.auth(world.admin)
    ).json
    assert {e["action"] for e in events} == {"calendar.declare", "calendar.withdraw"}


def test_officers_and_citizens_cannot_declare(client, make, world):
    for who in (world.officer[0], world.citizen):
        resp = client.put("/api/v1/calendar/2027-02-08", json={"is_workday": False}, headers=make.auth(who))
        assert resp.status_code == 403


def test_bad_dates_and_ranges(client, make, world):
    assert (
        client.put(
            "/api/v1/calendar/2027-02-30", json={"is_workday": False}, headers=make.auth(world.staff[0])
        ).status_code
        == 404
    )
    resp = client.get("/api/v1/calendar", query_string={"from": "2026-01-01", "to": "2028-01-01"})
    assert resp.status_code == 422 and "to" in resp.json["errors"]


def test_counting_working_days_skips_mid_autumn_and_the_national_day_week(app):
    from app.workdays import add_working_days

    with app.app_context():
        # From Thursday 2026-09-24: Mid-Autumn (25 Sep) and 1-7 Oct are off, Saturday 10 Oct is worked.
        # Five working days: 28, 29, 30 Sep, 8, 9 Oct.
        assert add_working_days(date(2026, 9, 24), 5) == date(2026, 10, 9)
        assert add_working_days(date(2026, 9, 24), 15) == date(2026, 10, 22)
