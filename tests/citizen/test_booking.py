"""Journey 3, book a visit: area → a half-day window with its free places → address and note →
confirm, through the API's own booking service; the checksummed reference (shown, returned by the
API, a typo caught) and the ``.ics`` file; only one's own bookings; nothing without the form token."""

from __future__ import annotations

import gzip
import re

import sqlalchemy as sa

from app.extensions import db
from app.notify.models import Notification
from appointments.booking import reference
from appointments.booking.models import Booking
from appointments.windows.models import Slot
from tests.citizen.test_login import ZH, log_in
from tests.factories import mobile
from tests.snapshots import changed_tables, database_state

CODE = re.compile(r"[2-9A-HJ-NP-Z]{3}-[2-9A-HJ-NP-Z]{3}-[2-9A-HJ-NP-Z]{3}")


def csrf_of(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def hidden_fields(page) -> dict[str, str]:
    """The confirmation form's fields, as the browser would send them."""
    form = page.get_data(as_text=True).split('action="/m/book"', 1)[1].split("</form>", 1)[0]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))


def slot_of(windows, day=None, start=None) -> str:
    return f"{(day or windows.days[0]).isoformat()}_{(start or windows.morning).strftime('%H:%M')}"


def details(**overrides) -> dict[str, str]:
    return {
        "purpose": "registration",
        "address": "北山街道12号3单元402",
        "contact_name": "李娜",
        "contact_phone": "",
        "notes": "请按门铃; 狗不咬人, 放心",
        **overrides,
    }


def review(client, windows, **overrides):
    page = client.get(f"/m/book?area={windows.area.id}&slot={slot_of(windows)}", headers=ZH)
    assert page.status_code == 200, page.get_data(as_text=True)
    form = {"csrf_token": csrf_of(page), "area": str(windows.area.id), "slot": slot_of(windows), **details(**overrides)}
    return client.post("/m/book/review", data=form, headers=ZH)


def book(client, windows, **overrides):
    """The whole journey after log-in; returns the confirmation's response (a redirect)."""
    checked = review(client, windows, **overrides)
    assert checked.status_code == 200, checked.get_data(as_text=True)
    return client.post("/m/book", data=hidden_fields(checked), headers=ZH)


def booked_seats(app, windows) -> int:
    with app.app_context():
        return db.session.execute(
            sa.select(sa.func.coalesce(sa.func.sum(Slot.booked), 0)).where(Slot.area_id == windows.area.id)
        ).scalar()


def test_a_citizen_books_step_by_step_and_gets_a_reference(app, client, make, sms, world, windows):
    log_in(client, sms, world.citizen.phone)
    areas = client.get("/m/book", headers=ZH).get_data(as_text=True)
    assert f"/m/book?area={windows.area.id}" in areas and "测试社区" in areas
    times = client.get(f"/m/book?area={windows.area.id}", headers=ZH).get_data(as_text=True)
    assert "09:00–12:00" in times and "剩余 3 个名额" in times and "剩余 2 个名额" in times
    assert f"slot={slot_of(windows)}" in times
    checked = review(client, windows)
    summary = checked.get_data(as_text=True)
    assert "确认预约" in summary and "北山街道12号3单元402" in summary
    assert f"{world.citizen.phone[:3]}****{world.citizen.phone[-4:]}" in summary and world.citizen.phone not in summary
    assert booked_seats(app, windows) == 0  # the confirmation step writes nothing
    done = client.post("/m/book", data=hidden_fields(checked), headers=ZH)
    assert done.status_code == 303 and "/m/bookings/" in done.headers["Location"]
    page = client.get(done.headers["Location"], headers=ZH).get_data(as_text=True)
    shown = CODE.search(page).group(0)
    assert "预约成功" in page and "预约编号" in page and "尚未派警" in page
    mine = client.get("/api/v1/bookings", headers=make.auth(world.citizen)).json
    assert len(mine) == 1 and mine[0]["channel"] == "mini_program"
    assert mine[0]["reference_code"] == shown.replace("-", "") == reference.with_check(mine[0]["reference"])
    assert mine[0]["contact_phone"].endswith(world.citizen.phone[-4:])  # empty: the account's number
    assert mine[0]["notes"] == "请按门铃; 狗不咬人, 放心"
    with app.app_context():  # the confirmation SMS says the reference as the page does
        sent = db.session.execute(sa.select(Notification).where(Notification.kind == "booking_confirmed")).scalar_one()
        assert sent.params["reference"] == shown
    again = client.post("/m/book", data=hidden_fields(checked), headers=ZH)  # a double tap
    assert again.headers["Location"] == done.headers["Location"]
    assert booked_seats(app, windows) == 1


def test_the_reference_round_trips_and_a_typo_is_caught(client, make, sms, world, windows):
    log_in(client, sms, world.citizen.phone)
    book(client, windows)
    headers = make.auth(world.citizen)
    stored = client.get("/api/v1/bookings", headers=headers).json[0]["reference"]
    shown = reference.display(stored)
    assert reference.parse(shown) == reference.parse(shown.lower().replace("-", " ")) == stored
    found = client.get(f"/api/v1/bookings?reference={shown}", headers=headers).json
    assert [b["reference"] for b in found] == [stored]
    code = reference.with_check(stored)
    typo = code[:3] + next(c for c in reference.ALPHABET if c != code[3]) + code[4:]
    refused = client.get(f"/api/v1/bookings?reference={typo}", headers=headers)
    assert refused.status_code == 422 and "reference" in refused.json["errors"]
    # two neighbours swapped: caught for every pair but "2"/"Z" (decision 87), so not a chance test
    i = next(i for i in range(8) if code[i] != code[i + 1] and {code[i], code[i + 1]} != {"2", "Z"})
    swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
    assert client.get(f"/api/v1/bookings?reference={swapped}", headers=headers).status_code == 422


def test_every_single_typo_is_detected():
    code = reference.with_check("7KQ2MX9P")
    for i in range(len(code)):
        for char in reference.ALPHABET.replace(code[i], ""):
            typo = code[:i] + char + code[i + 1 :]
            try:
                reference.parse(typo)
            except reference.InvalidReference:
                continue
            raise AssertionError(f"{typo} passed for {code}")


def _unfold(raw: bytes) -> list[str]:
    return raw.decode().replace("\r\n ", "").split("\r\n")


def test_the_calendar_file_is_an_rfc_5545_event_in_local_time(client, sms, world, windows):
    log_in(client, sms, world.citizen.phone)
    page = book(client, windows, notes="带上\n租房合同, 房产证; 谢谢\\")
    ics = client.get(page.headers["Location"].split("?")[0] + "/booking.ics", headers=ZH)
    assert ics.status_code == 200 and ics.mimetype == "text/calendar"
    assert "attachment" in ics.headers["Content-Disposition"]
    raw = ics.get_data()
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))
    lines = _unfold(raw)[:-1]
    stack = []
    for line in lines:
        name, _, value = line.partition(":")
        assert re.match(r"^[A-Z-]+(;[A-Z-]+=[^:;]+)*$", name), line
        if name == "BEGIN":
            stack.append(value)
        elif name == "END":
            assert stack.pop() == value
    assert stack == [] and lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR"
    props = dict(line.split(":", 1) for line in lines)
    assert props["VERSION"] == "2.0" and props["PRODID"]
    assert props["TZID"] == "Asia/Shanghai" and props["TZOFFSETTO"] == "+0800"
    day = windows.days[0].strftime("%Y%m%d")
    assert props["DTSTART;TZID=Asia/Shanghai"] == f"{day}T090000"
    assert props["DTEND;TZID=Asia/Shanghai"] == f"{day}T120000"
    assert re.match(r"^booking-[0-9a-f-]{36}@", props["UID"]) and re.match(r"^\d{8}T\d{6}Z$", props["DTSTAMP"])
    assert props["STATUS"] == "CONFIRMED" and "上门" in props["SUMMARY"]
    assert props["LOCATION"] == "北山街道12号3单元402"
    description = props["DESCRIPTION"]
    assert CODE.search(description) and description.endswith("带上\\n租房合同\\, 房产证\\; 谢谢\\\\")


def test_a_citizen_sees_only_their_own_booking(client, make, sms, world, windows, booker):
    theirs = booker.as_citizen().json["id"]
    log_in(client, sms, mobile())
    for url in (f"/m/bookings/{theirs}", f"/m/bookings/{theirs}/booking.ics"):
        page = client.get(url, headers=ZH)
        assert page.status_code == 404 and page.mimetype == "text/html"
        assert theirs not in page.get_data(as_text=True)


def test_a_form_without_its_token_books_nothing(app, client, sms, world, windows):
    log_in(client, sms, world.citizen.phone)
    checked = review(client, windows)
    before = database_state(app)
    forged = {**hidden_fields(checked), "csrf_token": "forged"}
    refused = client.post("/m/book", data=forged, headers=ZH)
    assert refused.status_code == 403 and "text/html" in refused.content_type
    missing = {k: v for k, v in hidden_fields(checked).items() if k != "csrf_token"}
    assert client.post("/m/book", data=missing, headers=ZH).status_code in (400, 403)
    assert changed_tables(before, database_state(app)) == []


def test_refusals_are_shown_in_words_next_to_the_form(app, client, sms, world, windows):
    log_in(client, sms, world.citizen.phone)
    empty = review(client, windows, address="")
    assert empty.status_code == 422 and 'class="field-error"' in empty.get_data(as_text=True)
    typo = review(client, windows, contact_phone="1381234")
    assert typo.status_code == 422 and "这不是有效的大陆手机号" in typo.get_data(as_text=True)
    assert 'value="1381234"' in typo.get_data(as_text=True)  # what was typed stays, to be corrected
    assert book(client, windows).status_code == 303
    second = book(client, windows)  # the API's one-open-booking-per-purpose rule
    assert second.status_code == 409
    assert "我的预约" in second.get_data(as_text=True)
    assert booked_seats(app, windows) == 1


def test_a_full_window_is_not_offered(app, client, sms, world, windows, booker):
    for _ in range(3):
        booker.as_staff()
    log_in(client, sms, world.citizen.phone)
    times = client.get(f"/m/book?area={windows.area.id}", headers=ZH).get_data(as_text=True)
    assert f"slot={slot_of(windows)}" not in times and "已约满" in times
    gone = client.get(f"/m/book?area={windows.area.id}&slot={slot_of(windows)}", headers=ZH)
    assert gone.status_code == 409 and "请另选" in gone.get_data(as_text=True)


def test_the_booking_pages_weigh_under_100_kb_compressed(client, sms, world, windows):
    log_in(client, sms, world.citizen.phone)
    for url in (f"/m/book?area={windows.area.id}", book(client, windows).headers["Location"]):
        html = client.get(url, headers=ZH).get_data()
        total = len(gzip.compress(html))
        for asset in re.findall(rb'(?:href|src)="(/[^"]+\.(?:css|js|svg))"', html):
            fetched = client.get(asset.decode())
            assert fetched.status_code == 200, asset
            total += len(gzip.compress(fetched.get_data()))
        print(f"\n{url.split('?')[0]} with its assets: {total / 1024:.1f} kB gzip-compressed")
        assert total < 100 * 1024


def test_an_unknown_area_is_a_page_in_words(client, sms, world):
    log_in(client, sms, world.citizen.phone)
    page = client.get("/m/book?area=not-an-area", headers=ZH)
    assert page.status_code == 404 and page.mimetype == "text/html"
    with client.application.app_context():
        assert db.session.execute(sa.select(sa.func.count(Booking.id))).scalar() == 0
