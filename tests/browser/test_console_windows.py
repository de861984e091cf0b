"""The windows and holidays page in a real browser, on the demo's day: a clerk declares the first
working day with bookings a holiday, sees before saving which windows disappear and whose
bookings are left in them (an htmx partial, no page load), saves, and withdraws it again so the
demo's calendar is as it was."""

from __future__ import annotations

from datetime import timedelta

from app import clock
from app.workdays.services import published
from tests.browser.harness import DESKTOP, PHONE, log_in


def test_a_clerk_previews_a_holiday_and_saves_it(console, server):
    from playwright.sync_api import expect  # imported where used, as the browser fixture does

    today = clock.today()
    # the demo books its first visits on the first working day ahead (the app's own calendar: the
    # official one where published, the weekday rule for a year not yet published)
    day = next(d for d in (today + timedelta(days=k) for k in range(1, 15)) if published(d).is_workday)
    page = console.page()
    log_in(page, server, "demo.staff")
    page.click("nav >> text=窗口")
    assert page.locator("h1").inner_text() == "窗口与节假日"
    assert page.locator("#weekly input[name=start-0]").input_value() == "09:00"
    console.shot(page, "windows")
    console.shot(page, "windows", PHONE)
    page.set_viewport_size(DESKTOP)

    url = page.url
    page.fill("#cal-day", day.isoformat())
    page.fill("#cal-name", "临时闭所")
    page.click("#calendar button:has-text('预览变动')")
    preview = page.locator("#calendar .preview")
    preview.wait_for()
    assert page.url == url  # a partial swapped in, no navigation
    text = preview.inner_text()
    assert "消失" in text and "受影响的预约" in text
    assert preview.locator("table").nth(1).locator("tbody tr").count() >= 1  # the demo's bookings that day
    preview.scroll_into_view_if_needed()
    console.shot(page, "windows-holiday-preview")
    console.shot(page, "windows-holiday-preview", PHONE)
    page.set_viewport_size(DESKTOP)

    preview.locator("button:has-text('保存日历日')").click()
    expect(page.locator("main")).to_contain_text("日历日已保存")
    row = page.locator("#calendar tr", has_text="临时闭所")
    assert row.count() == 1 and "节假日" in row.inner_text()
    console.shot(page, "windows-holiday-saved")

    row.locator("button:has-text('撤销')").click()
    page.locator("#calendar .preview").wait_for()
    assert "新增" in page.locator("#calendar .preview").inner_text()  # the windows come back
    page.click("#calendar .preview button:has-text('撤销声明')")
    expect(page.locator("main")).to_contain_text("声明已撤销")
    expect(page.locator("#calendar tr", has_text="临时闭所")).to_have_count(0)
