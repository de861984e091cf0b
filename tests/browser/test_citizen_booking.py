"""Journeys 3 and 4 on a 375×667 touch phone in Chinese: log in by the code the console SMS
sender logged, book a visit, take the calendar file, move the visit, cancel it. Nothing leaves
127.0.0.1, no console error, no page scrolls sideways. Screenshots go to
``build/screenshots/citizen/``.

The code is read from the shared server's log, where the console SMS sender writes it; the walk
cancels what it booked, so the demo's calendar is as the other walks expect it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.harness import PHONE, ROOT, Watched, laid_out, last_sms_code

SHOTS = ROOT / "build" / "screenshots" / "citizen"
PHONE_NUMBER = "13912340188"


@pytest.fixture
def phone(browser, server) -> Iterator[Watched]:
    context = browser.new_context(
        locale="zh-CN",
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
        extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"},
        accept_downloads=True,
    )
    watched = Watched(context, server.base)
    yield watched
    context.close()
    assert watched.foreign == [], f"requests left 127.0.0.1: {watched.foreign}"
    assert watched.unexpected_errors() == [], f"console errors: {watched.errors}"


def _shot(page, name: str) -> None:
    laid_out(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], f"{name} scrolls sideways"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-375x667.png"), full_page=True)


def test_a_citizen_books_moves_and_cancels_a_visit_on_a_phone(phone, server):
    from playwright.sync_api import expect  # imported where used, as the browser fixture does

    page = phone.page()
    page.goto(f"{server.base}/m/book")  # from a link: log in first, then back here
    expect(page.locator("h1")).to_have_text("手机验证码登录")
    page.locator("input[name=phone]").tap()
    page.keyboard.type(PHONE_NUMBER)
    page.locator("button[type=submit]").tap()
    page.locator("input[name=code]").tap()
    page.keyboard.type(last_sms_code(server.log, PHONE_NUMBER))
    page.locator("form button[type=submit]").first.tap()

    expect(page.locator("h1")).to_have_text("您住在哪里？")
    station = page.locator("details.station").first
    if station.get_attribute("open") is None:
        station.locator("summary").tap()
    _shot(page, "book-area")
    station.locator("ul.picks a").first.tap()
    expect(page.locator("h1")).to_have_text("选择上门时间")
    first = page.locator("ul.windows a").first
    assert "剩余" in first.inner_text()
    laid_out(page)
    assert first.bounding_box()["height"] >= 48  # a thumb's target
    _shot(page, "book-window")
    first.tap()

    expect(page.locator("h1")).to_have_text("上门地址")
    page.locator("input[name=address]").fill("北山街道12号3单元402")
    page.locator("input[name=contact_name]").fill("李娜")
    page.locator("textarea[name=notes]").fill("请按门铃")
    _shot(page, "book-details")
    page.locator("button[type=submit]").tap()
    expect(page.locator("h1")).to_have_text("核对并确认")
    _shot(page, "book-review")
    page.locator("button[type=submit]").first.tap()

    expect(page.locator("p.notice").first).to_contain_text("预约成功")
    shown = page.locator("p.reference strong").inner_text()
    assert re.fullmatch(r"[2-9A-HJ-NP-Z]{3}-[2-9A-HJ-NP-Z]{3}-[2-9A-HJ-NP-Z]{3}", shown)
    _shot(page, "booking")
    with page.expect_download() as download:
        page.locator("a[download]").tap()
    ics = Path(download.value.path()).read_bytes()
    assert ics.startswith(b"BEGIN:VCALENDAR\r\n") and b"DTSTART;TZID=Asia/Shanghai:" in ics

    page.get_by_text("更改时间").tap()
    expect(page.locator("h1")).to_have_text("更改时间")
    _shot(page, "reschedule")
    page.locator("ul.windows a").nth(1).tap()
    expect(page.locator("h1")).to_have_text("确定改到这个时间吗？")
    page.locator("button[type=submit]").tap()
    expect(page.locator("p.notice").first).to_have_text("预约已改到新的时间。")

    page.get_by_text("取消预约").tap()
    expect(page.locator("h1")).to_have_text("确定取消这个预约吗？")
    _shot(page, "cancel")
    page.locator("button[type=submit]").tap()
    expect(page.locator("p.notice").first).to_have_text("预约已取消。")

    page.get_by_text("我的预约").tap()
    expect(page.locator("h1")).to_have_text("我的预约")
    assert page.locator("ul.bookings li").count() == 1
    assert "已取消" in page.locator("ul.bookings li").first.inner_text()
    _shot(page, "my-bookings")
