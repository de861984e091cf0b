"""What the browser tests share besides their fixtures: where things are, the two screen sizes,
``Watched``, a browser context that records every request to another host and every console
error, ``logged_server``, a server of a test's own whose log shows the SMS the console sender
"sent", and ``page_weight``, what a page costs a phone to load. Imported by
tests/browser/conftest.py and by the tests (never a conftest from a test)."""

from __future__ import annotations

import gzip
import os
import re
import socket
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from tests.fixtures.clock import clock_env
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "build" / "screenshots" / "console"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 667}
PAGE_BUDGET = 100 * 1024  # gzip bytes of a citizen page: the document and the CSS/JS it loads


class Watched:
    """A browser context whose pages record every request to another host and every console error."""

    def __init__(self, context, base: str):
        self.context = context
        self.base = base
        self.foreign: list[str] = []
        self.errors: list[str] = []
        self.expected: list[str] = []
        self.documents: dict = {}  # page → the response its current document came in
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
        page.on("response", lambda r: self._document(page, r))

    def _document(self, page, response) -> None:
        if response.request.resource_type == "document" and response.frame == page.main_frame:
            self.documents[page] = response

    def weigh(self, page) -> dict[str, int]:
        """``page_weight`` of what the page shows now: its document as the server sent it (the DOM
        when the browser no longer holds the body)."""
        response = self.documents.get(page)
        try:
            document = response.body() if response is not None and response.status < 300 else None
        except Exception:  # Playwright's Error: the browser let go of the body
            document = None
        return page_weight(page, document if document is not None else page.content().encode())

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


def laid_out(page) -> None:
    """Wait for the page's load event, which waits for its stylesheets. A locator finds a page's
    text as soon as the document is parsed, while its CSS may still be on its way on a busy
    machine: a size or width read then is the unstyled page's (a 24-px link where the styled one
    is 56)."""
    page.wait_for_load_state("load")


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


# -- a server of one's own, logging the SMS texts --------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


class LoggedServer:
    """The demo on a port of its own, logging at INFO with the console SMS sender, so that the
    codes and links a phone would receive can be read from its log (and from the scheduler's,
    which sends the queued texts)."""

    def __init__(self, base: str, log: Path, env: dict, passwords: dict[str, str]):
        self.base, self.log, self.env, self.passwords = base, log, env, passwords
        self.scheduler_log = ""
        self._codes_read: dict[str, int] = {}

    def flask(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr

    def send_queued_texts(self) -> None:
        """What the scheduler does every few seconds: send the outbox (texts such as the booking
        confirmation are queued by the request that books, not sent by it)."""
        self.scheduler_log += self.flask("scheduler", "--once")

    def texts_to(self, phone: str) -> list[str]:
        masked = f"{phone[:3]}****{phone[-4:]}"
        logged = self.log.read_text() + self.scheduler_log
        return re.findall(rf"SMS to {re.escape(masked)}: ([^\n]*)", logged)

    def new_code(self, phone: str) -> str:
        """The one-time code of the newest log-in text to ``phone`` not read yet, waiting for it:
        a code asked for a moment ago may not be in the log yet, and an older one is spent."""
        read = self._codes_read.get(phone, 0)
        codes: list[str] = []

        def arrived() -> bool:
            codes[:] = [c for text in self.texts_to(phone) for c in re.findall(r"(?:验证码是|code is )(\d{6})", text)]
            return len(codes) > read

        assert eventually(arrived, timeout=10), self.log.read_text()[-2000:]
        self._codes_read[phone] = len(codes)
        return codes[-1]

    def last_link(self, phone: str) -> str:
        """The path of the ``/s/<token>`` link in the newest text to ``phone`` that has one."""
        links = [m.group(1) for text in self.texts_to(phone) for m in re.finditer(r"https?://[^/\s]+(/s/\w+)", text)]
        assert links, self.scheduler_log[-2000:]
        return links[-1]


@contextmanager
def logged_server(prefix: str) -> Iterator[LoggedServer]:
    """A migrated, demo-seeded server at INFO on a free port, whose public URL (the one SMS links
    point at) is its own address; stopped on leaving. For a walk that changes the demo in ways the
    walks on the shared server would see (visits completed, residents registered, texts sent)."""
    with tempfile.TemporaryDirectory(prefix=f"doorstep-{prefix}-") as tmp:
        port = free_port()
        base, log = f"http://127.0.0.1:{port}", Path(tmp) / "app.log"
        env = clock_env(
            {
                **os.environ,
                "DOORSTEP_ENV": "development",
                "DOORSTEP_DATABASE_URL": f"sqlite:///{tmp}/{prefix}.sqlite3",
                "DOORSTEP_BLOB_DIR": f"{tmp}/blobs",
                "DOORSTEP_SCHEDULER_IN_PROCESS": "0",
                "DOORSTEP_LOG_LEVEL": "INFO",
                "DOORSTEP_SMS_SENDER": "console",
                "DOORSTEP_PUBLIC_URL": base,
                "DOORSTEP_QUIET_HOURS": "off",  # the walk runs at any hour; its texts must go
                "PYTHONPATH": str(ROOT),
            }
        )
        server = LoggedServer(base, log, env, {})
        server.flask("db", "upgrade")
        seeded = server.flask("seed-demo")
        server.passwords.update(
            {m.group(1): m.group(2) for m in re.finditer(r"^\s+\w+\s+(demo\.\w+)\s+(\S+)$", seeded, re.M)}
        )
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "run", "--host", "127.0.0.1", "--port", str(port)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            try:
                assert eventually(lambda: proc.poll() is not None or ready(base), timeout=60) and proc.poll() is None, (
                    log.read_text()
                )
                yield server
            finally:
                proc.terminate()
                proc.wait(timeout=20)


# -- page weight -------------------------------------------------------------------------------------


def page_weight(page, document: bytes) -> dict[str, int]:
    """Gzip bytes of the page as a phone loads it: ``document`` (the HTML as the server sent it)
    and each stylesheet and script the page names, fetched with the page's own cookies and
    compressed here (level 6, as a proxy in front of the app would)."""
    weights = {"document": len(gzip.compress(document, 6))}
    assets = page.evaluate(
        "() => [...document.querySelectorAll('link[rel=stylesheet][href], script[src]')].map(e => e.href || e.src)"
    )
    for url in dict.fromkeys(assets):
        got = page.request.get(url)
        assert got.ok, (url, got.status)
        weights[urlsplit(url).path] = len(gzip.compress(got.body(), 6))
    return weights


@contextmanager
def phone_context(browser, base: str) -> Iterator[Watched]:
    """A fresh phone browser (no cookies, touch, mobile viewport) preferring Simplified Chinese,
    watched for requests off 127.0.0.1 and console errors, which fail the test when it closes."""
    context = browser.new_context(
        locale="zh-CN",
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
        extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"},
    )
    watched = Watched(context, base)
    yield watched
    context.close()
    assert watched.foreign == [], f"requests left 127.0.0.1: {watched.foreign}"
    assert watched.unexpected_errors() == [], f"console errors: {watched.errors}"
