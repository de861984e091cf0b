"""The real senders against real servers over HTTP: SNS against a moto server, the webhook
against a local HTTP server that checks the signature the way a gateway would."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.config import Config, ConfigError, check_production
from app.notify.dispatcher import dispatch_due
from app.notify.senders import WEBHOOK_SIGNATURE_HEADER, SendFailed, SnsSender, WebhookSender, webhook_signature
from tests.factories import mobile
from tests.fixtures.outbox import NOON, row

REGION = "us-east-1"
SECRET = "webhook-test-secret-of-32-characters!"


# --- SNS -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_sns():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.delenv("AWS_SESSION_TOKEN", raising=False)
        mp.delenv("AWS_PROFILE", raising=False)
        yield f"http://127.0.0.1:{port}"
    server.stop()


def sms_published_to_moto(message_id: str) -> tuple[str, str]:
    """(phone, text) as the moto server stored them (it runs in this process)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    return sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages[message_id]


@pytest.fixture
def sns_app(app, moto_sns, monkeypatch):
    for key, value in {
        "SMS_SENDER": "sns",
        "SMS_SNS_ENDPOINT_URL": moto_sns,
        "SMS_SNS_REGION": REGION,
        "SMS_SENDER_ID": "Doorstep",
    }.items():
        monkeypatch.setitem(app.config, key, value)
    return app


def test_sns_publishes_a_transactional_sms_and_keeps_its_message_id(sns_app, queue):
    app = sns_app
    phone = mobile()
    row_id = queue(phone, kind="visit_cancelled", params={"station": "北山街派出所", "reference": "ABCD2345"})
    seen = []
    with app.app_context():
        SnsSender().client.meta.events.register(
            "provide-client-params.sns.Publish", lambda params, **kw: seen.append(params)
        )
        assert dispatch_due(now=NOON)["sent"] == 1
    sent = row(app, row_id)
    assert sent.status == "sent" and sent.sender == "sns"
    assert sms_published_to_moto(sent.provider_message_id) == (
        f"+86{phone}",
        "【北山街派出所】您的预约ABCD2345已取消。如需办理请重新预约。",
    )
    (params,) = seen
    assert params["MessageAttributes"] == {
        "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"},
        "AWS.SNS.SMS.SenderID": {"DataType": "String", "StringValue": "Doorstep"},
    }


def test_sns_refusing_a_number_is_permanent(sns_app):
    with sns_app.app_context(), pytest.raises(SendFailed) as refused:
        SnsSender().send_sms("not-a-number", "x")
    assert refused.value.permanent and "InvalidParameter" in str(refused.value)


def test_sns_unreachable_is_a_retryable_failure(app, monkeypatch, moto_sns):
    monkeypatch.setitem(app.config, "SMS_SNS_ENDPOINT_URL", "http://127.0.0.1:1")
    with app.app_context(), pytest.raises(SendFailed) as failed:
        SnsSender().send_sms("13800138000", "x")
    assert not failed.value.permanent and "unreachable" in str(failed.value)


# --- webhook -------------------------------------------------------------------------------


class Gateway:
    """A gateway that checks our signature; each path answers differently."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answer_slow = threading.Event()  # "/slow" answers only once the test has given up on it
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                valid = hmac.compare_digest(self.headers.get(WEBHOOK_SIGNATURE_HEADER, ""), expected)
                gateway.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body, "valid": valid}
                )
                if not valid:
                    return self._answer(401, {"error": "bad signature"})
                if self.path == "/redirect":
                    self.send_response(307)
                    self.send_header("Location", "/elsewhere")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                if self.path == "/slow":
                    gateway.answer_slow.wait(timeout=30)
                status = {"/busy": 503, "/bad": 400, "/plain": 202}.get(self.path, 200)
                answer = {"message_id": f"gw-{len(gateway.requests)}"} if status == 200 else None
                return self._answer(status, answer)

            def _answer(self, status, payload):
                data = json.dumps(payload).encode() if payload is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                try:
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up waiting (the timeout test)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def paths(self) -> list[str]:
        return [r["path"] for r in self.requests]


@pytest.fixture(scope="module")
def gateway():
    gw = Gateway()
    yield gw
    gw.server.shutdown()


@pytest.fixture
def webhook(app, gateway, monkeypatch):
    gateway.requests.clear()
    for key, value in {
        "SMS_SENDER": "webhook",
        "SMS_WEBHOOK_URL": gateway.url + "/sms",
        "SMS_WEBHOOK_SECRET": SECRET,
        "SMS_READ_TIMEOUT": 0.5,
    }.items():
        monkeypatch.setitem(app.config, key, value)

    def point_at(path):
        monkeypatch.setitem(app.config, "SMS_WEBHOOK_URL", gateway.url + path)

    return point_at


def test_the_webhook_posts_signed_json_and_keeps_the_gateways_id(app, gateway, webhook, queue):
    phone = mobile()
    row_id = queue(phone, kind="visit_cancelled", params={"station": "北山街派出所", "reference": "ABCD2345"})
    with app.app_context():
        assert dispatch_due(now=NOON)["sent"] == 1
    (request,) = gateway.requests
    assert request["valid"] and request["path"] == "/sms"
    sent = json.loads(request["body"])
    assert sent["id"] == str(row_id) and sent["to"] == f"+86{phone}"
    assert sent["text"] == "【北山街派出所】您的预约ABCD2345已取消。如需办理请重新预约。"
    assert isinstance(sent["ts"], int)
    assert request["headers"]["Idempotency-Key"] == str(row_id)
    assert request["headers"]["Content-Type"].startswith("application/json")
    assert row(app, row_id).provider_message_id == "gw-1"


def test_the_signature_is_hmac_sha256_of_the_raw_body():
    body = b'{"id":"x"}'
    assert webhook_signature("k", body) == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()


def test_a_redirect_is_not_followed_and_counts_as_a_failure(app, gateway, webhook, queue):
    webhook("/redirect")
    row_id = queue()
    with app.app_context():
        assert dispatch_due(now=NOON)["failed"] == 1
    assert gateway.paths() == ["/redirect"]  # never /elsewhere
    failed = row(app, row_id)
    assert failed.status == "failed" and "307" in failed.last_error


@pytest.mark.parametrize("path,permanent", [("/busy", False), ("/bad", True)])
def test_gateway_refusals(app, gateway, webhook, path, permanent):
    webhook(path)
    with app.app_context(), pytest.raises(SendFailed) as refused:
        WebhookSender().send_sms("13800138000", "x", ref="r")
    assert refused.value.permanent is permanent


def test_an_accepted_answer_without_an_id_is_still_sent(app, gateway, webhook):
    webhook("/plain")
    with app.app_context():
        assert WebhookSender().send_sms("13800138000", "x") is None


def test_a_slow_gateway_times_out(app, gateway, webhook):
    webhook("/slow")
    started = time.monotonic()
    try:
        with app.app_context(), pytest.raises(SendFailed, match=r"ReadTimeout|timed out|Timeout"):
            WebhookSender().send_sms("13800138000", "x")
        assert time.monotonic() - started < 1.4
    finally:
        gateway.answer_slow.set()


def test_a_wrong_secret_is_refused_by_the_gateway(app, gateway, webhook, monkeypatch):
    monkeypatch.setitem(app.config, "SMS_WEBHOOK_SECRET", "another-secret-of-thirty-two-chars!!")
    with app.app_context(), pytest.raises(SendFailed, match="401"):
        WebhookSender().send_sms("13800138000", "x")
    assert gateway.requests[-1]["valid"] is False


def test_the_webhook_needs_its_url_and_secret(app, monkeypatch):
    monkeypatch.setitem(app.config, "SMS_WEBHOOK_URL", "")
    with app.app_context(), pytest.raises(RuntimeError, match="DOORSTEP_SMS_WEBHOOK_URL"):
        WebhookSender()


def test_production_refuses_a_webhook_without_https_or_a_strong_secret():
    import base64
    import os

    env = {
        "DOORSTEP_ENV": "production",
        "DOORSTEP_DATABASE_URL": "postgresql+psycopg://u:p@127.0.0.1:1/d",
        "DOORSTEP_SECRET_KEY": "s" * 48,
        "DOORSTEP_PII_KEYS": "k:" + base64.b64encode(os.urandom(32)).decode(),
        "DOORSTEP_BLIND_INDEX_KEY": base64.b64encode(os.urandom(32)).decode(),
        "DOORSTEP_SMS_SENDER": "webhook",
        "DOORSTEP_SMS_WEBHOOK_URL": "http://gateway.internal/sms",
        "DOORSTEP_SMS_WEBHOOK_SECRET": "short",
        "DOORSTEP_METRICS_TOKEN": "m" * 40,
        "DOORSTEP_PUBLIC_URL": "https://doorstep.example.gov.cn",
    }
    with pytest.raises(ConfigError, match=r"SMS_WEBHOOK_URL must be an https.*SMS_WEBHOOK_SECRET must be"):
        check_production(Config(env))
    check_production(
        Config(
            {**env, "DOORSTEP_SMS_WEBHOOK_URL": "https://gateway.internal/sms", "DOORSTEP_SMS_WEBHOOK_SECRET": SECRET}
        )
    )
