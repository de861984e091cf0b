"""``flask --app wsgi scheduler`` serves Prometheus metrics on a port of its own
(``DOORSTEP_SCHEDULER_METRICS_PORT``): the scheduler runs as its own process in production, and only
that process knows whether it leads and when its jobs last ran."""

from __future__ import annotations

import signal
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from app import metrics
from app.db import utcnow
from app.scheduler import leadership_state
from tests.fixtures.database import database_url

POSTGRES = sa.engine.make_url(database_url()).get_backend_name() == "postgresql"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(port: int, path: str = "/metrics") -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain; version=")
        return resp.read().decode()


def samples(text: str) -> dict:
    return {s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples if not s.labels}


def test_no_port_is_opened_by_default(app):
    assert app.config["SCHEDULER_METRICS_PORT"] == 0 and app.config["SCHEDULER_METRICS_ADDR"] == "127.0.0.1"
    assert metrics.serve_for_scheduler(app) is None


def test_the_scheduler_command_serves_its_leadership_and_last_tick(app, monkeypatch):
    """The command runs in this (main) thread as under ``flask --app wsgi scheduler``; a helper
    thread scrapes its port over HTTP until the leader has ticked, then stops it with SIGHUP."""
    port = free_port()
    monkeypatch.setitem(app.config, "SCHEDULER_METRICS_PORT", port)
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    scraped: dict = {}
    command_done = threading.Event()

    def scrape_then_stop():
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline and not command_done.is_set():
                try:
                    text = fetch(port)
                except (urllib.error.URLError, ConnectionError):
                    command_done.wait(0.1)  # the port is not open yet
                    continue
                values = samples(text)
                if (
                    values.get("doorstep_scheduler_is_leader") == 1.0
                    and "doorstep_scheduler_last_tick_timestamp_seconds" in values
                ):
                    filtered = fetch(port, "/?name[]=doorstep_scheduler_running")
                    scraped.update(text=text, values=values, filtered=filtered)
                    return
                command_done.wait(0.1)  # no leader tick yet
        finally:
            # Only once the command has put in its own handler: SIGHUP's default would end pytest.
            while not command_done.is_set() and signal.getsignal(signal.SIGHUP) is saved[signal.SIGHUP]:
                command_done.wait(0.05)
            if not command_done.is_set():
                signal.pthread_kill(threading.main_thread().ident, signal.SIGHUP)

    helper = threading.Thread(target=scrape_then_stop, daemon=True)
    helper.start()
    try:
        result = app.test_cli_runner().invoke(args=["scheduler"])
    finally:
        command_done.set()
        helper.join(10)
        for signum, handler in saved.items():
            signal.signal(signum, handler)

    assert result.exit_code == 0, result.output
    assert f"metrics on http://127.0.0.1:{port}/metrics" in result.output and "scheduler stopped" in result.output
    assert scraped, "the scheduler's port never showed a leader that had ticked"
    text, values = scraped["text"], scraped["values"]
    assert "doorstep_scheduler_is_leader 1.0" in text
    assert "doorstep_scheduler_running 1.0" in text
    now = utcnow().timestamp()
    assert (
        now - 60
        < values["doorstep_scheduler_leader_since_timestamp_seconds"]
        <= values["doorstep_scheduler_last_tick_timestamp_seconds"]
        <= now
    )
    assert values["doorstep_database_up"] == 1.0  # the scrape-time reads ran in an app context
    if POSTGRES:
        assert values["doorstep_scheduler_leader_elected"] == 1.0
    assert samples(scraped["filtered"]) == {"doorstep_scheduler_running": 1.0}

    # Stopped: the lock is given back and the port is closed.
    assert leadership_state()["running"] is False
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        fetch(port)


def test_a_port_in_use_stops_the_command_before_it_can_lead(app, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setitem(app.config, "SCHEDULER_METRICS_PORT", taken.getsockname()[1])
        result = app.test_cli_runner().invoke(args=["scheduler"])
    assert result.exit_code != 0 and "cannot serve metrics on 127.0.0.1:" in result.output
    assert leadership_state()["running"] is False


def test_a_token_does_not_protect_the_scheduler_port_and_the_log_says_so(app, monkeypatch, caplog):
    monkeypatch.setitem(app.config, "SCHEDULER_METRICS_PORT", free_port())
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "t" * 32)
    for addr, warned in (("127.0.0.1", False), ("0.0.0.0", True)):  # noqa: S104 (the warning under test)
        monkeypatch.setitem(app.config, "SCHEDULER_METRICS_ADDR", addr)
        caplog.clear()
        server, thread = metrics.serve_for_scheduler(app)
        try:
            assert samples(fetch(server.server_address[1]))["doorstep_scheduler_is_leader"] == 0.0
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)
        assert any(getattr(r, "event", None) == "metrics.scheduler_unauthenticated" for r in caplog.records) is warned
