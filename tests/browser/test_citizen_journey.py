"""Issue 19's walk, end to end, on a 375×667 touch phone in Chinese: a staff phone booking texts the
citizen a link; the citizen opens it, logs in by the code the console SMS sender logged and lands
back on that booking, books another visit, moves it, applies for the residence permit with a
photo the page shrinks, checks the booking's progress by reference and code, and rates the first
visit once the officer has completed it.

Fails on any request leaving 127.0.0.1, any console error, a page that scrolls sideways, or a page
over the budget (``PAGE_BUDGET``: the document and the CSS/JS it loads, gzip-compressed; each
page's figures are printed). Screenshots go to ``build/screenshots/citizen/``. The station's side
goes through the server's own API, as the console and the tablet would send it."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from dateutil.relativedelta import relativedelta
from PIL import Image, ImageDraw

from app import clock
from tests.browser.harness import (
    PAGE_BUDGET,
    PHONE,
    ROOT,
    LoggedServer,
    Watched,
    laid_out,
    logged_server,
    phone_context,
)
from tests.browser.station_api import StationApi
from tests.factories import valid_identity

SHOTS = ROOT / "build" / "screenshots" / "citizen"
CITIZEN = "13700001234"  # the demo's citizen account (compose/seed_demo.py), so the phone booking is theirs
AT_HOME = "13912340277"  # the person at home, the contact given with the citizen's own booking
REFERENCE = re.compile(r"[2-9A-HJ-NP-Z]{3}-[2-9A-HJ-NP-Z]{3}-[2-9A-HJ-NP-Z]{3}")


@pytest.fixture(scope="module")
def sms_server() -> Iterator[LoggedServer]:
    with logged_server("journey") as server:
        yield server


@pytest.fixture
def phone(browser, sms_server) -> Iterator[Watched]:
    with phone_context(browser, sms_server.base) as watched:
        yield watched


def _today() -> date:
    return clock.now().astimezone(clock.LOCAL_TZ).date()


def _phone_booking(station: StationApi) -> dict:
    """What the station's clerk does when the citizen rings: a visit in the officer's area, booked
    under the caller's number (so it is the caller's own, decision 85), at the first free window."""
    area = station.officer_area()
    first, last = _today(), _today() + timedelta(days=13)
    days = station.ok("demo.staff", "GET", f"/api/v1/slots?area_id={area['id']}&from={first}&to={last}")
    day, window = next((d, w) for d in days for w in d["windows"] if w["bookable"])
    return station.ok(
        "demo.staff",
        "POST",
        "/api/v1/bookings",
        {
            "purpose": "registration",
            "area_id": area["id"],
            "day": day["day"],
            "window_start": window["start"],
            "address": "北山街道8号2单元301",
            "contact_name": "周海燕",
            "contact_phone": CITIZEN,
            "caller_name": "周海燕",
            "caller_phone": CITIZEN,
        },
        {"Idempotency-Key": f"journey-{uuid.uuid4().hex}"},
    )


def _registered_seven_months_ago(station: StationApi) -> str:
    """The citizen's residence, registered at the door by the officer seven months back; returns
    the identity number the application asks for."""
    identity = valid_identity(region="110105", born="19880214")
    station.ok(
        "demo.officer",
        "POST",
        "/api/v1/registrations",
        {
            "area_id": station.officer_area()["id"],
            "address": "北山街道8号2单元301",
            "start_date": (_today() - relativedelta(months=7)).isoformat(),
            "reason": "work",
            "housing": "rented",
            "landlord_name": "陈房东",
            "landlord_phone": "13812345678",
            "resident": {"name": "周海燕", "sex": "female", "identity_number": identity, "phone": CITIZEN},
        },
    )
    return identity


def _complete(station: StationApi, visit_id: str) -> None:
    """The officer's day: staff assign the visit, the officer records it done at the door."""
    officer = station.ok("demo.officer", "GET", "/api/v1/me")
    url = f"/api/v1/visits/{visit_id}"
    station.ok(
        "demo.staff",
        "POST",
        f"{url}/assign",
        {"officer_id": officer["id"]},
        {"If-Match": station.etag("demo.staff", url)},
    )
    station.ok(
        "demo.officer",
        "POST",
        f"{url}/outcome",
        {"outcome": "completed"},
        {"If-Match": station.etag("demo.officer", url)},
    )


def _camera_photo() -> bytes:
    """A 3000×2000 JPEG, the size of a phone camera's picture, which the page must shrink."""
    picture = Image.new("RGB", (3000, 2000), (236, 240, 244))
    ImageDraw.Draw(picture).rectangle((400, 300, 2600, 1700), outline=(30, 60, 120), width=40)
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=92)
    return out.getvalue()


def _seen(phone: Watched, page, name: str) -> None:
    """Every page of the walk: no sideways scroll, within the budget (figures printed), a screenshot."""
    laid_out(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], f"{name} scrolls sideways"
    weights = phone.weigh(page)
    total = sum(weights.values())
    print(f"{name:<14} {total / 1024:6.1f} kB gzip  " + "  ".join(f"{k} {v / 1024:.1f}" for k, v in weights.items()))
    assert total <= PAGE_BUDGET, f"{name} weighs {total} bytes gzip: {weights}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"journey-{name}-375x667.png"), full_page=True)


def test_a_citizen_goes_from_a_text_message_to_a_rated_visit_on_a_phone(phone, sms_server):
    from playwright.sync_api import expect  # imported where used, as the browser fixture does

    station = StationApi(sms_server.base, sms_server.passwords)
    rang = _phone_booking(station)
    identity = _registered_seven_months_ago(station)
    sms_server.send_queued_texts()
    link = sms_server.last_link(CITIZEN)

    # The text's link: the booking without its address, and a log-in that comes back to it.
    page = phone.page()
    page.goto(sms_server.base + link)
    expect(page.locator("p.reference strong")).to_have_text(REFERENCE)
    _seen(phone, page, "link")
    page.get_by_text("登录后改约或取消").tap()
    expect(page.locator("h1")).to_have_text("手机验证码登录")
    page.locator("input[name=phone]").tap()
    page.keyboard.type(CITIZEN)
    page.locator("button[type=submit]").tap()
    page.locator("input[name=code]").tap()
    page.keyboard.type(sms_server.new_code(CITIZEN))
    _seen(phone, page, "login-code")
    page.locator("form button[type=submit]").first.tap()
    expect(page).to_have_url(re.compile(rf"/m/bookings/{rang['id']}$"))
    expect(page.locator("dl.summary")).to_contain_text("北山街道8号2单元301")
    _seen(phone, page, "phone-booking")

    # Another visit, for the permit application, with the person at home as the contact.
    page.goto(f"{sms_server.base}/m/book")
    station_row = page.locator("details.station").first
    if station_row.get_attribute("open") is None:
        station_row.locator("summary").tap()
    station_row.locator("ul.picks a").first.tap()
    expect(page.locator("h1")).to_have_text("选择上门时间")
    page.locator("ul.windows a").first.tap()
    expect(page.locator("h1")).to_have_text("上门地址")
    page.locator("select[name=purpose]").select_option("permit_application")
    page.locator("input[name=address]").fill("北山街道12号3单元402")
    page.locator("input[name=contact_name]").fill("李娜")
    page.locator("input[name=contact_phone]").fill(AT_HOME)
    _seen(phone, page, "book-details")
    page.locator("button[type=submit]").tap()
    expect(page.locator("h1")).to_have_text("核对并确认")
    page.locator("button[type=submit]").first.tap()
    expect(page.locator("p.notice").first).to_contain_text("预约成功")
    booked = page.locator("p.reference strong").inner_text()
    assert REFERENCE.fullmatch(booked)

    # Moved to another window.
    page.get_by_text("更改时间").tap()
    expect(page.locator("h1")).to_have_text("更改时间")
    _seen(phone, page, "reschedule")
    page.locator("ul.windows a").nth(1).tap()
    expect(page.locator("h1")).to_have_text("确定改到这个时间吗？")
    page.locator("button[type=submit]").tap()
    expect(page.locator("p.notice").first).to_have_text("预约已改到新的时间。")
    _seen(phone, page, "rescheduled")

    # The permit: a camera-sized photo, shrunk in the page before it is sent.
    page.goto(f"{sms_server.base}/m/apply")
    page.locator("input[name=identity_number]").fill(identity)
    page.get_by_text("下一步：材料").tap()
    expect(page.locator("h1")).to_have_text("申请材料")
    photo = _camera_photo()
    for kind in ("identity_card", "rental_contract"):
        page.locator(f"input[type=file][data-kind={kind}]").set_input_files(
            {"name": f"{kind}.jpg", "mimeType": "image/jpeg", "buffer": photo}
        )
        status = page.locator(f"#status-{kind}")
        expect(status.locator("img.thumb")).to_be_visible(timeout=15_000)
        shown = status.inner_text()
        before, after = re.findall(r"([\d.]+) (kB|MB)", shown)
        assert before != after, shown
    _seen(phone, page, "apply-photos")
    page.locator("form[data-apply] button[type=submit]").tap()
    expect(page.locator("p.notice").first).to_have_text("您的申请已提交。")
    expect(page.locator("h1")).to_have_text("居住证申领")
    _seen(phone, page, "application")

    # Progress, as the person at home would check it: the reference and a code, no log-in.
    page.goto(f"{sms_server.base}/m/progress")
    page.locator("input[name=reference]").fill(booked)
    page.get_by_text("获取验证码").tap()
    page.locator("input[name=code]").tap()
    page.keyboard.type(sms_server.new_code(AT_HOME))
    page.get_by_text("查看进度").tap()
    expect(page.locator("section.progress .reference")).to_have_text(booked)
    expect(page.locator("section.progress .now")).to_contain_text("已改期")
    expect(page.locator("ol.steps-done li")).to_have_count(2)  # booked, then moved
    _seen(phone, page, "progress")

    # The officer has been; the citizen rates the visit, once.
    _complete(station, rang["visit_id"])
    page.goto(f"{sms_server.base}/m/ratings")
    expect(page.locator("h1")).to_have_text("评价上门服务（好差评）")
    _seen(phone, page, "ratings")
    page.locator(f"a[href$='/m/ratings/{rang['visit_id']}']").tap()
    expect(page.locator("h1")).to_have_text("评价上门服务")
    page.locator("input[name=stars][value='5']").tap()
    page.locator("textarea[name=comment]").fill("民警很耐心")
    _seen(phone, page, "rate")
    page.get_by_text("提交评价").tap()
    expect(page.locator("p.notice").first).to_have_text("感谢您的评价。")
    _seen(phone, page, "rated")
