"""A real server and a real browser: the app on 127.0.0.1 (a free port, a fresh SQLite database
migrated and seeded with the demo, the test run's clock) in a subprocess, driven by Debian's
Chromium through Playwright. Every page a test opens fails the test if it asks another host for
anything or logs an error to the console. Screenshots go to ``build/screenshots/console/``."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.fixtures.clock import clock_env
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "build" / "screenshots" / "console"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 667}


def pytest_collection_modifyitems(config, items):
    """Without Chromium the browser tests skip, saying why, except in CI, where they must run."""
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI"):
        raise pytest.UsageError(f"{CHROMIUM} is missing in CI: .ci/run installs it with apt-get")
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is not installed (apt-get install -y chromium fonts-noto-cjk)")
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(skip)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _flask(env, *args) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


class Server:
    def __init__(self, base: str, passwords: dict[str, str]):
        self.base = base
        self.passwords = passwords


def _ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def server():
    with tempfile.TemporaryDirectory(prefix="doorstep-browser-") as tmp:
        env = clock_env(
            {
                **os.environ,
                "DOORSTEP_ENV": "development",
                "DOORSTEP_DATABASE_URL": f"sqlite:///{tmp}/console.sqlite3",
                "DOORSTEP_BLOB_DIR": f"{tmp}/blobs",
                "DOORSTEP_SCHEDULER_IN_PROCESS": "0",
                "DOORSTEP_LOG_LEVEL": "WARNING",
                "PYTHONPATH": str(ROOT),
            }
        )
        _flask(env, "db", "upgrade")
        seeded = _flask(env, "seed-demo")
        passwords = {m.group(1): m.group(2) for m in re.finditer(r"^\s+\w+\s+(demo\.\w+)\s+(\S+)$", seeded, re.M)}
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        with open(Path(tmp) / "app.log", "w") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "run", "--host", "127.0.0.1", "--port", str(port)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                assert (
                    eventually(lambda: proc.poll() is not None or _ready(base), timeout=60) and proc.poll() is None
                ), (Path(tmp) / "app.log").read_text()
                yield Server(base, passwords)
            finally:
                proc.terminate()
                proc.wait(timeout=20)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield instance
        instance.close()


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


@pytest.fixture
def console(browser, server):
    """A fresh browser (no cookies) that prefers Simplified Chinese, as a station's PC does."""
    context = browser.new_context(
        locale="zh-CN", viewport=DESKTOP, extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"}
    )
    watched = Watched(context, server.base)
    yield watched
    context.close()
    assert watched.foreign == [], f"requests left 127.0.0.1: {watched.foreign}"
    assert watched.unexpected_errors() == [], f"console errors: {watched.errors}"
