"""What the browser tests share besides their fixtures: where things are, the two screen sizes,
and ``Watched``, a browser context that records every request to another host and every console
error. Imported by tests/browser/conftest.py and by the tests (never a conftest from a test)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "build" / "screenshots" / "console"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 667}


class Watched:
    """A browser context whose pages record every request to another host and every console error."""

    def __init__(self, context, base: str):
        self.context = context
        self.base = base
        self.foreign: list[str] = []
        self.errors: list[str] = []
        self.expected: list[str] = []
        context.route("**/*", self._route)
        context.on("page", self._watch)

    def _route(self, route):
        url = route.request.url
        if urlsplit(url).hostname not in ("127.0.0.1",):
            self.foreign.append(url)
            return route.abort()
        return route.continue_()

    def _watch(self, page):
        page.on("console", lambda msg: self.errors.append(f"{msg.type}: {msg.text}") if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def expect_status(self, status: int) -> None:
        """A refusal the test provokes: Chromium logs the page's status as an error; that one is expected."""
        self.expected.append(f"the server responded with a status of {status} ")

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(x in e for x in self.expected)]

    def page(self):
        return self.context.new_page()

    def shot(self, page, name: str, size=DESKTOP) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.set_viewport_size(size)
        path = SHOTS / f"{name}-{size['width']}x{size['height']}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


def log_in(page, server, username: str) -> None:
    """Log in on the console's form as one of the demo's accounts, and wait for the answer's page
    to load (the dashboard, or the form again with the reason it refused)."""
    page.goto(server.base + "/")
    page.fill("#username", username)
    page.fill("#password", server.passwords[username])
    page.click("button[type=submit]")
    page.wait_for_load_state()


def last_sms_code(log: Path, phone: str) -> str:
    """The six-digit code in the last text the console SMS sender logged to this phone (masked in
    the log as it is everywhere), once it is there."""
    masked = f"{phone[:3]}****{phone[-4:]}"
    codes: list[str] = []
    assert eventually(
        lambda: codes.extend(re.findall(rf"SMS to {re.escape(masked)}: [^\n]*?(\d{{6}})", log.read_text())) or codes,
        timeout=10,
    ), log.read_text()[-2000:]
    return codes[-1]
