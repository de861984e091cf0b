"""Journey 4, 我的预约: a citizen's own bookings with status, window and the officer's masked name;
cancel and move one, a tap and a confirmation each, through the API's services and within the
station's rules; refusals in words that change nothing; another citizen's booking is not there."""

from __future__ import annotations

import re

import pytest

from tests.citizen.test_booking import ZH, book, booked_seats, slot_of
from tests.citizen.test_login import log_in
from tests.factories import mobile
from tests.snapshots import changed_tables, database_state


def _csrf(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


@pytest.fixture
def mine(client, sms, world, windows):
    """The citizen logged in on the H5 with one booking made there: its page's address."""
    log_in(client, sms, world.citizen.phone)
    return book(client, windows).headers["Location"].split("?")[0]


def _api(client, make, world):
    return client.get("/api/v1/bookings", headers=make.auth(world.citizen)).json


def test_the_list_shows_status_time_and_the_officers_masked_name(client, make, world, windows, mine, booker):
    someone_else = booker.as_staff(start=windows.afternoon).json  # a caller without an account
    visit_id = _api(client, make, world)[0]["visit_id"]
    assigned = client.post(
        f"/api/v1/visits/{visit_id}/assign",
        json={"officer_id": str(world.officer[0].id)},
        headers={**make.auth(world.staff[0]), "If-Match": "*"},
    )
    assert assigned.status_code == 200, assigned.json
    page = client.get("/m/bookings", headers=ZH).get_data(as_text=True)
    assert "我的预约" in page and "居住登记" in page
    assert "09:00–12:00" in page and "已预约" in page
    assert "o******" in page and ">officer<" not in page  # the officer's display name, masked
    assert mine in page and someone_else["id"] not in page
    detail = client.get(mine, headers=ZH).get_data(as_text=True)
    assert "更改时间" in detail
    assert "取消预约" in detail


def test_cancel_is_one_tap_and_a_confirmation(app, client, make, world, windows, mine):
    asked = client.get(f"{mine}/cancel", headers=ZH)
    assert asked.status_code == 200 and "确定取消" in asked.get_data(as_text=True)
    assert booked_seats(app, windows) == 1  # asking changes nothing
    done = client.post(f"{mine}/cancel", data={"csrf_token": _csrf(asked)}, headers=ZH)
    assert done.status_code == 303 and done.headers["Location"].endswith("?done=cancelled")
    page = client.get(done.headers["Location"], headers=ZH).get_data(as_text=True)
    assert "预约已取消" in page and "已取消" in page and "取消预约</a>" not in page
    assert _api(client, make, world)[0]["status"] == "cancelled"
    assert booked_seats(app, windows) == 0
    again = client.post(f"{mine}/cancel", data={"csrf_token": _csrf(asked)}, headers=ZH)
    assert again.status_code == 409 and "不能再更改" in again.get_data(as_text=True)


def test_reschedule_moves_the_seat_after_a_confirmation(app, client, make, world, windows, mine):
    picker = client.get(f"{mine}/reschedule", headers=ZH).get_data(as_text=True)
    assert "当前预约时段" in picker
    assert f"slot={slot_of(windows)}" not in picker  # the current window is not offered
    target = slot_of(windows, windows.days[1], windows.afternoon)
    assert f"slot={target}" in picker
    asked = client.get(f"{mine}/reschedule?slot={target}", headers=ZH)
    assert asked.status_code == 200 and "14:00–17:30" in asked.get_data(as_text=True)
    assert _api(client, make, world)[0]["window_start"] == "09:00"  # asking changes nothing
    done = client.post(f"{mine}/reschedule", data={"csrf_token": _csrf(asked), "slot": target}, headers=ZH)
    assert done.status_code == 303 and done.headers["Location"].endswith("?done=moved")
    assert "已改到新的时间" in client.get(done.headers["Location"], headers=ZH).get_data(as_text=True)
    moved = _api(client, make, world)[0]
    assert (moved["day"], moved["window_start"]) == (windows.days[1].isoformat(), "14:00")
    assert booked_seats(app, windows) == 1


def test_inside_the_cutoff_changes_are_refused_in_words_and_change_nothing(app, client, windows, mine):
    token = _csrf(client.get(f"{mine}/cancel", headers=ZH))
    app.config["BOOKING_CUTOFF_HOURS"] = 24 * 60
    try:
        page = client.get(mine, headers=ZH).get_data(as_text=True)
        assert "请致电派出所" in page and "取消预约</a>" not in page
        before = database_state(app)
        for url, data in (
            (f"{mine}/cancel", {"csrf_token": token}),
            (f"{mine}/reschedule", {"csrf_token": token, "slot": slot_of(windows, windows.days[1])}),
        ):
            refused = client.post(url, data=data, headers=ZH)
            assert refused.status_code == 403 and "请致电派出所" in refused.get_data(as_text=True)
        asked = client.get(f"{mine}/cancel", headers=ZH)
        assert asked.status_code == 403 and "请致电派出所" in asked.get_data(as_text=True)
        assert changed_tables(before, database_state(app)) == []
    finally:
        app.config["BOOKING_CUTOFF_HOURS"] = 2


def test_a_full_window_sends_the_citizen_back_to_choose(app, client, windows, mine, booker):
    target = slot_of(windows, windows.days[1], windows.afternoon)
    asked = client.get(f"{mine}/reschedule?slot={target}", headers=ZH)
    for _ in range(2):
        booker.as_staff(day=windows.days[1], start=windows.afternoon)
    before = database_state(app)
    full = client.post(f"{mine}/reschedule", data={"csrf_token": _csrf(asked), "slot": target}, headers=ZH)
    assert full.status_code == 303
    again = client.get(full.headers["Location"], headers=ZH)
    assert again.status_code == 409 and "请另选" in again.get_data(as_text=True)
    assert changed_tables(before, database_state(app)) == []


def test_forms_without_their_token_change_nothing(app, client, windows, mine):
    before = database_state(app)
    for url, data in ((f"{mine}/cancel", {}), (f"{mine}/reschedule", {"slot": slot_of(windows, windows.days[1])})):
        assert client.post(url, data=data, headers=ZH).status_code in (400, 403)
        assert client.post(url, data={**data, "csrf_token": "forged"}, headers=ZH).status_code == 403
    assert changed_tables(before, database_state(app)) == []


def test_another_citizens_booking_cannot_be_seen_or_changed(app, client, sms, windows, booker):
    theirs = booker.as_citizen().json["id"]
    log_in(client, sms, mobile())
    assert theirs not in client.get("/m/bookings", headers=ZH).get_data(as_text=True)
    token = _csrf(client.get("/m/me", headers=ZH))
    before = database_state(app)
    for url in (f"/m/bookings/{theirs}/cancel", f"/m/bookings/{theirs}/reschedule"):
        assert client.get(url, headers=ZH).status_code == 404
    assert client.post(f"/m/bookings/{theirs}/cancel", data={"csrf_token": token}, headers=ZH).status_code == 404
    moved = client.post(
        f"/m/bookings/{theirs}/reschedule",
        data={"csrf_token": token, "slot": slot_of(windows, windows.days[1])},
        headers=ZH,
    )
    assert moved.status_code == 404 and moved.mimetype == "text/html"
    assert changed_tables(before, database_state(app)) == []
