"""The contract gate: run the published OpenAPI document through Schemathesis against a fresh app.

    python -m tests.contract.run            # or: make contract

A temporary folder gets a new SQLite database, migrated and seeded with the demo (``flask
seed-demo``); the app is served on 127.0.0.1 on a free port; the demo staff account logs in and
Schemathesis runs every check, stateful links included, with that access token, a fixed seed and
a time budget that keeps the run to a few minutes on a small machine. The exit status is
Schemathesis's: non-zero on any failure, which is what CI gates on.

Environment: ``CONTRACT_MAX_EXAMPLES`` (default 200 per operation), ``CONTRACT_MAX_TIME`` (seconds
for the whole Schemathesis run, default 240), ``CONTRACT_SEED`` (default 20261204),
``CONTRACT_REPORT_DIR`` (where the JUnit report is written; default: the temporary folder).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).resolve().parent / "schemathesis.toml"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _flask(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"flask {' '.join(args)} failed ({done.returncode})")
    return done.stdout


def _passwords(seed_output: str) -> dict[str, str]:
    """``seed-demo`` prints each demo account once: role, username, password."""
    return {m.group(2): m.group(3) for m in re.finditer(r"^\s+(\w+)\s+(demo\.\w+)\s+(\S+)$", seed_output, re.M)}


def _wait_ready(base: str, server: subprocess.Popen, timeout: float = 60.0) -> None:
    def ready() -> bool:
        if server.poll() is not None:
            raise SystemExit(f"the app exited with {server.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    if not eventually(ready, timeout=timeout, step=0.2):
        raise SystemExit("the app did not become ready in time")


def _login(base: str, username: str, password: str) -> str:
    request = urllib.request.Request(
        f"{base}/api/v1/auth/login",
        method="POST",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())["access_token"]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="doorstep-contract-") as tmp:
        env = {
            **os.environ,
            "DOORSTEP_ENV": "development",
            "DOORSTEP_DATABASE_URL": f"sqlite:///{tmp}/contract.sqlite3",
            "DOORSTEP_BLOB_DIR": f"{tmp}/blobs",
            "DOORSTEP_SCHEDULER_IN_PROCESS": "0",
            "DOORSTEP_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        _flask(env, "db", "upgrade")
        passwords = _passwords(_flask(env, "seed-demo"))
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        with open(Path(tmp) / "app.log", "w") as log:
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "flask",
                    "--app",
                    "wsgi",
                    "run",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--without-threads",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                _wait_ready(base, server)
                user = os.environ.get("CONTRACT_USER", "demo.staff")  # another demo account: its view of the API
                token = _login(base, user, passwords[user])
                report_dir = os.environ.get("CONTRACT_REPORT_DIR") or tmp
                command = [
                    sys.executable,
                    "-m",
                    "schemathesis.cli",
                    "--config-file",
                    str(CONFIG),
                    "run",
                    f"{base}/openapi.json",
                    "--checks",
                    "all",
                    "--phases",
                    "examples,coverage,fuzzing,stateful",
                    "--header",
                    f"Authorization: Bearer {token}",
                    "--max-examples",
                    os.environ.get("CONTRACT_MAX_EXAMPLES", "200"),
                    "--max-time",
                    os.environ.get("CONTRACT_MAX_TIME", "240"),
                    "--seed",
                    os.environ.get("CONTRACT_SEED", "20261204"),
                    # A generator's complaint, not the API's: for bodies combining a date, a time
                    # pattern and many required fields it discards more drafts than it likes. Every
                    # example it does produce is still sent and checked.
                    "--suppress-health-check",
                    "filter_too_much",
                    # Logging out ends the one token the run holds: every operation after it would
                    # only see 401. Its contract is kept by the suite (tests/app/auth).
                    "--exclude-path",
                    "/api/v1/auth/logout",
                    "--workers",
                    "1",
                    "--no-color",
                    "--output-truncate",
                    "true",
                    "--report",
                    "junit",
                    "--report-dir",
                    report_dir,
                ]
                return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
            finally:
                server.terminate()
                try:
                    server.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.kill()
                if os.environ.get("CONTRACT_KEEP_LOG"):
                    sys.stderr.write((Path(tmp) / "app.log").read_text()[-20000:])


if __name__ == "__main__":
    sys.exit(main())
