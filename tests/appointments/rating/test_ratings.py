"""好差评 in the API: a citizen rates their own completed visit once (1–5 stars, a comment); staff
read their own station's ratings and per-officer averages; refusals change nothing."""

from __future__ import annotations

import uuid

from tests.factories import mobile
from tests.fixtures.visits import booked_visit, completed_visit
from tests.snapshots import changed_tables, database_state


def _rate(client, make, who, visit_id, **body):
    """``who``: a user (signed in now) or the headers of one signed in before."""
    body.setdefault("stars", 5)
    headers = who if isinstance(who, dict) else make.auth(who)
    return client.post(f"/api/v1/visits/{visit_id}/rating", json=body, headers=headers)


def test_a_citizen_rates_their_completed_visit_once(app, client, make, world, booker):
    booking = completed_visit(client, make, world, booker)
    citizen = make.auth(world.citizen)
    first = _rate(client, make, citizen, booking["visit_id"], stars=4, comment="  准时，态度好  ")
    assert first.status_code == 201, first.json
    assert first.headers["Location"].endswith(f"/api/v1/visits/{booking['visit_id']}/rating")
    assert client.get(first.headers["Location"], headers=citizen).json["stars"] == 4
    staff_view = client.get(first.headers["Location"], headers=make.auth(world.staff[0]))
    assert staff_view.status_code == 200 and staff_view.json["comment"] == "准时，态度好"
    assert client.get(first.headers["Location"], headers=make.auth(world.staff[1])).status_code == 404
    assert first.json["stars"] == 4 and first.json["comment"] == "准时，态度好"
    assert first.json["officer_id"] == str(world.officer[0].id)
    before = database_state(app)
    again = _rate(client, make, citizen, booking["visit_id"], stars=1)
    assert again.status_code == 409 and again.json["type"].endswith("/already-rated")
    assert again.headers["Content-Type"] == "application/problem+json"
    assert changed_tables(before, database_state(app)) == []


def test_only_completed_visits_of_ones_own_can_be_rated(app, client, make, world, booker):
    open_visit = booked_visit(make, world, booker)
    other = make.user("citizen", phone=mobile())
    theirs = completed_visit(client, make, world, booker, other, start=booker.windows.afternoon)
    not_home = completed_visit(
        client, make, world, booker, purpose="other", outcome="not_home", day=booker.windows.days[1]
    )
    citizen, staff, officer = make.auth(world.citizen), make.auth(world.staff[0]), make.auth(world.officer[0])
    before = database_state(app)
    refused = _rate(client, make, citizen, open_visit["visit_id"])
    assert refused.status_code == 409 and refused.json["type"].endswith("/visit-not-completed")
    refused = _rate(client, make, citizen, not_home["visit_id"])
    assert refused.status_code == 409 and refused.json["type"].endswith("/visit-not-completed")
    # another citizen's visit and one that does not exist are the same "not found"
    assert _rate(client, make, citizen, theirs["visit_id"]).status_code == 404
    assert _rate(client, make, citizen, uuid.uuid4()).status_code == 404
    # staff and officers do not rate
    assert _rate(client, make, staff, theirs["visit_id"]).status_code == 403
    assert _rate(client, make, officer, theirs["visit_id"]).status_code == 403
    assert changed_tables(before, database_state(app)) == []


def test_bad_stars_and_long_comments_are_named(app, client, make, world, booker):
    booking = completed_visit(client, make, world, booker)
    citizen = make.auth(world.citizen)
    before = database_state(app)
    for stars in (0, 6, 2.5, "5", True):
        resp = _rate(client, make, citizen, booking["visit_id"], stars=stars)
        assert resp.status_code == 422 and "stars" in resp.json["errors"], (stars, resp.json)
    resp = _rate(client, make, citizen, booking["visit_id"], comment="很" * 501)
    assert resp.status_code == 422 and "comment" in resp.json["errors"]
    assert changed_tables(before, database_state(app)) == []


def test_staff_read_their_own_stations_ratings_per_officer(client, make, world, booker, windows, app):
    from tests.fixtures.appointments import set_template

    mine = completed_visit(client, make, world, booker)
    _rate(client, make, world.citizen, mine["visit_id"], stars=4, comment="好")
    second = completed_visit(client, make, world, booker, purpose="other")
    _rate(client, make, world.citizen, second["visit_id"], stars=5)
    # a visit of station 1, rated by another citizen
    set_template(app, world.areas[1][0])
    other = make.user("citizen", phone=mobile())
    theirs = booker.post(make.auth(other), area_id=str(world.areas[1][0].id)).json
    from tests.fixtures.visits import act

    act(client, make.auth(world.staff[1]), theirs["visit_id"], "assign", {"officer_id": str(world.officer[1].id)})
    act(client, make.auth(world.officer[1]), theirs["visit_id"], "outcome", {"outcome": "completed"})
    assert _rate(client, make, other, theirs["visit_id"], stars=1, comment="迟到").status_code == 201

    staff = make.auth(world.staff[0])
    listed = client.get("/api/v1/ratings", headers=staff).json
    assert sorted(r["stars"] for r in listed) == [4, 5] and "迟到" not in str(listed)
    summary = client.get("/api/v1/ratings/summary", headers=staff).json
    assert summary["count"] == 2 and summary["average"] == 4.5
    assert [(o["officer_id"], o["count"], o["average"]) for o in summary["officers"]] == [
        (str(world.officer[0].id), 2, 4.5)
    ]
    # asking for another station's figures from within one's own scope finds nothing
    elsewhere = client.get(
        "/api/v1/ratings/summary", query_string={"station_id": str(world.stations[1].id)}, headers=staff
    ).json
    assert elsewhere["count"] == 0 and elsewhere["average"] is None and elsewhere["officers"] == []

    admin = client.get("/api/v1/ratings/summary", headers=make.auth(world.admin)).json
    assert admin["count"] == 3 and len(admin["stations"]) == 2
    by_officer = client.get(
        "/api/v1/ratings", query_string={"officer_id": str(world.officer[1].id)}, headers=make.auth(world.admin)
    ).json
    assert [r["comment"] for r in by_officer] == ["迟到"]
    # a citizen reads only their own ratings; officers none
    assert sorted(r["stars"] for r in client.get("/api/v1/ratings", headers=make.auth(world.citizen)).json) == [4, 5]
    assert [r["comment"] for r in client.get("/api/v1/ratings", headers=make.auth(other)).json] == ["迟到"]
    assert client.get("/api/v1/ratings/summary", headers=make.auth(world.officer[0])).status_code == 403


def test_the_dashboard_shows_each_officers_average_and_count(app, client, make, world, booker):
    from tests.app.web.helpers import log_in

    for purpose, stars in (("registration", 3), ("other", 4)):
        booking = completed_visit(client, make, world, booker, purpose=purpose)
        assert _rate(client, make, world.citizen, booking["visit_id"], stars=stars).status_code == 201
    log_in(client, world.staff[0], **{"Accept-Language": "zh-CN"})
    html = client.get("/console/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    start = html.index('id="panel-ratings"')
    panel = html[start : html.index("</article>", start)]
    assert "officer" in panel and 'value="3.5"' in panel and '<td class="num">2</td>' in panel
    other = app.test_client()
    log_in(other, world.staff[1])
    html = other.get("/console/").get_data(as_text=True)
    start = html.index('id="panel-ratings"')
    assert 'value="3.5"' not in html[start : html.index("</article>", start)]


def test_ratings_sent_at_once_keep_one(app, client, make, world, booker):
    """Two taps on two phones at the same moment: one rating stands, the other is the 409."""
    from tests.app.auth.helpers import in_parallel

    booking = completed_visit(client, make, world, booker)
    citizen = make.auth(world.citizen)
    results = in_parallel(app, 4, lambda c, i: _rate(c, make, citizen, booking["visit_id"], stars=i + 1).status_code)
    assert sorted(results) == [201, 409, 409, 409]
    staff = client.get("/api/v1/ratings", headers=make.auth(world.staff[0])).json
    assert len(staff) == 1


def test_the_calendars_first_and_last_days_mean_since_and_until_ever(client, make, world, booker):
    visit = completed_visit(client, make, world, booker)
    _rate(client, make, world.citizen, visit["visit_id"], stars=3)
    staff = make.auth(world.staff[0])
    for path in ("/api/v1/ratings", "/api/v1/ratings/summary"):
        ever = client.get(path, query_string={"from": "0001-01-01", "to": "9999-12-31"}, headers=staff)
        assert ever.status_code == 200, ever.get_data(as_text=True)
        assert (len(ever.json) if isinstance(ever.json, list) else ever.json["count"]) == 1
        ago = client.get(path, query_string={"from": "0001-01-01", "to": "2000-01-01"}, headers=staff)
        assert (len(ago.json) if isinstance(ago.json, list) else ago.json["count"]) == 0
