"""The citizens' H5 on a 375×667 touch phone in Chinese: nothing leaves 127.0.0.1, no console error.
Screenshots go to ``build/screenshots/citizen/``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.harness import PHONE, ROOT, Watched, laid_out, phone_context

SHOTS = ROOT / "build" / "screenshots" / "citizen"


@pytest.fixture
def phone(browser, server) -> Iterator[Watched]:
    """A fresh phone browser (no cookies, touch, mobile viewport) that prefers Simplified Chinese."""
    with phone_context(browser, server.base) as watched:
        yield watched


def test_a_citizen_finds_the_station_and_areas_on_a_phone(phone, server):
    page = phone.page()
    page.goto(f"{server.base}/m/")
    assert page.locator("h1").inner_text() == "选择派出所"
    station = page.locator("details.station").first
    if station.get_attribute("open") is None:  # one station opens by itself
        station.locator("summary").tap()
    assert station.locator("ul.areas li").count() >= 1
    assert page.locator("section.prepare h2").inner_text() == "上门前请准备"
    laid_out(page)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the page scrolls sideways on a phone"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "directory-375x667.png"), full_page=True)


def test_a_citizen_asks_for_a_log_in_code_on_a_phone(phone, server):
    page = phone.page()
    page.goto(f"{server.base}/m/me")  # a page for citizens sends a stranger to log in
    assert page.locator("h1").inner_text() == "手机验证码登录"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "login-375x667.png"), full_page=True)
    page.locator("input[name=phone]").tap()
    page.keyboard.type("13912340077")
    page.locator("button[type=submit]").tap()
    assert page.locator("p.notice").inner_text() == "6 位验证码已发送到您的手机。"
    assert page.locator("input[name=code]").get_attribute("autocomplete") == "one-time-code"
    page.screenshot(path=str(SHOTS / "login-code-375x667.png"), full_page=True)
