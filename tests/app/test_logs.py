"""Logs are JSON lines that carry the request id, and never a plaintext personal number."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from app import clock, logs
from app.auth.permissions import public
from compose import create_app
from tests.factories import valid_identity
from tests.fixtures.database import make_config

PHONE = "13812345678"
MASKED = "138****5678"


def _json_handlers() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if isinstance(h.formatter, logs.JsonFormatter)]


@pytest.fixture(scope="module")
def bare_app():
    """For requests that touch no table; the shared ``app`` would empty every table after each."""
    return create_app(make_config())


@pytest.fixture
def log_lines(bare_app):
    """Redirect the handler the app installed on the root logger, so the test reads exactly
    what production would write to stderr. Returns a callable giving the parsed lines."""
    (handler,) = _json_handlers()
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:

        def lines():
            raw = buffer.getvalue()
            return raw, [json.loads(line) for line in raw.splitlines() if line.strip()]

        yield lines
    finally:
        handler.setStream(previous)


def test_the_app_installs_one_json_handler_on_stderr(bare_app):
    create_app(make_config())  # a second app must not double every line
    handlers = _json_handlers()
    assert len(handlers) == 1
    assert isinstance(handlers[0], logging.StreamHandler)


def test_each_request_logs_one_json_line_with_its_request_id(bare_app, log_lines):
    client = bare_app.test_client()
    client.get("/healthz", headers={"X-Request-ID": "probe-1"})
    client.get("/api/v1/none", headers={"X-Request-ID": "probe-2"})
    raw, lines = log_lines()
    access = [e for e in lines if e.get("event") == "request"]
    assert [(e["request_id"], e["path"], e["status"], e["method"]) for e in access] == [
        ("probe-1", "/healthz", 200, "GET"),
        ("probe-2", "/api/v1/none", 404, "GET"),
    ]
    for entry in access:
        assert entry["level"] == "INFO" and entry["logger"] == "doorstep.access"
        assert entry["ts"].endswith("+00:00")
        assert isinstance(entry["duration_ms"], float)
    assert len(raw.splitlines()) == len(lines)


def test_a_line_is_stamped_by_the_app_s_clock(bare_app, log_lines, time_machine, monkeypatch):
    """Log lines and the audit trail agree on when something happened, even on a moved clock."""
    time_machine.move_to(datetime(2026, 12, 31, 15, 30, tzinfo=UTC), tick=False)
    monkeypatch.setattr(clock, "_offset", timedelta(minutes=1))  # as a child process with an offset
    bare_app.test_client().get("/healthz")
    _, lines = log_lines()
    assert [e["ts"] for e in lines if e.get("event") == "request"] == ["2026-12-31T15:31:00.000+00:00"]


def test_generated_request_id_in_the_log_matches_the_response_header(bare_app, log_lines):
    resp = bare_app.test_client().get("/healthz")
    _, lines = log_lines()
    assert [e["request_id"] for e in lines if e.get("event") == "request"] == [resp.headers["X-Request-ID"]]


@pytest.mark.parametrize("raw_phone", [PHONE, "+86 138-1234-5678"])
def test_otp_sms_is_logged_with_the_phone_masked(client, log_lines, raw_phone):
    resp = client.post("/api/v1/auth/otp", json={"phone": raw_phone}, headers={"X-Request-ID": "otp-req"})
    assert resp.status_code == 202, resp.json
    raw, lines = log_lines()
    assert PHONE not in raw
    assert "1234-5678" not in raw and "138-1234" not in raw
    sms = [e for e in lines if e.get("event") == "sms.console"]
    assert len(sms) == 1
    assert MASKED in sms[0]["msg"]
    assert sms[0]["request_id"] == "otp-req"


def test_a_refused_phone_is_not_logged_either(client, log_lines):
    client.post("/api/v1/auth/otp", json={"phone": "1381234567"})  # 10 digits: refused
    resp = client.post("/api/v1/auth/otp", json={"phone": PHONE})
    assert resp.status_code == 202
    resp = client.post("/api/v1/auth/otp", json={"phone": PHONE})
    assert resp.status_code == 429  # asked again too soon
    raw, _ = log_lines()
    assert PHONE not in raw and "1381234567" not in raw


def test_numbers_in_a_message_and_its_arguments_are_scrubbed(log_lines):
    identity = valid_identity()
    logging.getLogger("doorstep.test").warning("resident %s called from %s", identity, PHONE)
    raw, (entry,) = log_lines()
    assert identity not in raw and PHONE not in raw
    assert entry["msg"] == f"resident {identity[:4]}**********{identity[-4:]} called from {MASKED}"
    assert entry["request_id"] is None  # outside a request
    assert entry["level"] == "WARNING"


def test_an_unexpected_exception_is_logged_scrubbed_with_its_request_id(log_lines):
    identity = valid_identity()
    app = create_app(make_config())

    @public
    def crash():
        raise ValueError(f"no resident {identity} with phone {PHONE}")

    app.add_url_rule("/test/crash", "test_crash", crash)
    resp = app.test_client().get("/test/crash", headers={"X-Request-ID": "crash-1"})
    assert resp.status_code == 500
    raw, lines = log_lines()
    assert identity not in raw and PHONE not in raw
    (error,) = [e for e in lines if e["level"] == "ERROR"]
    assert error["logger"] == "doorstep.errors"
    assert error["request_id"] == "crash-1"
    assert "ValueError" in error["exc"] and MASKED in error["exc"]
    assert identity not in resp.get_data(as_text=True)


def test_the_log_level_setting_filters_lines(bare_app, log_lines):
    root = logging.getLogger()
    level = root.level
    try:
        create_app(make_config(LOG_LEVEL="WARNING"))
        bare_app.test_client().get("/healthz")
        _, lines = log_lines()
        assert lines == []
    finally:
        root.setLevel(level)


def test_the_log_level_may_be_written_in_lower_case():
    root = logging.getLogger()
    level = root.level
    try:
        create_app(make_config(LOG_LEVEL="warning"))
        assert root.level == logging.WARNING
    finally:
        root.setLevel(level)
