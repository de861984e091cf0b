"""SMS senders, chosen by ``DOORSTEP_SMS_SENDER``: ``console``, ``sns`` or ``webhook``.

A sender has a ``name`` and ``send_sms(phone, text, *, ref=None) -> provider message id``;
``phone`` is the 11-digit mainland number, ``ref`` the outbox row's id (a provider that
de-duplicates on it makes a resend harmless). It raises ``SendFailed`` when the message was
not accepted; ``permanent=True`` says resending the same message cannot help.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from flask import current_app

from app import clock
from app.pii import mask_phone

log = logging.getLogger("doorstep.sms")

E164_PREFIX = "+86"
WEBHOOK_SIGNATURE_HEADER = "X-Doorstep-Signature"
MAX_ANSWER_BYTES = 64 * 1024


class SendFailed(RuntimeError):
    """The provider refused or could not be reached; unless ``permanent``, it may be retried."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class SmsSender(Protocol):
    """What the dispatcher needs of a sender. ``send_sms(phone, text, *, ref=None)`` returns the
    provider's message id (or None); senders written before ``ref`` take ``(phone, text)`` only
    (``send`` tells them apart)."""

    name: str

    @property
    def send_sms(self) -> Callable[..., str | None]: ...


class ConsoleSender:
    """Development: the message goes to the log (the recipient masked) instead of a phone."""

    name = "console"

    def send_sms(self, phone: str, text: str, *, ref: str | None = None) -> str:
        log.info("SMS to %s: %s", mask_phone(phone), text, extra={"event": "sms.console"})
        return f"console-{uuid.uuid4().hex[:12]}"


# Clients are slow to build and safe to share between threads: one per distinct configuration.
_clients: dict[tuple[Any, ...], object] = {}
_clients_lock = threading.Lock()


def _shared(key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    """The client built for ``key`` (a boto3 client, a urllib3 pool: several libraries' types)."""
    with _clients_lock:
        if key not in _clients:
            _clients[key] = build()
        return _clients[key]


class SnsSender:
    """AWS SNS direct-to-phone SMS (``Publish`` with ``PhoneNumber``), marked Transactional so
    the network delivers it even to numbers that block promotional messages."""

    name = "sns"
    PERMANENT_CODES = frozenset({"InvalidParameter", "InvalidParameterValue", "ValidationError"})

    def __init__(self) -> None:
        cfg = current_app.config
        self.sender_id = cfg["SMS_SENDER_ID"]
        key = (
            "sns",
            cfg["SMS_SNS_REGION"],
            cfg["SMS_SNS_ENDPOINT_URL"],
            cfg["SMS_CONNECT_TIMEOUT"],
            cfg["SMS_READ_TIMEOUT"],
        )
        self.client = _shared(key, lambda: self._client(*key[1:]))

    @staticmethod
    def _client(region: str, endpoint_url: str | None, connect_timeout: float, read_timeout: float) -> Any:
        # boto3 (about half a second to import) loads only where SMS goes through SNS.
        import boto3
        from botocore.config import Config

        # Botocore's own retries stay off: a retried Publish can deliver twice, and the outbox
        # already retries with back-off, recording each attempt.
        config = Config(connect_timeout=connect_timeout, read_timeout=read_timeout, retries={"total_max_attempts": 1})
        return boto3.client("sns", region_name=region, endpoint_url=endpoint_url or None, config=config)

    def send_sms(self, phone: str, text: str, *, ref: str | None = None) -> str:
        from botocore.exceptions import BotoCoreError, ClientError  # loaded with boto3, SNS senders only

        attributes = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}}
        if self.sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": self.sender_id}
        try:
            answer = self.client.publish(PhoneNumber=E164_PREFIX + phone, Message=text, MessageAttributes=attributes)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise SendFailed(
                f"sns {code}: {exc.response.get('Error', {}).get('Message', '')}"[:300],
                permanent=code in self.PERMANENT_CODES,
            ) from None
        except BotoCoreError as exc:
            raise SendFailed(f"sns unreachable: {type(exc).__name__}") from None
        message_id: str = answer["MessageId"]
        return message_id


def webhook_signature(secret: str, body: bytes) -> str:
    """The value of ``X-Doorstep-Signature``: ``sha256=`` and the hex HMAC-SHA-256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSender:
    """POST the message as JSON to an SMS gateway of our own choosing, signed so the gateway can
    tell it came from us. Redirects are not followed: a 3xx would send a phone number and a text
    to an address nobody configured, so it counts as a failure."""

    name = "webhook"
    PERMANENT_STATUSES = frozenset({400, 422})  # the gateway refused this message as such

    def __init__(self) -> None:
        import urllib3  # only the HTTP gateway sender needs it

        cfg = current_app.config
        self.url, self.secret = cfg["SMS_WEBHOOK_URL"], cfg["SMS_WEBHOOK_SECRET"]
        if not self.url or not self.secret:
            raise RuntimeError(
                "DOORSTEP_SMS_SENDER=webhook needs DOORSTEP_SMS_WEBHOOK_URL and DOORSTEP_SMS_WEBHOOK_SECRET"
            )
        timeout = urllib3.Timeout(connect=cfg["SMS_CONNECT_TIMEOUT"], read=cfg["SMS_READ_TIMEOUT"])
        self.pool = _shared(
            ("webhook", cfg["SMS_CONNECT_TIMEOUT"], cfg["SMS_READ_TIMEOUT"]),
            lambda: urllib3.PoolManager(timeout=timeout, retries=False),
        )

    def send_sms(self, phone: str, text: str, *, ref: str | None = None) -> str | None:
        import urllib3  # only the HTTP gateway sender needs it

        body = json.dumps(
            {"id": ref, "to": E164_PREFIX + phone, "text": text, "ts": int(clock.timestamp())},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            WEBHOOK_SIGNATURE_HEADER: webhook_signature(self.secret, body),
        }
        if ref:
            headers["Idempotency-Key"] = ref
        try:
            resp = self.pool.request(
                "POST", self.url, body=body, headers=headers, redirect=False, retries=False, preload_content=False
            )
        except urllib3.exceptions.HTTPError as exc:
            raise SendFailed(f"webhook unreachable: {type(exc).__name__}") from None
        try:
            answer = resp.read(MAX_ANSWER_BYTES)
        except urllib3.exceptions.HTTPError as exc:
            raise SendFailed(f"webhook answer lost: {type(exc).__name__}") from None
        finally:
            resp.release_conn()
        if 300 <= resp.status < 400:
            raise SendFailed(f"webhook answered {resp.status} (redirects are not followed)")
        if not 200 <= resp.status < 300:
            raise SendFailed(f"webhook answered {resp.status}", permanent=resp.status in self.PERMANENT_STATUSES)
        return _provider_id(answer)


def _provider_id(answer: bytes) -> str | None:
    """``message_id`` (or ``id``) of a JSON object answer; a 2xx without one is still accepted."""
    try:
        data = json.loads(answer or b"null")
    except ValueError:
        return None
    if isinstance(data, dict):
        value = data.get("message_id", data.get("id"))
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return str(value)[:128]
    return None


SENDERS: dict[str, Callable[[], SmsSender]] = {"console": ConsoleSender, "sns": SnsSender, "webhook": WebhookSender}


def get_sender() -> SmsSender:
    name = current_app.config["SMS_SENDER"]
    try:
        return SENDERS[name]()
    except KeyError:
        raise RuntimeError(f"DOORSTEP_SMS_SENDER={name!r} is not one of {sorted(SENDERS)}") from None


def send(sender: SmsSender, phone: str, text: str, ref: str | None) -> str | None:
    """Call ``sender`` with ``ref`` when it takes one (senders written for ``(phone, text)`` still work)."""
    try:
        takes_ref = "ref" in inspect.signature(sender.send_sms).parameters
    except (TypeError, ValueError):
        takes_ref = False
    return sender.send_sms(phone, text, ref=ref) if takes_ref else sender.send_sms(phone, text)
