"""The reference tablet client for sync protocol v1 (docs/sync-protocol.md, "The reference client").

A real client, not a test helper: the Android team reads it as the executable specification, the
tests and the load benchmark drive it. It keeps everything in one SQLite file of its own and is
built around one promise: *killed at any instant and restarted, it loses nothing and duplicates
nothing.* Three rules give that:

1. **Write before you send.** A UI action is one SQLite transaction that appends the mutation to
   the outbox *and* applies it to the local view. Nothing reaches the network before that commit.
   A mutation is frozen once it may have left the device (state ``sent``, committed before the
   request): resending after a lost answer sends byte-for-byte the same content under the same
   ``mutation_id``, which the server answers with the stored result (``replayed``).
2. **Two copies of every record.** ``base_data``/``base_version`` is the server's last word;
   ``data`` is what the officer sees: the base with the still-unsettled mutations re-applied in
   ``seq`` order. Every server answer (a pull change, a push result) replaces the base and the
   view is rebuilt. So a rejected mutation is rolled back exactly (its effect simply is not
   re-applied), a conflict shows the server's merged record, and a pulled change never wipes an
   edit that has not been pushed yet.
3. **The cursor moves with its page.** Each pull page is applied and its cursor stored in the same
   transaction; a kill between pages resumes from the last applied page.

Layers, top to bottom: the command line (``python -m sync.client --db tablet.sqlite3 …``), the
``TabletClient`` (UI actions, queries, ``sync``), the transports (urllib for real use,
``FlaskTransport`` for tests, ``FaultyTransport`` to lose requests and answers on purpose).
"""
from __future__ import annotations

import argparse
import base64
import getpass
import gzip
import json
import random
import sqlite3
import sys
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from http.client import HTTPException

PROTOCOL = 1
MAX_BATCH = 500                 # the server refuses more per push (413 too-many-mutations)
PULL_LIMIT = 1000
UNSETTLED = ("pending", "sent")
SETTLED = ("applied", "conflict", "rejected")
# Entities the server serves through pull (docs/sync-protocol.md, "Entities served"). A push result
# for any other entity (an application) is not kept as a local record: the pull would never refresh
# or evict it, so the device would end up holding more than its scope. The result stays readable
# in ``results``.
SERVED = frozenset({"visit", "delivery", "resident", "registration", "area", "reference"})
SEXES = ("male", "female")
REASONS = ("work", "study", "family", "other")
HOUSING = ("rented", "owned", "employer", "relatives")
END_REASONS = ("moved_away", "cancelled")
OUTCOMES = ("completed", "not_home")
RESIDENT_UPDATABLE = ("name", "sex", "ethnicity", "phone", "hukou_address", "photo_sha256")
REGISTRATION_UPDATABLE = ("address", "reason", "housing", "landlord_name", "landlord_phone", "employer_name")


# --- errors --------------------------------------------------------------------------------------

class ClientError(Exception):
    """Something the officer has to act on (not logged in, not enrolled, bad input)."""


class TransportError(Exception):
    """The request or its answer was lost: connection refused or reset, timeout. Retried."""


class ServerUnavailable(ClientError):
    """Transport errors or 5xx answers outlasted every retry. Nothing is lost: run sync again."""


class ProblemError(ClientError):
    """The server answered with a 4xx problem+json. Never retried: retrying the same request would
    get the same answer, so it is surfaced to the officer (or the operator) as it is."""

    def __init__(self, status: int, body: dict | None):
        body = body if isinstance(body, dict) else {}
        self.status, self.body = status, body
        self.type = str(body.get("type") or "")
        self.slug = self.type.rsplit("/", 1)[-1] if self.type else ""
        self.detail = body.get("detail") or body.get("title") or f"HTTP {status}"
        self.errors = body.get("errors")
        super().__init__(f"{status} {self.slug or 'error'}: {self.detail}")


class Crash(BaseException):
    """Raised by tests (fault hooks, ``FaultyTransport``) to simulate the process being killed.
    A BaseException so that nothing in the client catches it, exactly like SIGKILL."""


# --- transports ----------------------------------------------------------------------------------

@dataclass
class Reply:
    status: int
    headers: dict
    body: object  # parsed JSON, or None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Transport:
    """JSON over HTTP, the same for every implementation: gzip request bodies on the sync
    endpoints (the only ones that promise to accept them), ``Accept-Encoding: gzip`` everywhere,
    bodies decoded here. Subclasses only move bytes (``_send``)."""

    GZIP_MIN_BYTES = 1024  # below this gzip costs more than it saves

    def call(self, method: str, path: str, payload=None, *, token: str | None = None,
             compress: bool = False, proof_key=None, clock_offset: int = 0) -> Reply:
        """``proof_key``: the tablet's private key; a device-bound token is good only with a
        ``Device-Proof`` signed by it (docs/sync-protocol.md, "Device-bound tokens"), dated by the
        tablet's clock plus ``clock_offset`` (what the server said its clock reads, when they differ)."""
        headers = {"Accept": "application/json", "Accept-Encoding": "gzip"}
        body = None
        if payload is not None:
            body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
            if compress and len(body) >= self.GZIP_MIN_BYTES:
                body = gzip.compress(body, mtime=0)
                headers["Content-Encoding"] = "gzip"
        if token:
            headers["Authorization"] = f"Bearer {token}"
            if proof_key is not None:
                from app.auth import proof

                headers[proof.HEADER] = proof.sign(proof_key, method, path, token, int(time.time()) + clock_offset)
        status, resp_headers, raw = self._send(method, path, body, headers)
        resp_headers = {k.lower(): v for k, v in resp_headers.items()}
        if raw and resp_headers.get("content-encoding", "").lower() == "gzip":
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError) as exc:  # a truncated answer is a lost answer
                raise TransportError(f"corrupt gzip answer: {exc}") from None
        parsed = None
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                if status < 500:
                    raise TransportError(f"answer is not JSON (HTTP {status})") from None
        return Reply(status, resp_headers, parsed)

    def _send(self, method: str, path: str, body: bytes | None, headers: dict) -> tuple[int, dict, bytes]:
        raise NotImplementedError


class HttpTransport(Transport):
    """The real thing, standard library only (urllib), so the reference has no dependency to
    explain. Every status is returned as a Reply; only a lost connection raises."""

    def __init__(self, base_url: str, *, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _send(self, method, path, body, headers):
        request = urllib.request.Request(self.base_url + path, data=body, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                return resp.status, dict(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as exc:  # 4xx/5xx: an answer, not a transport failure
            try:
                raw = exc.read()
            except (OSError, HTTPException):
                raw = b""
            return exc.code, dict(exc.headers.items()) if exc.headers else {}, raw
        except (urllib.error.URLError, OSError, HTTPException, TimeoutError) as exc:
            raise TransportError(f"{method} {path}: {exc}") from None


class FlaskTransport(Transport):
    """Drives a Flask/WSGI app in-process (``FlaskTransport(app.test_client())``): the same bytes,
    headers and gzip as over the network, no socket."""

    def __init__(self, test_client):
        self.test_client = test_client

    def _send(self, method, path, body, headers):
        resp = self.test_client.open(path, method=method, data=body, headers=headers)
        return resp.status_code, dict(resp.headers.items()), resp.get_data()


@dataclass
class Fault:
    kind: str            # "before": lost before sending; "after": the server processed it, the answer is lost
    path: str | None     # prefix of the path it applies to (None: any)
    nth: int             # fires on the nth matching call (1-based)
    exc: BaseException | None
    seen: int = 0
    fired: bool = False


class FaultyTransport(Transport):
    """Wraps a transport and loses what it is told to lose, for tests.

    ``drop_request(path)`` raises before the inner transport is called (the server never saw it);
    ``drop_response(path)`` lets the server process the request and then raises (the answer is
    lost). By default the exception is a ``TransportError`` (the client retries); pass
    ``exc=Crash()`` to simulate the process being killed at that instant (nothing catches it).
    ``crash_after(path, nth)`` is ``drop_response`` with a ``Crash``: with the pull path and
    ``nth=2`` it kills the client mid-pull, after page 1 was applied and page 2 was served."""

    def __init__(self, inner: Transport):
        self.inner = inner
        self.faults: list[Fault] = []
        self.calls: list[tuple[str, str, int | None]] = []  # (method, path, status or None if lost)

    def drop_request(self, path: str | None = None, *, nth: int = 1, exc: BaseException | None = None):
        self.faults.append(Fault("before", path, nth, exc))
        return self

    def drop_response(self, path: str | None = None, *, nth: int = 1, exc: BaseException | None = None):
        self.faults.append(Fault("after", path, nth, exc))
        return self

    def crash_before(self, path: str | None = None, *, nth: int = 1):
        return self.drop_request(path, nth=nth, exc=Crash(f"killed before sending {path}"))

    def crash_after(self, path: str | None = None, *, nth: int = 1):
        return self.drop_response(path, nth=nth, exc=Crash(f"killed after the server answered {path}"))

    def _due(self, kind: str, path: str) -> Fault | None:
        """Every fault counts every matching call from when it was added (``nth=2``: the second
        such call), so ``drop_response(p).drop_response(p, nth=2)`` loses two answers in a row."""
        due = None
        for fault in self.faults:
            if fault.kind == kind and not fault.fired and (fault.path is None or path.startswith(fault.path)):
                fault.seen += 1
                if fault.seen == fault.nth and due is None:
                    fault.fired = True
                    due = fault
        return due

    def call(self, method, path, payload=None, **kw):
        fault = self._due("before", path)
        if fault is not None:
            self.calls.append((method, path, None))
            raise fault.exc or TransportError(f"{method} {path}: dropped before sending (injected)")
        reply = self.inner.call(method, path, payload, **kw)
        fault = self._due("after", path)
        if fault is not None:
            self.calls.append((method, path, None))
            raise fault.exc or TransportError(f"{method} {path}: answer lost (injected)")
        self.calls.append((method, path, reply.status))
        return reply


# --- small helpers -------------------------------------------------------------------------------

def _dumps(value) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _loads(text):
    return None if text is None else json.loads(text)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _now_iso() -> str:
    """The device clock, with its UTC offset (the server keeps it as ``occurred_at``; it never
    orders anything by it)."""
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def mask_identity(value: str | None) -> str | None:
    """The server's masking (app/pii.py), so a record looks the same before and after its sync."""
    return None if value is None else value[:4] + "*" * 10 + value[-4:]


def mask_phone(value: str | None) -> str | None:
    return None if value is None else value[:3] + "****" + value[-4:]


def _iso_date(value, name: str) -> str:
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise ClientError(f"{name} must be a date YYYY-MM-DD") from None


def _one_of(value, allowed, name):
    if value not in allowed:
        raise ClientError(f"{name} must be one of {', '.join(allowed)}")
    return value


def _required(value, name):
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ClientError(f"{name} is required")
    return value


def _jwt_exp(token: str | None) -> int | None:
    """The ``exp`` of an access token, read without verifying (only to refresh before it expires;
    the server does the verifying)."""
    try:
        payload = token.split(".")[1]
        return int(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"])
    except (AttributeError, IndexError, ValueError, KeyError, TypeError):
        return None


def _record_of(result: dict):
    """``(id, data)`` from a push result's ``record`` (``{"id": …, <the entity's data>}``)."""
    record = result.get("record")
    if not isinstance(record, dict) or "id" not in record:
        return None, None
    data = {k: v for k, v in record.items() if k not in ("id", "version")}
    return str(record["id"]), data


# --- what a mutation does to the local view -------------------------------------------------------
#
# One pure function per (entity, op): (the record as it is, the mutation) -> the record after it, or
# None when it does not exist. They are run again every time the view is rebuilt, so they must
# not depend on anything but their arguments (and ``hints``, client-side facts frozen at queue
# time, such as the station of the area a registration names).

def _apply_resident_create(current, data, hints):
    if current is not None:
        return current  # the server's record already holds this create (its answer was lost)
    return {"name": data.get("name"), "sex": data.get("sex"), "ethnicity": data.get("ethnicity"),
            "identity_number": mask_identity(data.get("identity_number")), "phone": mask_phone(data.get("phone")),
            "hukou_address": data.get("hukou_address"), "photo_sha256": data.get("photo_sha256")}


def _apply_update(current, data, hints):
    if current is None:
        return None
    out = dict(current)
    for key, value in data.items():
        if key == "landlord_phone":
            continue  # not part of the registration the server serves
        out[key] = mask_phone(value) if key == "phone" else value
    return out


def _apply_registration_create(current, data, hints):
    if current is not None:
        return current
    return {"resident_id": data.get("resident_id"), "area_id": data.get("area_id"),
            "station_id": hints.get("station_id"), "address": data.get("address"),
            "start_date": data.get("start_date"), "maturity_date": None, "reason": data.get("reason"),
            "housing": data.get("housing"), "landlord_name": data.get("landlord_name"),
            "employer_name": data.get("employer_name"), "status": "active"}


def _set(**values):
    def apply(current, data, hints):
        return None if current is None else {**current, **values}
    return apply


def _apply_outcome(current, data, hints):
    if current is None:
        return None
    return {**current, "status": data.get("outcome"), "outcome_note": data.get("note") or None}


def _apply_application_create(current, data, hints):
    if current is not None:
        return current
    return {"resident_id": data.get("resident_id"), "materials": data.get("materials", []), "status": "queued"}


def _apply_supply(current, data, hints):
    if current is None:
        return None
    materials = [m for m in current.get("materials", []) if m.get("kind") != data.get("kind")]
    return {**current, "materials": materials + [{"kind": data.get("kind"),
                                                  "attachment_sha256": data.get("attachment_sha256")}]}


# (entity, op) -> {touched entity: effect}. A mutation touches its own record, and sometimes another
# (a handover completes the delivery's visit); the outbox remembers which (table ``touches``).
EFFECTS = {
    ("resident", "create"): {"resident": _apply_resident_create},
    ("resident", "update"): {"resident": _apply_update},
    ("registration", "create"): {"registration": _apply_registration_create},
    ("registration", "update"): {"registration": _apply_update},
    ("registration", "end"): {"registration": _set(status="ended")},
    ("visit", "start"): {"visit": _set(status="en_route")},
    ("visit", "outcome"): {"visit": _apply_outcome},
    ("application", "create"): {"application": _apply_application_create},
    ("application", "supply_material"): {"application": _apply_supply},
    ("delivery", "handover"): {"delivery": _set(status="delivered"), "visit": _set(status="completed")},
}
CREATES = {k for k in EFFECTS if k[1] == "create"}


# --- the local database ----------------------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS records (
    entity TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER,             -- the server's version this view is based on (NULL: never seen by the server)
    data JSON,                   -- what the officer sees: base + unsettled mutations (NULL: gone)
    base_version INTEGER,        -- the server's last word …
    base_data JSON,              -- … (NULL: the server has not sent this record)
    evicted INTEGER NOT NULL DEFAULT 0,   -- out of scope, held only until its mutations are pushed
    seen INTEGER NOT NULL DEFAULT 1,      -- during a reset: sent by the fresh pull yet?
    unconfirmed INTEGER NOT NULL DEFAULT 0,  -- known only from a push result: kept if the next pull sends it
    PRIMARY KEY (entity, id)
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    mutation_id TEXT NOT NULL UNIQUE,
    entity TEXT NOT NULL,
    op TEXT NOT NULL,
    record_id TEXT NOT NULL,
    base_version INTEGER,
    data JSON NOT NULL,
    occurred_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'applied', 'conflict', 'rejected')),
    hints JSON NOT NULL DEFAULT '{}',     -- client-only facts for the local view; never sent
    attempts INTEGER NOT NULL DEFAULT 0,
    first_sent_at TEXT,
    settled_at TEXT
);
CREATE INDEX IF NOT EXISTS ix_outbox_state ON outbox (state, seq);
CREATE TABLE IF NOT EXISTS touches (
    seq INTEGER NOT NULL,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    PRIMARY KEY (seq, entity, record_id)
);
CREATE INDEX IF NOT EXISTS ix_touches_record ON touches (entity, record_id);
CREATE TABLE IF NOT EXISTS results (
    mutation_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    replayed INTEGER NOT NULL,
    version INTEGER,
    record JSON,
    conflict JSON,
    errors JSON,
    received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS conflicts (
    mutation_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    kind TEXT,
    fields JSON,
    record JSON,
    received_at TEXT NOT NULL,
    seen_by_user INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS rejections (
    mutation_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    entity TEXT NOT NULL,
    op TEXT NOT NULL,
    record_id TEXT NOT NULL,
    data JSON NOT NULL,
    errors JSON,
    received_at TEXT NOT NULL,
    seen_by_user INTEGER NOT NULL DEFAULT 0
);
"""


@dataclass
class SyncReport:
    rounds: int = 0
    pushed: int = 0
    applied: int = 0
    conflicts: int = 0
    rejected: int = 0
    replayed: int = 0
    pulled: int = 0
    pages: int = 0
    resets: int = 0
    dropped: int = 0
    retries: int = 0
    details: list = field(default_factory=list)

    def summary(self) -> str:
        return (f"pushed {self.pushed} (applied {self.applied}, conflicts {self.conflicts}, rejected {self.rejected}, "
                f"replayed {self.replayed}); pulled {self.pulled} changes in {self.pages} pages"
                + (f"; {self.resets} reset(s)" if self.resets else "")
                + (f"; {self.retries} retries" if self.retries else ""))


class TabletClient:
    """One tablet. ``TabletClient(path, transport)``; ``transport`` defaults to ``HttpTransport`` on
    the enrolled server's URL. ``sleep`` and ``fault_hook`` are for tests: ``fault_hook(point)`` is
    called at named points of every write and sync step, and may raise ``Crash`` to simulate a kill
    there (inside a transaction that means: rolled back, as SQLite would on restart)."""

    def __init__(self, path: str, transport: Transport | None = None, *, sleep=time.sleep, max_attempts: int = 6,
                 backoff: float = 0.5, max_backoff: float = 30.0, pull_limit: int = PULL_LIMIT,
                 batch_size: int = MAX_BATCH, fault_hook=None, max_rounds: int = 20):
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")   # a commit survives a power cut, not only a kill
        self.db.executescript(SCHEMA)
        self._transport = transport
        self.sleep, self.max_attempts, self.backoff, self.max_backoff = sleep, max_attempts, backoff, max_backoff
        self.pull_limit, self.batch_size, self.max_rounds = pull_limit, min(batch_size, MAX_BATCH), max_rounds
        self.fault_hook = fault_hook
        self._retries = 0
        self._proof_offset = 0  # seconds added to this clock when dating a Device-Proof (set by the server)

    # -- plumbing ---------------------------------------------------------------------------------

    def close(self):
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextmanager
    def _tx(self):
        """One write transaction. BEGIN IMMEDIATE takes the write lock up front, so two processes
        on the same file (the app and the CLI) queue instead of failing half-way."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _point(self, name: str):
        if self.fault_hook is not None:
            self.fault_hook(name)

    def _meta(self, key: str, default=None):
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None or row[0] is None else row[0]

    def _set_meta(self, conn, **values):
        for key, value in values.items():
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                         (key, None if value is None else str(value)))

    def _take_counter(self, conn, key: str) -> int:
        value = int(self._meta(key, "1"))
        self._set_meta(conn, **{key: value + 1})
        return value

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            url = self._meta("server_url")
            if not url:
                raise ClientError("this tablet is not enrolled: run enroll first")
            self._transport = HttpTransport(url)
        return self._transport

    # -- requests: retry, back-off, tokens ----------------------------------------------------------

    def _request(self, method: str, path: str, payload=None, *, auth: bool = True, compress: bool = False,
                 retry: bool = True) -> dict:
        """Send, retrying transport errors and 5xx with exponential back-off (jittered, capped),
        refreshing the access token once on 401 token-expired, surfacing every other 4xx."""
        refreshed = resynced = False
        attempt = 0
        while True:
            transport = self.transport          # not enrolled: say so before "not logged in"
            token = self._access_token() if auth else None
            try:
                reply = transport.call(method, path, payload, token=token, compress=compress,
                                       proof_key=self._device_key() if auth else None,
                                       clock_offset=self._proof_offset)
            except TransportError as exc:
                reply, failure = None, exc
            else:
                failure = None
            if reply is not None and reply.status < 500:
                if reply.ok:
                    return reply.body if isinstance(reply.body, dict) else {}
                problem = ProblemError(reply.status, reply.body)
                if auth and reply.status == 401 and problem.slug == "token-expired" and not refreshed:
                    self.refresh()
                    refreshed = True
                    continue
                server_time = (reply.body or {}).get("server_time") if isinstance(reply.body, dict) else None
                if (auth and reply.status == 401 and problem.slug == "device-proof-required" and not resynced
                        and isinstance(server_time, int)):
                    # This tablet's clock is off: date proofs by the server's clock from now on.
                    self._proof_offset = server_time - int(time.time())
                    resynced = True
                    continue
                raise problem
            if reply is not None:
                failure = ServerUnavailable(f"{method} {path}: HTTP {reply.status}")
            attempt += 1
            if not retry or attempt >= self.max_attempts:
                raise ServerUnavailable(f"{failure} (after {attempt} attempt(s); nothing is lost, sync again later)")
            self._retries += 1
            delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
            self.sleep(delay * (0.5 + random.random() / 2))

    def _device_key(self):
        """This tablet's private key (None before enrolment), parsed once."""
        pem = self._meta("device_key_pem")
        if pem is None:
            return None
        if getattr(self, "_parsed_key", (None,))[0] != pem:
            from cryptography.hazmat.primitives import serialization

            self._parsed_key = (pem, serialization.load_pem_private_key(pem.encode("ascii"), password=None))
        return self._parsed_key[1]

    def _access_token(self) -> str:
        token = self._meta("access_token")
        if not token:
            raise ClientError("not logged in: run login first")
        exp = _jwt_exp(token)
        if exp is not None and exp - 30 < time.time() and self._meta("refresh_token"):
            self.refresh()
            token = self._meta("access_token")
        return token

    # -- enrolment and log-in --------------------------------------------------------------------

    def enroll(self, server_url: str, enrollment_code: str) -> str:
        """Generate this tablet's ES256 key, store it, and enrol its public half with the one-time
        code staff were given. The key is committed first: if the answer is lost the server may
        hold our key, and the code is spent either way (ask staff for a new one)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        if self._meta("device_id"):
            raise ClientError(f"this tablet is already enrolled as device {self._meta('device_id')}")
        pem = self._meta("device_key_pem")
        if pem is None:
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode("ascii")
        with self._tx() as conn:
            self._set_meta(conn, server_url=server_url.rstrip("/"), device_key_pem=pem)
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
        numbers = key.public_key().public_numbers()
        jwk = {"kty": "EC", "crv": "P-256", "x": _b64url(numbers.x.to_bytes(32, "big")),
               "y": _b64url(numbers.y.to_bytes(32, "big"))}
        body = self._request("POST", "/api/v1/devices/enroll", {"enrollment_code": enrollment_code, "public_key": jwk},
                             auth=False, retry=False)
        with self._tx() as conn:
            self._set_meta(conn, device_id=body["device_id"], station_id=body.get("station_id"))
        return body["device_id"]

    def _store_tokens(self, conn, body: dict):
        self._set_meta(conn, access_token=body["access_token"], refresh_token=body["refresh_token"])
        if body.get("device_credential"):
            self._set_meta(conn, device_credential=body["device_credential"])

    def login(self, username: str, password: str) -> None:
        """Device-bound log-in: the tokens it returns are the only ones pull and push accept, and
        the device credential goes into every receipt this tablet signs."""
        device_id = self._meta("device_id")
        if not device_id:
            raise ClientError("this tablet is not enrolled: run enroll first")
        body = self._request("POST", "/api/v1/auth/login",
                             {"username": username, "password": password, "device_id": device_id}, auth=False)
        with self._tx() as conn:
            self._store_tokens(conn, body)
            self._set_meta(conn, username=username)

    def refresh(self) -> None:
        """Trade the refresh token for a new pair. Never retried: refresh tokens rotate, and
        sending a spent one again revokes the whole log-in, so a lost answer means logging in
        again either way. The new pair is committed before anything else is sent."""
        token = self._meta("refresh_token")
        if not token:
            raise ClientError("the session has expired: log in again")
        try:
            body = self._request("POST", "/api/v1/auth/refresh", {"refresh_token": token}, auth=False, retry=False)
        except ProblemError as exc:
            with self._tx() as conn:
                self._set_meta(conn, access_token=None, refresh_token=None)
            raise ClientError(f"the session has ended ({exc.detail}): log in again") from exc
        with self._tx() as conn:
            self._store_tokens(conn, body)

    # -- the outbox ------------------------------------------------------------------------------

    def _enqueue(self, entity: str, op: str, record_id: str, data: dict, *, base_version=None, hints=None,
                 touches=(), finish=None) -> str:
        """Queue one mutation and apply it to the local view, in one transaction. ``finish(conn)``
        runs first inside it (the handover takes its receipt seq and signs there).

        An update queued right behind an unsent update of the same record (nothing else touching
        the record in between) is folded into it instead: the server would otherwise see two edits
        from one device against the same base version and report the tablet's second edit as a
        conflict with its first. Only unsent (``pending``) mutations are ever changed. Updates are
        not folded into a create: a create that links to a resident the server already knows does
        not overwrite that resident, so a folded edit would be lost."""
        hints = hints or {}
        with self._tx() as conn:
            if finish is not None:
                finish(conn)
            touched = [(entity, record_id), *touches]
            if op == "update":
                last = conn.execute(
                    "SELECT o.* FROM outbox o JOIN touches t ON t.seq = o.seq WHERE t.entity = ? AND t.record_id = ? "
                    "AND o.state IN ('pending', 'sent') ORDER BY o.seq DESC LIMIT 1", (entity, record_id)).fetchone()
                if last is not None and last["state"] == "pending" and last["entity"] == entity \
                        and last["record_id"] == record_id and last["op"] == "update":
                    merged = {**_loads(last["data"]), **data}
                    conn.execute("UPDATE outbox SET data = ?, occurred_at = ? WHERE seq = ?",
                                 (_dumps(merged), _now_iso(), last["seq"]))
                    self._rebuild(conn, entity, record_id)
                    self._point("enqueue:before-commit")
                    return last["mutation_id"]
            seq = max(self._take_counter(conn, "next_seq"),
                      (conn.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()[0]) + 1)
            self._set_meta(conn, next_seq=seq + 1)
            mutation_id = str(uuid.uuid4())
            conn.execute("INSERT INTO outbox (seq, mutation_id, entity, op, record_id, base_version, data, "
                         "occurred_at, hints) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (seq, mutation_id, entity, op, record_id, base_version, _dumps(data), _now_iso(),
                          _dumps(hints)))
            for t_entity, t_id in dict.fromkeys(touched):
                conn.execute("INSERT INTO touches (seq, entity, record_id) VALUES (?, ?, ?)", (seq, t_entity, t_id))
                self._rebuild(conn, t_entity, t_id)
            self._point("enqueue:before-commit")
        return mutation_id

    def _rebuild(self, conn, entity: str, record_id: str) -> None:
        """The view of one record: its base, then every unsettled mutation touching it, in seq order."""
        row = conn.execute("SELECT base_version, base_data, evicted, seen FROM records WHERE entity = ? AND id = ?",
                           (entity, record_id)).fetchone()
        base = _loads(row["base_data"]) if row else None
        view = base
        for m in conn.execute(
                "SELECT o.entity, o.op, o.data, o.hints FROM outbox o JOIN touches t ON t.seq = o.seq "
                "WHERE t.entity = ? AND t.record_id = ? AND o.state IN ('pending', 'sent') ORDER BY o.seq",
                (entity, record_id)):
            effect = EFFECTS.get((m["entity"], m["op"]), {}).get(entity)
            if effect is not None:
                view = effect(view, _loads(m["data"]), _loads(m["hints"]))
        if view is None and base is None:
            conn.execute("DELETE FROM records WHERE entity = ? AND id = ?", (entity, record_id))
            return
        conn.execute(
            "INSERT INTO records (entity, id, version, data, base_version, base_data) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (entity, id) DO UPDATE SET version = excluded.version, data = excluded.data",
            (entity, record_id, row["base_version"] if row else None, _dumps(view), None, None))

    def _set_base(self, conn, entity: str, record_id: str, data, version, *, from_push: bool = False) -> None:
        """Replace the server's copy and rebuild the view. A record first learnt from a push result
        is ``unconfirmed``: the server holds it, but only a pull says whether it is in this
        device's scope (a resident with no registration in the officer's areas is not)."""
        conn.execute(
            "INSERT INTO records (entity, id, version, data, base_version, base_data, unconfirmed) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (entity, id) DO UPDATE SET base_version = excluded.base_version, "
            "base_data = excluded.base_data, version = excluded.version, "
            "unconfirmed = CASE WHEN records.base_data IS NULL THEN excluded.unconfirmed ELSE records.unconfirmed END",
            (entity, record_id, version, _dumps(data), version, _dumps(data), int(from_push)))
        self._rebuild(conn, entity, record_id)

    def _unsettled_for(self, conn, entity: str, record_id: str) -> list:
        return conn.execute(
            "SELECT o.* FROM outbox o JOIN touches t ON t.seq = o.seq WHERE t.entity = ? AND t.record_id = ? "
            "AND o.state IN ('pending', 'sent') ORDER BY o.seq", (entity, record_id)).fetchall()

    def _local(self, entity: str, record_id: str) -> sqlite3.Row:
        row = self.db.execute("SELECT * FROM records WHERE entity = ? AND id = ? AND data IS NOT NULL",
                              (entity, str(record_id))).fetchone()
        if row is None:
            raise ClientError(f"no {entity} {record_id} on this tablet")
        return row

    # -- UI actions --------------------------------------------------------------------------------

    def register_resident(self, name: str, sex: str, identity_number: str, *, phone: str | None = None,
                          ethnicity: str = "汉族", hukou_address: str = "", photo_sha256: str | None = None) -> str:
        """A new person, with a uuid made here. If the server already knows the identity number it
        links to that resident instead; the result names the existing id and the client follows."""
        data = {"name": _required(name, "name").strip(), "sex": _one_of(sex, SEXES, "sex"),
                "ethnicity": ethnicity, "identity_number": _required(identity_number, "identity_number").strip(),
                "phone": phone, "hukou_address": hukou_address, "photo_sha256": photo_sha256}
        record_id = str(uuid.uuid4())
        self._enqueue("resident", "create", record_id, data)
        return record_id

    def register_residence(self, resident_id: str, area_id: str, address: str, start_date, reason: str,
                           housing: str, *, landlord_name: str | None = None, landlord_phone: str | None = None,
                           employer_name: str | None = None) -> str:
        data = {"resident_id": str(resident_id), "area_id": str(area_id), "address": _required(address, "address"),
                "start_date": _iso_date(start_date, "start_date"), "reason": _one_of(reason, REASONS, "reason"),
                "housing": _one_of(housing, HOUSING, "housing"), "landlord_name": landlord_name,
                "landlord_phone": landlord_phone, "employer_name": employer_name}
        area = self.record("area", area_id)
        record_id = str(uuid.uuid4())
        self._enqueue("registration", "create", record_id, data,
                      hints={"station_id": (area or {}).get("data", {}).get("station_id") or self._meta("station_id")})
        return record_id

    def update_resident(self, resident_id: str, **fields) -> str:
        """Correct a resident. Only the fields given are sent, so the server's field-by-field merge
        applies what the officer changed and nothing else."""
        stray = sorted(set(fields) - set(RESIDENT_UPDATABLE))
        if stray or not fields:
            raise ClientError(f"updatable fields: {', '.join(RESIDENT_UPDATABLE)}"
                              + (f" (not {stray[0]})" if stray else ""))
        if "sex" in fields:
            _one_of(fields["sex"], SEXES, "sex")
        row = self._local("resident", resident_id)
        return self._enqueue("resident", "update", str(resident_id), fields, base_version=row["version"])

    def update_registration(self, registration_id: str, **fields) -> str:
        stray = sorted(set(fields) - set(REGISTRATION_UPDATABLE))
        if stray or not fields:
            raise ClientError(f"updatable fields: {', '.join(REGISTRATION_UPDATABLE)}")
        row = self._local("registration", registration_id)
        return self._enqueue("registration", "update", str(registration_id), fields, base_version=row["version"])

    def end_registration(self, registration_id: str, end_date, reason: str) -> str:
        row = self._local("registration", registration_id)
        return self._enqueue("registration", "end", str(registration_id),
                             {"end_date": _iso_date(end_date, "end_date"),
                              "reason": _one_of(reason, END_REASONS, "reason")},
                             base_version=row["version"])

    def start_visit(self, visit_id: str) -> str:
        row = self._local("visit", visit_id)
        return self._enqueue("visit", "start", str(visit_id), {}, base_version=row["version"])

    def record_outcome(self, visit_id: str, outcome: str, note: str = "") -> str:
        row = self._local("visit", visit_id)
        return self._enqueue("visit", "outcome", str(visit_id),
                             {"outcome": _one_of(outcome, OUTCOMES, "outcome"), "note": note or ""},
                             base_version=row["version"])

    def apply_for_permit(self, resident_id: str, materials=()) -> str:
        """``materials``: ``[{"kind": …, "attachment_sha256": …}]`` (files go to /api/v1/attachments)."""
        record_id = str(uuid.uuid4())
        self._enqueue("application", "create", record_id,
                      {"resident_id": str(resident_id), "materials": [dict(m) for m in materials]})
        return record_id

    def supply_material(self, application_id: str, kind: str, attachment_sha256: str) -> str:
        return self._enqueue("application", "supply_material", str(application_id),
                             {"kind": kind, "attachment_sha256": attachment_sha256})

    def handover(self, delivery_id: str, recipient: str, identity_number: str, *, proxy_name: str | None = None,
                 proxy_relation: str | None = None, signature_sha256: str | None = None,
                 handed_over_at: datetime | None = None) -> str:
        """Hand a permit over at the door, offline: check the ID card against the manifest's digest
        (self only), sign the receipt with this device's key and credential, queue the handover.
        Returns the receipt (a compact JWS) for the citizen's QR. The receipt seq is taken in the
        same transaction as the mutation, so a kill never reuses one, and only a committed receipt
        is ever shown."""
        from cryptography.hazmat.primitives import serialization

        from field_api.receipt_token import normalize_identity_number, sign_receipt

        _one_of(recipient, ("self", "proxy"), "recipient")
        row = self._local("delivery", delivery_id)
        delivery = _loads(row["data"])
        if delivery.get("status") != "pending":
            raise ClientError(f"delivery {delivery_id} is {delivery.get('status')}, not pending")
        identity = normalize_identity_number(_required(identity_number, "identity_number"))
        if recipient == "self":
            if delivery.get("identity_masked") and mask_identity(identity) != delivery["identity_masked"]:
                raise ClientError("the identity number does not match the permit holder's")
            name = delivery.get("resident_name")
        else:
            name = _required(proxy_name, "proxy_name")
            _required(proxy_relation, "proxy_relation")
        credential = self._meta("device_credential")
        pem = self._meta("device_key_pem")
        if not credential or not pem:
            raise ClientError("no device credential: log in on this tablet (online) first")
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
        handed = (handed_over_at or datetime.now(timezone.utc)).astimezone().isoformat(timespec="seconds")
        data = {"recipient": recipient, "identity_number": identity, "proxy_name": proxy_name,
                "proxy_relation": proxy_relation, "signature_sha256": signature_sha256, "handed_over_at": handed}
        touches = [("visit", delivery["visit_id"])] if delivery.get("visit_id") else []

        def sign(conn):
            receipt_seq = self._take_counter(conn, "next_receipt_seq")
            data["receipt"] = sign_receipt(key, credential, permit_number=delivery["permit_number"],
                                           recipient_name=name, identity_number=identity, seq=receipt_seq)

        self._enqueue("delivery", "handover", str(delivery_id), data, base_version=row["version"], touches=touches,
                      finish=sign)
        return data["receipt"]

    # -- queries ---------------------------------------------------------------------------------

    def record(self, entity: str, record_id: str) -> dict | None:
        row = self.db.execute("SELECT * FROM records WHERE entity = ? AND id = ? AND data IS NOT NULL",
                              (entity, str(record_id))).fetchone()
        return None if row is None else self._as_record(row)

    def _as_record(self, row) -> dict:
        pending = self.db.execute(
            "SELECT COUNT(*) FROM touches t JOIN outbox o ON o.seq = t.seq WHERE t.entity = ? AND t.record_id = ? "
            "AND o.state IN ('pending', 'sent')", (row["entity"], row["id"])).fetchone()[0]
        return {"entity": row["entity"], "id": row["id"], "version": row["version"], "data": _loads(row["data"]),
                "pending": pending, "synced": row["base_data"] is not None}

    def records(self, entity: str | None = None) -> list[dict]:
        query = "SELECT * FROM records WHERE data IS NOT NULL" + (" AND entity = ?" if entity else "")
        rows = self.db.execute(query + " ORDER BY entity, id", (entity,) if entity else ())
        return [self._as_record(r) for r in rows]

    def visits(self, day=None) -> list[dict]:
        """The officer's visits (all, or one day's), in the order of the day."""
        day = _iso_date(day, "day") if day is not None else None
        out = [r for r in self.records("visit") if day is None or r["data"].get("day") == day]
        return sorted(out, key=lambda r: (r["data"].get("day") or "", r["data"].get("window_start") or "", r["id"]))

    def pending(self) -> list[dict]:
        return [self._mutation(r) for r in self.db.execute(
            "SELECT * FROM outbox WHERE state IN ('pending', 'sent') ORDER BY seq")]

    def outbox(self) -> list[dict]:
        return [self._mutation(r) for r in self.db.execute("SELECT * FROM outbox ORDER BY seq")]

    @staticmethod
    def _mutation(row) -> dict:
        return {"seq": row["seq"], "mutation_id": row["mutation_id"], "entity": row["entity"], "op": row["op"],
                "id": row["record_id"], "base_version": row["base_version"], "data": _loads(row["data"]),
                "occurred_at": row["occurred_at"], "state": row["state"], "attempts": row["attempts"]}

    def conflicts(self) -> list[dict]:
        return [{"mutation_id": r["mutation_id"], "seq": r["seq"], "entity": r["entity"], "id": r["record_id"],
                 "kind": r["kind"], "fields": _loads(r["fields"]), "record": _loads(r["record"]),
                 "received_at": r["received_at"]} for r in self.db.execute("SELECT * FROM conflicts ORDER BY seq")]

    def rejections(self) -> list[dict]:
        return [{"mutation_id": r["mutation_id"], "seq": r["seq"], "entity": r["entity"], "op": r["op"],
                 "id": r["record_id"], "data": _loads(r["data"]), "errors": _loads(r["errors"]),
                 "received_at": r["received_at"]} for r in self.db.execute("SELECT * FROM rejections ORDER BY seq")]

    def result(self, mutation_id: str) -> dict | None:
        r = self.db.execute("SELECT * FROM results WHERE mutation_id = ?", (mutation_id,)).fetchone()
        return None if r is None else {"mutation_id": r["mutation_id"], "seq": r["seq"], "status": r["status"],
                                       "replayed": bool(r["replayed"]), "version": r["version"],
                                       "record": _loads(r["record"]), "conflict": _loads(r["conflict"]),
                                       "errors": _loads(r["errors"])}

    @property
    def cursor(self) -> str | None:
        return self._meta("cursor")

    # -- sync ------------------------------------------------------------------------------------

    def sync(self) -> SyncReport:
        """Push, then pull, until quiescent: a round that found nothing to push and ended with
        nothing unsettled. Pulls can make more to push (an evict holds a record until its pending
        mutations are pushed), pushes make changes to pull (our own writes come back through the
        feed, which is how derived fields like a maturity date arrive)."""
        report = SyncReport()
        self._retries = 0
        for _ in range(self.max_rounds):
            report.rounds += 1
            had_work = self._count_unsettled() > 0
            self.push(report)
            self._drop_evicted(report)
            self.pull(report)
            self._drop_evicted(report)
            if not had_work and self._count_unsettled() == 0:
                report.retries = self._retries
                with self._tx() as conn:
                    self._set_meta(conn, last_sync_at=_now_iso())
                return report
        report.retries = self._retries
        raise ClientError(f"not quiescent after {self.max_rounds} rounds: "
                          f"{self._count_unsettled()} mutation(s) unsettled")

    def _count_unsettled(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sent')").fetchone()[0]

    def push(self, report: SyncReport | None = None) -> SyncReport:
        """Send every unsettled mutation, oldest first, ≤ 500 at a time. Each batch is marked
        ``sent`` (committed) before it leaves, which freezes its content; its results are applied
        in one transaction. A lost answer leaves the batch ``sent``: the next push sends it again
        and the server replays. A 413 halves the batch and tries again."""
        report = report or SyncReport()
        size = self.batch_size
        while True:
            rows = self.db.execute("SELECT * FROM outbox WHERE state IN ('pending', 'sent') ORDER BY seq LIMIT ?",
                                   (size,)).fetchall()
            if not rows:
                return report
            with self._tx() as conn:
                conn.execute(f"UPDATE outbox SET state = 'sent', attempts = attempts + 1, "
                             f"first_sent_at = COALESCE(first_sent_at, ?) WHERE seq IN ({','.join('?' * len(rows))})",
                             (_now_iso(), *[r["seq"] for r in rows]))
            self._point("push:before-send")
            mutations = [{"mutation_id": r["mutation_id"], "seq": r["seq"], "entity": r["entity"], "op": r["op"],
                          "id": r["record_id"], "base_version": r["base_version"], "data": _loads(r["data"]),
                          "occurred_at": r["occurred_at"]} for r in rows]
            try:
                body = self._request("POST", "/api/v1/sync/push",
                                     {"protocol": PROTOCOL, "sent_at": _now_iso(), "mutations": mutations},
                                     compress=True)
            except ProblemError as exc:
                if exc.status == 413 and len(rows) > 1:
                    size = len(rows) // 2
                    continue
                raise
            self._point("push:answer-received")
            self._check_protocol(body)
            results = body.get("results") or []
            with self._tx() as conn:
                settled = self._apply_results(conn, results, report)
                self._set_meta(conn, server_last_seq=body.get("last_seq"))
                self._point("push:results-before-commit")
            report.pushed += len(rows)
            if settled == 0:
                # The server answered without settling anything we sent: sending it again at once
                # would loop. Leave it for the next sync round (which re-checks quiescence).
                return report

    def _apply_results(self, conn, results: list, report: SyncReport) -> int:
        served = set(SERVED) | {r[0] for r in conn.execute(
            "SELECT DISTINCT entity FROM records WHERE base_data IS NOT NULL")}
        settled = 0
        now = _now_iso()
        for res in sorted(results, key=lambda r: r.get("seq") or 0):
            row = conn.execute("SELECT * FROM outbox WHERE mutation_id = ?", (str(res.get("mutation_id")),)).fetchone()
            if row is None or row["state"] in SETTLED:
                continue  # not ours, or already settled by an earlier answer: first one wins
            status = res.get("status")
            if status not in SETTLED:
                continue
            settled += 1
            replayed = bool(res.get("replayed"))
            report.replayed += replayed
            conn.execute("INSERT OR REPLACE INTO results (mutation_id, seq, status, replayed, version, record, "
                         "conflict, errors, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (row["mutation_id"], row["seq"], status, int(replayed), res.get("version"),
                          _dumps(res.get("record")), _dumps(res.get("conflict")), _dumps(res.get("errors")), now))
            conn.execute("UPDATE outbox SET state = ?, settled_at = ? WHERE seq = ?", (status, now, row["seq"]))
            entity, record_id = row["entity"], row["record_id"]
            touched = [(t["entity"], t["record_id"]) for t in conn.execute(
                "SELECT entity, record_id FROM touches WHERE seq = ?", (row["seq"],))]
            if status == "rejected":
                report.rejected += 1
                conn.execute("INSERT OR IGNORE INTO rejections (mutation_id, seq, entity, op, record_id, data, errors, "
                             "received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (row["mutation_id"], row["seq"], entity, row["op"], record_id,
                              _scrub(_loads(row["data"])), _dumps(res.get("errors")), now))
                for t_entity, t_id in touched:  # its effect is not re-applied: rolled back exactly
                    self._rebuild(conn, t_entity, t_id)
                continue
            if status == "conflict":
                report.conflicts += 1
                conflict = res.get("conflict") or {}
                conn.execute("INSERT OR IGNORE INTO conflicts (mutation_id, seq, entity, record_id, kind, fields, "
                             "record, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (row["mutation_id"], row["seq"], entity, record_id, conflict.get("kind"),
                              _dumps(conflict.get("fields")), _dumps(res.get("record")), now))
            else:
                report.applied += 1
            self._settle_record(conn, row, res, replayed, served, touched)
        return settled

    def _settle_record(self, conn, row, res: dict, replayed: bool, served: set, touched: list) -> None:
        """Take the server's record for what an applied (or conflicting) mutation touched."""
        entity, record_id = row["entity"], row["record_id"]
        server_id, record = _record_of(res)
        version = res.get("version")
        if server_id is not None and server_id != record_id:
            # A create that linked to an existing record (a known identity number): the record
            # under our uuid never existed on the server. Follow the server's id in what has not
            # left the device yet; what has is frozen and the server resolves it.
            self._follow_id(conn, entity, record_id, server_id)
        target = server_id or record_id
        effects = EFFECTS.get((entity, row["op"]), {})
        if entity in served:
            current = conn.execute("SELECT base_version, base_data FROM records WHERE entity = ? AND id = ?",
                                   (entity, target)).fetchone()
            has_base = current is not None and current["base_data"] is not None
            if record is not None and version is not None:
                if not has_base or current["base_version"] is None or version >= current["base_version"]:
                    self._set_base(conn, entity, target, record, version, from_push=True)
            elif record is not None and (not replayed or not has_base):
                # No version (a delivery: its feed position is its version): fresh answers only;
                # a replayed one may be older than what a pull already brought.
                self._set_base(conn, entity, target, record, current["base_version"] if current else None,
                               from_push=True)
            elif version is not None and effects.get(entity):
                base = _loads(current["base_data"]) if has_base else None
                if not has_base or current["base_version"] is None or version >= current["base_version"]:
                    self._set_base(conn, entity, target, effects[entity](base, _loads(row["data"]),
                                                                        _loads(row["hints"])), version,
                                   from_push=True)
        for t_entity, t_id in touched:
            if (t_entity, t_id) != (entity, record_id) and effects.get(t_entity):
                # A secondary record (the visit of a handover): the server applied the effect too;
                # fold it into the base without a version, the pull brings the real one.
                cur = conn.execute("SELECT base_version, base_data FROM records WHERE entity = ? AND id = ?",
                                   (t_entity, t_id)).fetchone()
                if cur is not None and cur["base_data"] is not None and not replayed:
                    folded = effects[t_entity](_loads(cur["base_data"]), _loads(row["data"]), _loads(row["hints"]))
                    conn.execute("UPDATE records SET base_data = ? WHERE entity = ? AND id = ?",
                                 (_dumps(folded), t_entity, t_id))
            self._rebuild(conn, t_entity, t_id)
        if target != record_id:
            self._rebuild(conn, entity, record_id)

    def _follow_id(self, conn, entity: str, old: str, new: str) -> None:
        ref = f"{entity}_id"
        for m in conn.execute("SELECT * FROM outbox WHERE state = 'pending'").fetchall():
            data = _loads(m["data"])
            changed = m["entity"] == entity and m["record_id"] == old
            if data.get(ref) == old:
                data[ref] = new
                changed = True
            if changed:
                new_record = new if (m["entity"] == entity and m["record_id"] == old) else m["record_id"]
                conn.execute("UPDATE outbox SET record_id = ?, data = ? WHERE seq = ?",
                             (new_record, _dumps(data), m["seq"]))
                conn.execute("UPDATE touches SET record_id = ? WHERE seq = ? AND entity = ? AND record_id = ?",
                             (new, m["seq"], entity, old))
        for r in conn.execute("SELECT entity, id, data FROM records WHERE data IS NOT NULL").fetchall():
            data = _loads(r["data"])
            if isinstance(data, dict) and data.get(ref) == old:
                self._rebuild(conn, r["entity"], r["id"])
        self._rebuild(conn, entity, new)

    def _drop_evicted(self, report: SyncReport | None = None) -> None:
        """Evicted records whose own mutations have all been settled leave the tablet."""
        with self._tx() as conn:
            for r in conn.execute("SELECT entity, id FROM records WHERE evicted = 1").fetchall():
                if not self._unsettled_for(conn, r["entity"], r["id"]):
                    conn.execute("DELETE FROM records WHERE entity = ? AND id = ?", (r["entity"], r["id"]))
                    if report is not None:
                        report.dropped += 1

    def pull(self, report: SyncReport | None = None) -> SyncReport:
        """Page through the changes after the stored cursor. Each page is applied and its cursor
        stored in one transaction. On ``reset`` the client pulls again from null into a fresh view
        (``meta.reset_mode``): every record starts unseen, the fresh pages mark what they send,
        and the last page drops what was not sent — keeping what unsettled mutations still need."""
        report = report or SyncReport()
        while True:
            cursor = self._meta("cursor")
            resetting = self._meta("reset_mode") == "1"
            self._point("pull:before-request")
            body = self._request("POST", "/api/v1/sync/pull",
                                 {"protocol": PROTOCOL, "cursor": cursor, "limit": self.pull_limit}, compress=True)
            self._point("pull:page-received")
            self._check_protocol(body)
            if body.get("reset") and cursor is not None:
                # The cursor can no longer be served: start a fresh view from null. The page that
                # came with the reset is not used; the fresh pull sends everything again.
                report.resets += 1
                with self._tx() as conn:
                    conn.execute("UPDATE records SET seen = 0")
                    self._set_meta(conn, cursor=None, reset_mode=1)
                continue
            changes = body.get("changes") or []
            with self._tx() as conn:
                for change in changes:
                    self._apply_change(conn, change, fresh=resetting or cursor is None)
                self._set_meta(conn, cursor=body.get("cursor"))
                if resetting and not body.get("has_more"):
                    self._finish_reset(conn, report)
                if not body.get("has_more"):
                    self._drop_unconfirmed(conn, report)
                self._point("pull:page-before-commit")
            report.pages += 1
            report.pulled += len(changes)
            if not body.get("has_more"):
                return report

    def _apply_change(self, conn, change: dict, *, fresh: bool) -> None:
        entity, record_id, op = change.get("entity"), str(change.get("id")), change.get("op")
        version = change.get("version")
        row = conn.execute("SELECT base_version, base_data FROM records WHERE entity = ? AND id = ?",
                           (entity, record_id)).fetchone()
        if op == "upsert":
            newer = (row is None or row["base_data"] is None or row["base_version"] is None or version is None
                     or version >= row["base_version"])
            if newer or fresh:  # a fresh view (first pull, reset) is the truth whatever its versions
                self._set_base(conn, entity, record_id, change.get("data"), version)
            conn.execute("UPDATE records SET seen = 1, evicted = 0, unconfirmed = 0 WHERE entity = ? AND id = ?",
                         (entity, record_id))
        elif op == "delete":
            if row is not None:
                conn.execute("UPDATE records SET base_data = NULL, base_version = NULL, version = NULL "
                             "WHERE entity = ? AND id = ?", (entity, record_id))
                self._rebuild(conn, entity, record_id)
        elif op == "evict":
            if row is not None:
                if self._unsettled_for(conn, entity, record_id):
                    conn.execute("UPDATE records SET evicted = 1 WHERE entity = ? AND id = ?", (entity, record_id))
                else:
                    conn.execute("DELETE FROM records WHERE entity = ? AND id = ?", (entity, record_id))

    def _drop_unconfirmed(self, conn, report: SyncReport) -> None:
        """At the end of a complete pull: records known only from push results that the pull did
        not send are outside this device's scope. Sound because the server gives feed positions
        in commit order and a push commits before it answers, so every pull that completes after
        the answer was applied has passed the position of whatever the push wrote."""
        for r in conn.execute("SELECT entity, id FROM records WHERE unconfirmed = 1").fetchall():
            if not self._unsettled_for(conn, r["entity"], r["id"]):
                conn.execute("DELETE FROM records WHERE entity = ? AND id = ?", (r["entity"], r["id"]))
                report.dropped += 1

    def _finish_reset(self, conn, report: SyncReport) -> None:
        for r in conn.execute("SELECT entity, id FROM records WHERE seen = 0").fetchall():
            pending = self._unsettled_for(conn, r["entity"], r["id"])
            if any((m["entity"], m["op"]) in CREATES and m["record_id"] == r["id"] for m in pending):
                conn.execute("UPDATE records SET base_data = NULL, base_version = NULL, version = NULL, seen = 1 "
                             "WHERE entity = ? AND id = ?", (r["entity"], r["id"]))
                self._rebuild(conn, r["entity"], r["id"])   # still only ours: the push will create it
            elif pending:
                conn.execute("UPDATE records SET evicted = 1, seen = 1 WHERE entity = ? AND id = ?",
                             (r["entity"], r["id"]))
            else:
                conn.execute("DELETE FROM records WHERE entity = ? AND id = ?", (r["entity"], r["id"]))
                report.dropped += 1
        self._set_meta(conn, reset_mode=0)

    @staticmethod
    def _check_protocol(body: dict) -> None:
        if body.get("protocol") not in (None, PROTOCOL):
            raise ClientError(f"the server answered protocol {body.get('protocol')}; this client speaks {PROTOCOL}")


def _scrub(data: dict) -> str:
    """Rejections are kept for the officer to read and redo: numbers masked, like everything the
    tablet shows."""
    out = dict(data or {})
    if isinstance(out.get("identity_number"), str):
        out["identity_number"] = mask_identity(out["identity_number"])
    for key in list(out):
        if key.endswith("phone") and isinstance(out[key], str):
            out[key] = mask_phone(out[key])
    if isinstance(out.get("receipt"), str):
        out["receipt"] = out["receipt"][:16] + "…"
    return _dumps(out)


# --- the command line ------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """argparse already exits 2 on usage errors; this keeps the message on one screen."""

    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"{self.prog}: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m sync.client", description="The Doorstep reference tablet client.")
    parser.add_argument("--db", required=True, help="the tablet's SQLite file (created if missing)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("enroll", help="enrol this tablet with the code staff gave you")
    p.add_argument("--server", required=True, help="e.g. https://doorstep.example")
    p.add_argument("--code", required=True)
    p = sub.add_parser("login", help="log in on this tablet (password prompted)")
    p.add_argument("--username", required=True)
    p = sub.add_parser("visits", help="your visits")
    p.add_argument("--day", help="YYYY-MM-DD")
    p = sub.add_parser("register-resident", help="register a person (offline)")
    p.add_argument("--name", required=True)
    p.add_argument("--sex", required=True, choices=SEXES)
    p.add_argument("--identity", required=True, help="identity number")
    p.add_argument("--phone")
    p.add_argument("--ethnicity", default="汉族")
    p.add_argument("--hukou", default="", help="hukou address")
    p = sub.add_parser("register-residence", help="register residence (offline)")
    p.add_argument("--resident", required=True, help="resident id")
    p.add_argument("--area", required=True, help="area id")
    p.add_argument("--address", required=True)
    p.add_argument("--start", required=True, type=_date_arg, help="YYYY-MM-DD")
    p.add_argument("--reason", required=True, choices=REASONS)
    p.add_argument("--housing", required=True, choices=HOUSING)
    p.add_argument("--landlord")
    p.add_argument("--landlord-phone")
    p.add_argument("--employer")
    p = sub.add_parser("start", help="set out for a visit (offline)")
    p.add_argument("visit_id")
    p = sub.add_parser("outcome", help="record a visit's outcome (offline)")
    p.add_argument("visit_id")
    p.add_argument("outcome", choices=OUTCOMES)
    p.add_argument("--note", default="")
    sub.add_parser("sync", help="push what you did, pull what changed")
    sub.add_parser("pending", help="what has not been accepted by the server yet")
    sub.add_parser("conflicts", help="edits the server merged differently")
    sub.add_parser("rejections", help="edits the server refused")
    return parser


def _date_arg(value: str) -> str:
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError("must be a date YYYY-MM-DD") from None


def _read_password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("Password: ")
    return sys.stdin.readline().rstrip("\n")


def main(argv=None, *, transport: Transport | None = None, out=None) -> int:
    """Exit codes: 0 done, 1 the server or the tablet said no (the reason is printed), 2 usage."""
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    try:
        with TabletClient(args.db, transport) as client:
            return _run(client, args, out)
    except ProblemError as exc:
        print(f"error: {exc}", file=sys.stderr)
        for name, messages in (exc.errors or {}).items():
            text = "; ".join(map(str, messages)) if isinstance(messages, list) else messages
            print(f"  {name}: {text}", file=sys.stderr)
        return 1
    except (ClientError, sqlite3.Error, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run(client: TabletClient, args, out) -> int:
    def say(*parts):
        print(*parts, file=out)

    cmd = args.command
    if cmd == "enroll":
        say(f"enrolled as device {client.enroll(args.server, args.code)}")
    elif cmd == "login":
        client.login(args.username, _read_password())
        say(f"logged in as {args.username}")
    elif cmd == "visits":
        visits = client.visits(args.day)
        for v in visits:
            d = v["data"]
            flag = " (not synced)" if v["pending"] else ""
            say(f"{d.get('day')} {d.get('window_start') or '--:--'}-{d.get('window_end') or '--:--'}  "
                f"{d.get('status'):<11} {v['id']}  {d.get('address') or ''}"
                + (f"  [{d.get('purpose')}]" if d.get("purpose") else "") + flag)
        say(f"{len(visits)} visit(s)")
    elif cmd == "register-resident":
        rid = client.register_resident(args.name, args.sex, args.identity, phone=args.phone,
                                        ethnicity=args.ethnicity, hukou_address=args.hukou)
        say(f"resident {rid} registered on this tablet; run sync to send it")
    elif cmd == "register-residence":
        rid = client.register_residence(args.resident, args.area, args.address, args.start, args.reason, args.housing,
                                        landlord_name=args.landlord, landlord_phone=args.landlord_phone,
                                        employer_name=args.employer)
        say(f"registration {rid} recorded on this tablet; run sync to send it")
    elif cmd == "start":
        client.start_visit(args.visit_id)
        say(f"visit {args.visit_id} started")
    elif cmd == "outcome":
        client.record_outcome(args.visit_id, args.outcome, args.note)
        say(f"visit {args.visit_id}: {args.outcome} recorded; run sync to send it")
    elif cmd == "sync":
        report = client.sync()
        say(report.summary())
        if report.conflicts or report.rejected:
            say("see: conflicts, rejections")
    elif cmd == "pending":
        rows = client.pending()
        for m in rows:
            say(f"#{m['seq']:<5} {m['entity']}.{m['op']:<16} {m['id']}  {m['state']}  {m['occurred_at']}")
        say(f"{len(rows)} pending")
    elif cmd == "conflicts":
        rows = client.conflicts()
        for c in rows:
            fields = ", ".join(f"{k}: server {v.get('server')!r}, yours {v.get('device')!r}" if isinstance(v, dict)
                               else f"{k}: {v}" for k, v in (c["fields"] or {}).items())
            say(f"#{c['seq']:<5} {c['entity']} {c['id']}  {c['kind'] or 'conflict'}  {fields}")
        say(f"{len(rows)} conflict(s)")
    elif cmd == "rejections":
        rows = client.rejections()
        for r in rows:
            errors = "; ".join(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
                               for k, v in (r["errors"] or {}).items())
            say(f"#{r['seq']:<5} {r['entity']}.{r['op']} {r['id']}  {errors}")
        say(f"{len(rows)} rejection(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
