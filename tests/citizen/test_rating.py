"""Journey 8, 好差评 in the H5: after a completed visit the citizen gives 1–5 stars and a comment,
once; the same service as the API decides; another's visit is not found; forms carry CSRF."""

from __future__ import annotations

import re

from tests.citizen.test_login import log_in
from tests.factories import mobile
from tests.fixtures.visits import booked_visit, completed_visit
from tests.snapshots import changed_tables, database_state

ZH = {"Accept-Language": "zh-CN"}


def _csrf(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def test_a_citizen_rates_a_completed_visit_once_in_chinese(app, client, make, world, booker, sms):
    booking = completed_visit(client, make, world, booker)
    log_in(client, sms, world.citizen.phone)
    listing = client.get("/m/ratings", headers=ZH)
    text = listing.get_data(as_text=True)
    assert listing.status_code == 200 and "评价" in text
    assert f"/m/ratings/{booking['visit_id']}" in text and "o****" in text  # the officer's name masked
    form = client.get(f"/m/ratings/{booking['visit_id']}", headers=ZH)
    assert 'type="radio" name="stars"' in form.get_data(as_text=True) and "非常满意" in form.get_data(as_text=True)
    sent = client.post(
        f"/m/ratings/{booking['visit_id']}",
        data={"stars": "5", "comment": "很及时", "csrf_token": _csrf(form)},
        headers=ZH,
    )
    assert sent.status_code == 302 and "/m/ratings?rated=1" in sent.headers["Location"]
    done = client.get("/m/ratings?rated=1", headers=ZH).get_data(as_text=True)
    assert "感谢" in done and "★★★★★" in done
    # the API's staff read shows it
    staff = client.get("/api/v1/ratings", headers=make.auth(world.staff[0])).json
    assert [(r["stars"], r["comment"]) for r in staff] == [(5, "很及时")]
    # a second rating is refused in words, and changes nothing
    before = database_state(app)
    again = client.post(f"/m/ratings/{booking['visit_id']}", data={"stars": "1", "csrf_token": _csrf(form)}, headers=ZH)
    assert again.status_code == 409 and "已评价" in again.get_data(as_text=True)
    assert changed_tables(before, database_state(app)) == []


def test_no_stars_is_said_beside_the_field(app, client, make, world, booker, sms):
    booking = completed_visit(client, make, world, booker)
    log_in(client, sms, world.citizen.phone)
    form = client.get(f"/m/ratings/{booking['visit_id']}", headers=ZH)
    before = database_state(app)
    for stars in ("", "9", "abc"):
        resp = client.post(
            f"/m/ratings/{booking['visit_id']}",
            data={"stars": stars, "comment": "留着", "csrf_token": _csrf(form)},
            headers=ZH,
        )
        html = resp.get_data(as_text=True)
        assert resp.status_code == 422 and 'id="stars-error"' in html and "星" in html and "留着" in html
    assert changed_tables(before, database_state(app)) == []


def test_another_citizens_visit_and_an_open_one_cannot_be_rated(app, client, make, world, booker, sms):
    other = make.user("citizen", phone=mobile())
    theirs = completed_visit(client, make, world, booker, other)
    open_visit = booked_visit(make, world, booker, purpose="other")
    log_in(client, sms, world.citizen.phone)
    assert client.get(f"/m/ratings/{theirs['visit_id']}", headers=ZH).status_code == 404
    listing = client.get("/m/ratings", headers=ZH).get_data(as_text=True)
    assert theirs["visit_id"] not in listing and open_visit["visit_id"] not in listing
    token = _csrf(client.get("/m/me", headers=ZH))
    before = database_state(app)
    stolen = client.post(f"/m/ratings/{theirs['visit_id']}", data={"stars": "1", "csrf_token": token}, headers=ZH)
    assert stolen.status_code == 404
    early = client.post(f"/m/ratings/{open_visit['visit_id']}", data={"stars": "5", "csrf_token": token}, headers=ZH)
    assert early.status_code == 409 and "完成" in early.get_data(as_text=True)
    forged = client.post(f"/m/ratings/{open_visit['visit_id']}", data={"stars": "5", "csrf_token": "x"}, headers=ZH)
    assert forged.status_code == 403
    assert changed_tables(before, database_state(app)) == []


def test_rating_pages_ask_a_stranger_to_log_in(client, make, world, booker):
    booking = completed_visit(client, make, world, booker)
    page = client.get(f"/m/ratings/{booking['visit_id']}")
    assert page.status_code == 302 and "/m/login?next=" in page.headers["Location"]
