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

import pytest

from tests.browser.harness import CHROMIUM, DESKTOP, ROOT, Watched
from tests.fixtures.clock import clock_env
from tests.waiting import eventually


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
    def __init__(self, base: str, passwords: dict[str, str], log: Path):
        self.base = base
        self.passwords = passwords
        self.log = log  # the server's log, at INFO: the console SMS sender's texts are there


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
                "DOORSTEP_LOG_LEVEL": "INFO",
                "DOORSTEP_SMS_SENDER": "console",
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
                yield Server(base, passwords, Path(tmp) / "app.log")
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
