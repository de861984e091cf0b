"""Configuration from ``DOORSTEP_*`` environment variables.

Every setting has one name in the environment and one attribute here (``SETTINGS``); a test
checks that the README's configuration reference names each of them, so the two cannot drift.
Development defaults exist so ``make run`` works with nothing set, and production refuses them.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app import clock
from app.notify.policy import quiet_hours, resend_unknown

# Well-known development secrets. Anyone can read them here, which is why production
# refuses to start while any of them is in use.
DEV_SECRET_KEY = "dev-secret-key-do-not-use-in-production"  # noqa: S105 (public on purpose, see above)
DEV_PII_KEYS = "dev1:" + base64.b64encode(b"doorstep-dev-pii-key-32-bytes!!!").decode()
DEV_BLIND_INDEX_KEY = base64.b64encode(b"doorstep-dev-blind-index-key-32b").decode()

INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"


def time_zone(raw: str) -> str:
    """An IANA zone name the zone database knows (a typo would otherwise show UTC or fail later)."""
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(raw) from None
    return raw


@dataclass(frozen=True)
class Setting:
    env: str
    attr: str
    default: object
    cast: Callable[[str], object]  # a type (str, int) or a parser that raises ValueError
    doc: str
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting("DOORSTEP_ENV", "ENV", "development", str, "`development`, `production` or `test`."),
    Setting(
        "DOORSTEP_DATABASE_URL",
        "SQLALCHEMY_DATABASE_URI",
        f"sqlite:///{INSTANCE_DIR / 'doorstep.sqlite3'}",
        str,
        "SQLAlchemy URL; production: `postgresql+psycopg://user:pass@host/db`.",
    ),
    Setting(
        "DOORSTEP_SECRET_KEY",
        "SECRET_KEY",
        DEV_SECRET_KEY,
        str,
        "Wraps the JWT signing keys stored in the database and keys OTP hashes.",
        secret=True,
    ),
    Setting(
        "DOORSTEP_PII_KEYS",
        "PII_KEYS",
        DEV_PII_KEYS,
        str,
        "AES-256-GCM keys for identity and phone numbers: `kid:base64,kid:base64`; the first encrypts, all decrypt.",
        secret=True,
    ),
    Setting(
        "DOORSTEP_BLIND_INDEX_KEY",
        "BLIND_INDEX_KEY",
        DEV_BLIND_INDEX_KEY,
        str,
        "Base64 HMAC-SHA-256 key for exact-match look-up of encrypted numbers. Never rotate without re-indexing.",
        secret=True,
    ),
    Setting("DOORSTEP_JWT_ISSUER", "JWT_ISSUER", "https://doorstep.local", str, "`iss` of every token."),
    Setting("DOORSTEP_JWT_AUDIENCE", "JWT_AUDIENCE", "doorstep-api", str, "`aud` of access tokens."),
    Setting("DOORSTEP_ACCESS_TOKEN_TTL", "ACCESS_TOKEN_TTL", 900, int, "Access token lifetime, seconds."),
    Setting("DOORSTEP_REFRESH_TOKEN_TTL", "REFRESH_TOKEN_TTL", 30 * 86400, int, "Refresh token lifetime, seconds."),
    Setting(
        "DOORSTEP_DEVICE_CREDENTIAL_TTL",
        "DEVICE_CREDENTIAL_TTL",
        86400,
        int,
        "Lifetime of the device credential a tablet puts in its receipts, seconds.",
    ),
    Setting(
        "DOORSTEP_MAX_CONTENT_LENGTH",
        "MAX_CONTENT_LENGTH",
        1024 * 1024,
        int,
        "Largest request body accepted, bytes (413 above).",
    ),
    Setting(
        "DOORSTEP_ATTACHMENT_PENDING_MAX",
        "ATTACHMENT_PENDING_MAX",
        200,
        int,
        "Attachments one account may have declared and not yet uploaded (409 quota-exceeded above).",
    ),
    Setting(
        "DOORSTEP_BOOKING_DAILY_MAX",
        "BOOKING_DAILY_MAX",
        10,
        int,
        "Bookings a citizen account may make in 24 hours, cancelled ones included (409 quota-exceeded).",
    ),
    Setting(
        "DOORSTEP_DEVICE_PENDING_MAX",
        "DEVICE_PENDING_MAX",
        20,
        int,
        "Device enrolments one account may have waiting for their code (409 quota-exceeded above).",
    ),
    Setting(
        "DOORSTEP_ATTACHMENT_MAX_BYTES",
        "ATTACHMENT_MAX_BYTES",
        10 * 1024 * 1024,
        int,
        "Largest attachment (photo, signature, PDF), bytes; its upload route alone accepts bodies this big.",
    ),
    Setting(
        "DOORSTEP_BLOB_DIR",
        "BLOB_DIR",
        str(INSTANCE_DIR / "blobs"),
        str,
        "Folder of the local blob store (used while `DOORSTEP_S3_BUCKET` is empty).",
    ),
    Setting(
        "DOORSTEP_S3_BUCKET",
        "S3_BUCKET",
        "",
        str,
        "S3 bucket for attachments; when set, blobs go to S3 (credentials: the standard `AWS_*` variables).",
    ),
    Setting(
        "DOORSTEP_S3_ENDPOINT_URL",
        "S3_ENDPOINT_URL",
        "",
        str,
        "Endpoint of an S3-compatible server (MinIO, Ceph…), addressed path-style; empty: AWS itself.",
    ),
    Setting("DOORSTEP_S3_REGION", "S3_REGION", "us-east-1", str, "Region the S3 requests are signed for."),
    Setting(
        "DOORSTEP_PRESIGN_SECONDS",
        "PRESIGN_SECONDS",
        300,
        int,
        "Lifetime of presigned S3 upload and download URLs, seconds.",
    ),
    Setting(
        "DOORSTEP_SMS_SENDER",
        "SMS_SENDER",
        "console",
        str,
        "SMS sender: `console` (logs the message), `sns` (AWS SNS) or `webhook` (signed HTTP POST).",
    ),
    Setting("DOORSTEP_SMS_SNS_REGION", "SMS_SNS_REGION", "us-east-1", str, "Region of the SNS SMS requests."),
    Setting(
        "DOORSTEP_SMS_SNS_ENDPOINT_URL",
        "SMS_SNS_ENDPOINT_URL",
        "",
        str,
        "Endpoint of an SNS-compatible server; empty: AWS itself.",
    ),
    Setting(
        "DOORSTEP_SMS_SENDER_ID",
        "SMS_SENDER_ID",
        "",
        str,
        "SNS `AWS.SNS.SMS.SenderID` (1-11 letters or digits); empty: none sent.",
    ),
    Setting("DOORSTEP_SMS_WEBHOOK_URL", "SMS_WEBHOOK_URL", "", str, "URL the webhook sender POSTs each SMS to."),
    Setting(
        "DOORSTEP_SMS_WEBHOOK_SECRET",
        "SMS_WEBHOOK_SECRET",
        "",
        str,
        "HMAC-SHA-256 key of the webhook's `X-Doorstep-Signature` header.",
    ),
    Setting(
        "DOORSTEP_SMS_CONNECT_TIMEOUT", "SMS_CONNECT_TIMEOUT", 5.0, float, "Seconds to connect to the SMS provider."
    ),
    Setting(
        "DOORSTEP_SMS_READ_TIMEOUT", "SMS_READ_TIMEOUT", 10.0, float, "Seconds to wait for the SMS provider's answer."
    ),
    Setting("DOORSTEP_SMS_MAX_ATTEMPTS", "SMS_MAX_ATTEMPTS", 6, int, "Attempts per message before it is `dead`."),
    Setting(
        "DOORSTEP_SMS_RETRY_BASE_SECONDS",
        "SMS_RETRY_BASE_SECONDS",
        60,
        int,
        "Wait after the first failure; doubled per attempt (capped at an hour), jittered ±20%.",
    ),
    Setting(
        "DOORSTEP_SMS_LEASE_SECONDS",
        "SMS_LEASE_SECONDS",
        300,
        int,
        "How long a dispatcher's claim on a message lasts; an unanswered one then becomes `unknown`.",
    ),
    Setting(
        "DOORSTEP_SMS_RESEND_UNKNOWN",
        "SMS_RESEND_UNKNOWN",
        "never",
        resend_unknown,
        "`never`, or `after:<seconds>`: resend `unknown` messages that long after their lease expired.",
    ),
    Setting(
        "DOORSTEP_SMS_PER_RECIPIENT_PER_HOUR",
        "SMS_PER_RECIPIENT_PER_HOUR",
        5,
        int,
        "Notices one phone receives per hour; more wait (one-time codes are not counted).",
    ),
    Setting(
        "DOORSTEP_QUIET_HOURS",
        "QUIET_HOURS",
        "21:00-08:00",
        quiet_hours,
        "Local (Asia/Shanghai) hours in which notices wait; `off` for none. One-time codes are exempt.",
    ),
    Setting("DOORSTEP_LOG_LEVEL", "LOG_LEVEL", "INFO", str, "Logging level of the JSON logs."),
    Setting(
        "DOORSTEP_TRUSTED_PROXIES",
        "TRUSTED_PROXIES",
        0,
        int,
        "How many reverse proxies set `X-Forwarded-For` in front of the app (0: use the socket address).",
    ),
    Setting(
        "DOORSTEP_BOOKING_CUTOFF_HOURS",
        "BOOKING_CUTOFF_HOURS",
        2,
        int,
        "Citizens book, cancel or reschedule online until this many hours before the window starts.",
    ),
    Setting(
        "DOORSTEP_BOOKING_HORIZON_DAYS", "BOOKING_HORIZON_DAYS", 30, int, "How many days ahead windows can be booked."
    ),
    Setting(
        "DOORSTEP_OFFICER_DAILY_LIMIT",
        "OFFICER_DAILY_LIMIT",
        12,
        int,
        "Open visits one officer may hold on one day; assignment above it is refused.",
    ),
    Setting(
        "DOORSTEP_MATERIALS_DUE_DAYS",
        "MATERIALS_DUE_DAYS",
        30,
        int,
        "Days a citizen has to supply materials owed at acceptance (容缺).",
    ),
    Setting(
        "DOORSTEP_REVIEW_WORKING_DAYS",
        "REVIEW_WORKING_DAYS",
        15,
        int,
        "Working days from acceptance to the review deadline promised to the citizen.",
    ),
    Setting(
        "DOORSTEP_SCHEDULER_IN_PROCESS",
        "SCHEDULER_IN_PROCESS",
        0,
        int,
        "`1`: the app process also runs the scheduler in a background thread (`make run` sets it).",
    ),
    Setting(
        "DOORSTEP_SCHEDULER_TICK_SECONDS",
        "SCHEDULER_TICK_SECONDS",
        60,
        int,
        "How often each scheduled job looks for due rows, seconds.",
    ),
    Setting(
        "DOORSTEP_SCHEDULER_STANDBY_SECONDS",
        "SCHEDULER_STANDBY_SECONDS",
        15,
        int,
        "How often a standing-by scheduler tries to take the lead (and the leader checks its lock), seconds.",
    ),
    Setting(
        "DOORSTEP_SCHEDULER_METRICS_PORT",
        "SCHEDULER_METRICS_PORT",
        0,
        int,
        "Port where `flask --app wsgi scheduler` serves Prometheus metrics (its leadership, last tick); 0: none.",
    ),
    Setting(
        "DOORSTEP_SCHEDULER_METRICS_ADDR",
        "SCHEDULER_METRICS_ADDR",
        "127.0.0.1",
        str,
        "Address the scheduler's metrics port binds to; that port takes no `DOORSTEP_METRICS_TOKEN`.",
    ),
    Setting(
        "DOORSTEP_DISPATCH_INTERVAL_SECONDS",
        "DISPATCH_INTERVAL_SECONDS",
        10,
        int,
        "How often the scheduler sends the outbox's due messages, seconds.",
    ),
    Setting(
        "DOORSTEP_DISPATCH_BATCH",
        "DISPATCH_BATCH",
        10,
        int,
        "Messages one dispatcher claim takes; a process killed mid-batch leaves at most this many `unknown`.",
    ),
    Setting(
        "DOORSTEP_MATURITY_PRENOTICE_DAYS",
        "MATURITY_PRENOTICE_DAYS",
        7,
        int,
        "Days before six months of residence mature that the resident gets a first SMS (0: none).",
    ),
    Setting(
        "DOORSTEP_MATERIALS_REMINDER_DAYS",
        "MATERIALS_REMINDER_DAYS",
        3,
        int,
        "Days between reminders of materials still owed (容缺), until supplied or the application closes.",
    ),
    Setting(
        "DOORSTEP_DEADLINE_WARNING_WORKING_DAYS",
        "DEADLINE_WARNING_WORKING_DAYS",
        2,
        int,
        "Working days before a review deadline that the station's staff are warned by SMS.",
    ),
    Setting(
        "DOORSTEP_EVENING_REMINDER_HOUR",
        "EVENING_REMINDER_HOUR",
        18,
        int,
        "Local hour from which residents are reminded of tomorrow's visits.",
    ),
    Setting(
        "DOORSTEP_SYNC_MAX_BODY",
        "SYNC_MAX_BODY",
        8 * 1024 * 1024,
        int,
        "Largest sync push or pull body once un-gzipped, bytes (413 above).",
    ),
    Setting(
        "DOORSTEP_SYNC_TOMBSTONE_DAYS",
        "SYNC_TOMBSTONE_DAYS",
        30,
        int,
        "Days evict/delete changes are kept; a tablet whose cursor is older pulls again from scratch.",
    ),
    Setting(
        "DOORSTEP_SYNC_EARLIEST_YEAR",
        "SYNC_EARLIEST_YEAR",
        2000,
        int,
        "A pushed mutation's `occurred_at` before 1 January of this year is refused as a broken device clock.",
    ),
    Setting(
        "DOORSTEP_SYNC_FUTURE_TOLERANCE_SECONDS",
        "SYNC_FUTURE_TOLERANCE_SECONDS",
        86400,
        int,
        "How far past the server's clock a pushed `occurred_at` may lie before it is refused, seconds.",
    ),
    Setting(
        "DOORSTEP_METRICS_TOKEN",
        "METRICS_TOKEN",
        "",
        str,
        "Bearer token `/metrics` requires; empty: open to whoever reaches it (development only).",
    ),
    Setting(
        "DOORSTEP_DEVICE_PROOF_MAX_AGE",
        "DEVICE_PROOF_MAX_AGE",
        120,
        int,
        "How far a tablet's `Device-Proof` timestamp may be from the server's clock, seconds.",
    ),
    Setting(
        "DOORSTEP_METRICS_ALLOW",
        "METRICS_ALLOW",
        "",
        str,
        "Comma-separated addresses or networks (`10.0.0.0/8`) whose scrapes of `/metrics` need no token. "
        "Production needs this or `DOORSTEP_METRICS_TOKEN`.",
    ),
    Setting(
        "DOORSTEP_CONSOLE_IDLE_MINUTES",
        "CONSOLE_IDLE_MINUTES",
        30,
        int,
        "Minutes without a request after which a console session ends (the clerk logs in again).",
    ),
    Setting(
        "DOORSTEP_CONSOLE_SESSION_HOURS",
        "CONSOLE_SESSION_HOURS",
        12,
        int,
        "Hours after log-in at which a console session ends however busy it is.",
    ),
    Setting(
        "DOORSTEP_STATION_TIMEZONE",
        "STATION_TIMEZONE",
        "Asia/Shanghai",
        time_zone,
        "Time zone (IANA name) in which the console shows times.",
    ),
    Setting(
        "DOORSTEP_PUBLIC_URL",
        "PUBLIC_URL",
        "http://127.0.0.1:5000",
        str,
        "The address citizens reach the service at (`https://…`); SMS texts carry links under it.",
    ),
    Setting(
        "DOORSTEP_LINK_DAYS",
        "LINK_DAYS",
        30,
        int,
        "Days an SMS link (`/s/…`) opens after the text was sent.",
    ),
    Setting(
        "DOORSTEP_PROBLEM_BASE",
        "PROBLEM_BASE",
        "https://doorstep.local/problems",
        str,
        "Prefix of the `type` URI of every problem+json error.",
    ),
)


class Config:
    """Values read from the environment once, when the app is created."""

    TESTING = False
    JSON_SORT_KEYS = False
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict[str, Any]] = {}
    API_TITLE = "Doorstep"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "docs"
    # Served from the app's own static files: /docs works offline and loads nothing from another host.
    OPENAPI_SWAGGER_UI_URL = "/static/vendor/swagger-ui-5.35.0/"
    # No validator badge: Swagger UI would fetch it from validator.swagger.io.
    OPENAPI_SWAGGER_UI_CONFIG: ClassVar[dict[str, Any]] = {"validatorUrl": None}
    # Login throttling: per account and per client address.
    LOGIN_SLOWDOWN_AFTER = 3
    LOGIN_LOCK_AFTER = 10
    LOGIN_LOCK_SECONDS = 15 * 60
    LOGIN_ADDRESS_LOCK_AFTER = 50
    # Citizen one-time codes.
    OTP_TTL_SECONDS = 300
    OTP_MAX_ATTEMPTS = 5
    OTP_PHONE_INTERVAL_SECONDS = 60
    OTP_PHONE_PER_HOUR = 5
    OTP_ADDRESS_PER_HOUR = 30
    DEVICE_ENROLLMENT_TTL_SECONDS = 24 * 3600
    # Settings the code reads as attributes; every one of SETTINGS is set in __init__.
    ENV: str
    SQLALCHEMY_DATABASE_URI: str
    SECRET_KEY: str
    PII_KEYS: str
    BLIND_INDEX_KEY: str
    MAX_CONTENT_LENGTH: int
    LOG_LEVEL: str
    SMS_SENDER: str
    SMS_WEBHOOK_URL: str
    SMS_WEBHOOK_SECRET: str
    METRICS_TOKEN: str
    METRICS_ALLOW: str
    SCHEDULER_IN_PROCESS: int
    PUBLIC_URL: str
    LINK_DAYS: int

    def __init__(self, environ: Mapping[str, Any] | None = None) -> None:
        environ = os.environ if environ is None else environ
        for s in SETTINGS:
            raw = environ.get(s.env)
            try:
                setattr(self, s.attr, s.default if raw in (None, "") else s.cast(raw))
            except ValueError:
                shown = "" if s.secret else f"={raw!r}"
                raise ConfigError(f"{s.env}{shown} is not a valid {s.cast.__name__}") from None
        self.MISSING_SECRETS = [s.env for s in SETTINGS if s.secret and not environ.get(s.env)]


class TestConfig(Config):
    """Fast KDF parameters and a database chosen by the test run."""

    TESTING = True
    PASSWORD_HASH_FAST = True

    def __init__(self, environ: Mapping[str, Any] | None = None) -> None:
        super().__init__(environ)
        self.ENV = "test"


class ConfigError(RuntimeError):
    """The configuration would run the service unsafely; the message says which setting."""


def check_production(config: Config) -> None:
    """Refuse to run production on development keys, SQLite or a missing secret."""
    if config.ENV != "production":
        return
    problems = [f"{name} is not set" for name in config.MISSING_SECRETS]
    dev_values = {"SECRET_KEY": DEV_SECRET_KEY, "PII_KEYS": DEV_PII_KEYS, "BLIND_INDEX_KEY": DEV_BLIND_INDEX_KEY}
    for attr, dev in dev_values.items():
        env = next(s.env for s in SETTINGS if s.attr == attr)
        if env not in config.MISSING_SECRETS and dev in str(getattr(config, attr)):
            problems.append(f"{env} holds the development key")
    if str(config.SQLALCHEMY_DATABASE_URI).startswith("sqlite"):
        problems.append("DOORSTEP_DATABASE_URL points at SQLite; production runs on PostgreSQL")
    if len(str(config.SECRET_KEY)) < 32 and "DOORSTEP_SECRET_KEY" not in config.MISSING_SECRETS:
        problems.append("DOORSTEP_SECRET_KEY is shorter than 32 characters")
    problems += _key_shape_problems(config)
    problems += _sms_problems(config)
    problems += _metrics_problems(config)
    if not str(config.PUBLIC_URL).startswith("https://"):
        problems.append("DOORSTEP_PUBLIC_URL must be the service's https:// address (SMS texts link to it)")
    if clock.offset():
        problems.append(f"{clock.OFFSET_ENV} moves the clock; it is for tests and rehearsals only")
    if problems:
        raise ConfigError("refusing to start in production: " + "; ".join(problems))


def _decoded_length(b64: str) -> int:
    try:
        return len(base64.b64decode(b64))
    except (binascii.Error, ValueError):
        return -1


def _key_shape_problems(config: Config) -> list[str]:
    """Malformed keys would otherwise pass start-up and fail every request that touches a number."""
    problems = []
    if "DOORSTEP_PII_KEYS" not in config.MISSING_SECRETS:
        entries = [part.strip().partition(":") for part in str(config.PII_KEYS).split(",")]
        if any(not kid or _decoded_length(b64) != 32 for kid, _, b64 in entries):
            problems.append("DOORSTEP_PII_KEYS entries must be kid:base64(32 bytes)")
        elif len({kid for kid, _, _ in entries}) != len(entries):
            problems.append("DOORSTEP_PII_KEYS names a key id twice")
    if "DOORSTEP_BLIND_INDEX_KEY" not in config.MISSING_SECRETS and _decoded_length(config.BLIND_INDEX_KEY) < 32:
        problems.append("DOORSTEP_BLIND_INDEX_KEY must be base64 of at least 32 bytes")
    return problems


def _metrics_problems(config: Config) -> list[str]:
    """Open metrics tell anyone who reaches them the traffic, the queues and the pool."""
    if config.METRICS_TOKEN or config.METRICS_ALLOW:
        problems = []
    else:
        problems = ["/metrics would be open: set DOORSTEP_METRICS_TOKEN or DOORSTEP_METRICS_ALLOW"]
    try:
        metrics_networks(config.METRICS_ALLOW)
    except ValueError as exc:
        problems.append(f"DOORSTEP_METRICS_ALLOW: {exc}")
    return problems


def metrics_networks(value: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The networks of ``DOORSTEP_METRICS_ALLOW``; a bare address is a network of one."""
    return [ipaddress.ip_network(part.strip(), strict=False) for part in str(value or "").split(",") if part.strip()]


def _sms_problems(config: Config) -> list[str]:
    """The console sender only logs: in production every reminder and code would be lost. A
    webhook sender without its address or key would fail every message, not the start-up."""
    if config.SMS_SENDER == "console":
        return ["DOORSTEP_SMS_SENDER is console, which sends nothing: choose sns or webhook"]
    if config.SMS_SENDER != "webhook":
        return []
    problems = []
    if not str(config.SMS_WEBHOOK_URL).startswith("https://"):
        problems.append("DOORSTEP_SMS_WEBHOOK_URL must be an https:// URL for the webhook sender")
    if len(str(config.SMS_WEBHOOK_SECRET)) < 32:
        problems.append("DOORSTEP_SMS_WEBHOOK_SECRET must be at least 32 characters for the webhook sender")
    return problems
