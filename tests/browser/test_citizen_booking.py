"""Journeys 3 and 4 on a 375×667 touch phone in Chinese: log in by the code the console SMS
sender logged, book a visit, take the calendar file, move the visit, cancel it. Nothing leaves
127.0.0.1, no console error, no page scrolls sideways. Screenshots go to
``build/screenshots/citizen/``.

The suite's shared server logs at WARNING, which hides the SMS sender's lines; this walk starts a
server of its own (the same demo seed and clock) that logs them, and reads the code from there."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.harness import PHONE, ROOT, Watched
from tests.fixtures.clock import clock_env
from tests.waiting import eventually

SHOTS = ROOT / "build" / "screenshots" / "citizen"
PHONE_NUMBER = "13912340188"


class SmsServer:
    def __init__(self, base: str, log: Path):
        self.base, self.log = base, log

    def last_code(self, phone: str) -> str:
        masked = f"{phone[:3]}****{phone[-4:]}"
        codes: list[str] = []
        assert eventually(
            lambda: (
                codes.extend(re.findall(rf"SMS to {re.escape(masked)}: [^\n]*?(\d{{6}})", self.log.read_text()))
                or codes
            ),
            timeout=10,
        ), self.log.read_text()[-2000:]
        return codes[-1]


def _ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def sms_server() -> Iterator[SmsServer]:
    with tempfile.TemporaryDirectory(prefix="doorstep-citizen-") as tmp:
        env = clock_env(
            {
                **os.environ,
                "DOORSTEP_ENV": "development",
                "DOORSTEP_DATABASE_URL": f"sqlite:///{tmp}/citizen.sqlite3",
                "DOORSTEP_BLOB_DIR": f"{tmp}/blobs",
                "DOORSTEP_SCHEDULER_IN_PROCESS": "0",
                "DOORSTEP_LOG_LEVEL": "INFO",
                "DOORSTEP_SMS_SENDER": "console",
                "PYTHONPATH": str(ROOT),
            }
        )
        for args in (("db", "upgrade"), ("seed-demo",)):
            done = subprocess.run(
                [sys.executable, "-m", "flask", "--app", "wsgi", *args],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            assert done.returncode == 0, done.stdout + done.stderr
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        base, log = f"http://127.0.0.1:{port}", Path(tmp) / "app.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "run", "--host", "127.0.0.1", "--port", str(port)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            try:
                assert (
                    eventually(lambda: proc.poll() is not None or _ready(base), timeout=60) and proc.poll() is None
                ), log.read_text()
                yield SmsServer(base, log)
            finally:
                proc.terminate()
                proc.wait(timeout=20)


@pytest.fixture
def phone(browser, sms_server) -> Iterator[Watched]:
    context = browser.new_context(
        locale="zh-CN",
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
        extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"},
        accept_downloads=True,
    )
    watched = Watched(context, sms_server.base)
    yield watched
    context.close()
    assert watched.foreign == [], f"requests left 127.0.0.1: {watched.foreign}"
    assert watched.unexpected_errors() == [], f"console errors: {watched.errors}"


def _shot(page, name: str) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], f"{name} scrolls sideways"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-375x667.png"), full_page=True)


def test_a_citizen_books_moves_and_cancels_a_visit_on_a_phone(phone, sms_server):
    from playwright.sync_api import expect  # imported where used, as the browser fixture does

    page = phone.page()
    page.goto(f"{sms_server.base}/m/book")  # from a link: log in first, then back here
    expect(page.locator("h1")).to_have_text("手机验证码登录")
    page.locator("input[name=phone]").tap()
    page.keyboard.type(PHONE_NUMBER)
    page.locator("button[type=submit]").tap()
    page.locator("input[name=code]").tap()
    page.keyboard.type(sms_server.last_code(PHONE_NUMBER))
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
