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

Layers, top to bottom: the command line (``python -m doorstep_client --db tablet.sqlite3 …``), the
``TabletClient`` (UI actions, queries, ``sync``), the transports (urllib for real use,
``FlaskTransport`` for tests, ``FaultyTransport`` to lose requests and answers on purpose).
"""

from __future__ import annotations

import base64
import json
import random
import sqlite3
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, date, datetime
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric import ec

from doorstep_client import keys, receipts
from doorstep_client.errors import ClientError, ProblemError, ServerUnavailable, TransportError
from doorstep_client.store import FaultHook, JsonObject, _loads
from doorstep_client.syncing import Syncing
from doorstep_client.transport import HttpTransport, Reply, Transport
from doorstep_protocol import problems
from doorstep_protocol.identity import InvalidIdentityNumber, normalize_for_hint
from doorstep_protocol.identity import mask as mask_identity
from doorstep_protocol.identity import validate as validate_identity
from doorstep_protocol.limits import MAX_MUTATIONS_PER_PUSH as MAX_BATCH
from doorstep_protocol.limits import MAX_PULL_LIMIT as PULL_LIMIT
from doorstep_protocol.vocabulary import (
    END_REASONS,
    HOUSING,
    OUTCOMES,
    REASONS,
    RECIPIENTS,
    REGISTRATION_UPDATABLE,
    RESIDENT_UPDATABLE,
    SEXES,
)

T = TypeVar("T")


def _iso_date(value: object, name: str) -> str:
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise ClientError(f"{name} must be a date YYYY-MM-DD") from None


def _one_of(value: object, allowed: Collection[str], name: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ClientError(f"{name} must be one of {', '.join(allowed)}")
    return value


def _required(value: T | None, name: str) -> T:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ClientError(f"{name} is required")
    return value


def _identity(value: object) -> str:
    """Checked here, before the mutation is queued: an officer at the door can still ask for the
    card again, which nobody can once the push is refused hours later. The tablet's own date
    bounds the birth date (a future one is refused)."""
    try:
        return validate_identity(_required(value, "identity_number"), today=date.today())
    except InvalidIdentityNumber as exc:
        raise ClientError(f"identity_number {exc}") from None


def _jwt_exp(token: str | None) -> int | None:
    """The ``exp`` of an access token, read without verifying (only to refresh before it expires;
    the server does the verifying)."""
    if token is None:
        return None
    try:
        payload = token.split(".")[1]
        return int(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


class TabletClient(Syncing):
    """One tablet. ``TabletClient(path, transport)``; ``transport`` defaults to ``HttpTransport`` on
    the enrolled server's URL. ``sleep`` and ``fault_hook`` are for tests: ``fault_hook(point)`` is
    called at named points of every write and sync step, and may raise ``Crash`` to simulate a kill
    there (inside a transaction that means: rolled back, as SQLite would on restart)."""

    def __init__(
        self,
        path: str,
        transport: Transport | None = None,
        *,
        sleep: Callable[[float], object] = time.sleep,
        max_attempts: int = 6,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        pull_limit: int = PULL_LIMIT,
        batch_size: int = MAX_BATCH,
        fault_hook: FaultHook | None = None,
        max_rounds: int = 20,
    ) -> None:
        super().__init__(path, fault_hook=fault_hook)
        self._transport = transport
        self.sleep, self.max_attempts, self.backoff, self.max_backoff = sleep, max_attempts, backoff, max_backoff
        self.pull_limit, self.batch_size, self.max_rounds = pull_limit, min(batch_size, MAX_BATCH), max_rounds
        self._retries = 0
        self._parsed_key: tuple[str, ec.EllipticCurvePrivateKey] | None = None
        self._proof_offset = 0  # seconds added to this clock when dating a Device-Proof (set by the server)

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            url = self._meta("server_url")
            if not url:
                raise ClientError("this tablet is not enrolled: run enroll first")
            self._transport = HttpTransport(url)
        return self._transport

    # -- requests: retry, back-off, tokens ----------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        payload: JsonObject | None = None,
        *,
        auth: bool = True,
        compress: bool = False,
        retry: bool = True,
    ) -> JsonObject:
        """Send, retrying transport errors and 5xx with exponential back-off (jittered, capped),
        refreshing the access token once on 401 token-expired, surfacing every other 4xx."""
        refreshed = resynced = False
        attempt = 0
        reply: Reply | None
        failure: Exception | None
        while True:
            transport = self.transport  # not enrolled: say so before "not logged in"
            token = self._access_token() if auth else None
            try:
                reply = transport.call(
                    method,
                    path,
                    payload,
                    token=token,
                    compress=compress,
                    proof_key=self._device_key() if auth else None,
                    clock_offset=self._proof_offset,
                )
            except TransportError as exc:
                reply, failure = None, exc
            else:
                failure = None
            if reply is not None and reply.status < 500:
                if reply.ok:
                    return reply.body if isinstance(reply.body, dict) else {}
                problem = ProblemError(reply.status, reply.body)
                if auth and reply.status == 401 and problem.slug == problems.TOKEN_EXPIRED and not refreshed:
                    self.refresh()
                    refreshed = True
                    continue
                server_time = (reply.body or {}).get("server_time") if isinstance(reply.body, dict) else None
                if (
                    auth
                    and reply.status == 401
                    and problem.slug == problems.DEVICE_PROOF_REQUIRED
                    and not resynced
                    and isinstance(server_time, int)
                ):
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
            self.sleep(delay * (0.5 + random.random() / 2))  # noqa: S311 (jitter, not a secret)

    def _device_key(self) -> ec.EllipticCurvePrivateKey | None:
        """This tablet's private key (None before enrolment), parsed once."""
        pem = self._meta("device_key_pem")
        if pem is None:
            return None
        if self._parsed_key is None or self._parsed_key[0] != pem:
            self._parsed_key = (pem, keys.load_private_key(pem))
        return self._parsed_key[1]

    def _access_token(self) -> str:
        token = self._meta("access_token")
        if not token:
            raise ClientError("not logged in: run login first")
        exp = _jwt_exp(token)
        if exp is not None and exp - 30 < time.time() and self._meta("refresh_token"):
            self.refresh()
            token = self._meta("access_token")
            if not token:
                raise ClientError("not logged in: run login first")
        return token

    # -- enrolment and log-in --------------------------------------------------------------------

    def enroll(self, server_url: str, enrollment_code: str) -> str:
        """Generate this tablet's ES256 key, store it, and enrol its public half with the one-time
        code staff were given. The key is committed first: if the answer is lost the server may
        hold our key, and the code is spent either way (ask staff for a new one)."""
        if self._meta("device_id"):
            raise ClientError(f"this tablet is already enrolled as device {self._meta('device_id')}")
        pem = self._meta("device_key_pem")
        if pem is None:
            pem = keys.new_private_key_pem()
        with self._tx() as conn:
            self._set_meta(conn, server_url=server_url.rstrip("/"), device_key_pem=pem)
        jwk = keys.public_jwk(keys.load_private_key(pem))
        body = self._request(
            "POST",
            "/api/v1/devices/enroll",
            {"enrollment_code": enrollment_code, "public_key": jwk},
            auth=False,
            retry=False,
        )
        with self._tx() as conn:
            self._set_meta(conn, device_id=body["device_id"], station_id=body.get("station_id"))
        return str(body["device_id"])

    def _store_tokens(self, conn: sqlite3.Connection, body: JsonObject) -> None:
        self._set_meta(conn, access_token=body["access_token"], refresh_token=body["refresh_token"])
        if body.get("device_credential"):
            self._set_meta(conn, device_credential=body["device_credential"])

    def login(self, username: str, password: str) -> None:
        """Device-bound log-in: the tokens it returns are the only ones pull and push accept, and
        the device credential goes into every receipt this tablet signs."""
        device_id = self._meta("device_id")
        if not device_id:
            raise ClientError("this tablet is not enrolled: run enroll first")
        body = self._request(
            "POST",
            "/api/v1/auth/login",
            {"username": username, "password": password, "device_id": device_id},
            auth=False,
        )
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

    # -- UI actions --------------------------------------------------------------------------------

    def register_resident(
        self,
        name: str,
        sex: str,
        identity_number: str,
        *,
        phone: str | None = None,
        ethnicity: str = "汉族",
        hukou_address: str = "",
        photo_sha256: str | None = None,
    ) -> str:
        """A new person, with a uuid made here. If the server already knows the identity number it
        links to that resident instead; the result names the existing id and the client follows."""
        data = {
            "name": _required(name, "name").strip(),
            "sex": _one_of(sex, SEXES, "sex"),
            "ethnicity": ethnicity,
            "identity_number": _identity(identity_number),
            "phone": phone,
            "hukou_address": hukou_address,
            "photo_sha256": photo_sha256,
        }
        record_id = str(uuid.uuid4())
        self._enqueue("resident", "create", record_id, data)
        return record_id

    def register_residence(
        self,
        resident_id: str,
        area_id: str,
        address: str,
        start_date: date | str,
        reason: str,
        housing: str,
        *,
        landlord_name: str | None = None,
        landlord_phone: str | None = None,
        employer_name: str | None = None,
    ) -> str:
        data = {
            "resident_id": str(resident_id),
            "area_id": str(area_id),
            "address": _required(address, "address"),
            "start_date": _iso_date(start_date, "start_date"),
            "reason": _one_of(reason, REASONS, "reason"),
            "housing": _one_of(housing, HOUSING, "housing"),
            "landlord_name": landlord_name,
            "landlord_phone": landlord_phone,
            "employer_name": employer_name,
        }
        area = self.record("area", area_id)
        record_id = str(uuid.uuid4())
        self._enqueue(
            "registration",
            "create",
            record_id,
            data,
            hints={"station_id": (area or {}).get("data", {}).get("station_id") or self._meta("station_id")},
        )
        return record_id

    def update_resident(self, resident_id: str, **fields: object) -> str:
        """Correct a resident. Only the fields given are sent, so the server's field-by-field merge
        applies what the officer changed and nothing else."""
        stray = sorted(set(fields) - set(RESIDENT_UPDATABLE))
        if stray or not fields:
            raise ClientError(
                f"updatable fields: {', '.join(RESIDENT_UPDATABLE)}" + (f" (not {stray[0]})" if stray else "")
            )
        if "sex" in fields:
            _one_of(fields["sex"], SEXES, "sex")
        row = self._local("resident", resident_id)
        return self._enqueue("resident", "update", str(resident_id), fields, base_version=row["version"])

    def update_registration(self, registration_id: str, **fields: object) -> str:
        stray = sorted(set(fields) - set(REGISTRATION_UPDATABLE))
        if stray or not fields:
            raise ClientError(f"updatable fields: {', '.join(REGISTRATION_UPDATABLE)}")
        row = self._local("registration", registration_id)
        return self._enqueue("registration", "update", str(registration_id), fields, base_version=row["version"])

    def end_registration(self, registration_id: str, end_date: date | str, reason: str) -> str:
        row = self._local("registration", registration_id)
        return self._enqueue(
            "registration",
            "end",
            str(registration_id),
            {"end_date": _iso_date(end_date, "end_date"), "reason": _one_of(reason, END_REASONS, "reason")},
            base_version=row["version"],
        )

    def start_visit(self, visit_id: str) -> str:
        row = self._local("visit", visit_id)
        return self._enqueue("visit", "start", str(visit_id), {}, base_version=row["version"])

    def record_outcome(self, visit_id: str, outcome: str, note: str = "") -> str:
        row = self._local("visit", visit_id)
        return self._enqueue(
            "visit",
            "outcome",
            str(visit_id),
            {"outcome": _one_of(outcome, OUTCOMES, "outcome"), "note": note or ""},
            base_version=row["version"],
        )

    def apply_for_permit(self, resident_id: str, materials: Iterable[Mapping[str, str]] = ()) -> str:
        """``materials``: ``[{"kind": …, "attachment_sha256": …}]`` (files go to /api/v1/attachments)."""
        record_id = str(uuid.uuid4())
        self._enqueue(
            "application",
            "create",
            record_id,
            {"resident_id": str(resident_id), "materials": [dict(m) for m in materials]},
        )
        return record_id

    def supply_material(self, application_id: str, kind: str, attachment_sha256: str) -> str:
        return self._enqueue(
            "application",
            "supply_material",
            str(application_id),
            {"kind": kind, "attachment_sha256": attachment_sha256},
        )

    def handover(
        self,
        delivery_id: str,
        recipient: str,
        identity_number: str,
        *,
        proxy_name: str | None = None,
        proxy_relation: str | None = None,
        signature_sha256: str | None = None,
        handed_over_at: datetime | None = None,
    ) -> str:
        """Hand a permit over at the door, offline: check the ID card against the manifest's digest
        (self only), sign the receipt with this device's key and credential, queue the handover.
        Returns the receipt (a compact JWS) for the citizen's QR. The receipt seq is taken in the
        same transaction as the mutation, so a kill never reuses one, and only a committed receipt
        is ever shown."""
        _one_of(recipient, RECIPIENTS, "recipient")
        row = self._local("delivery", delivery_id)
        delivery = _loads(row["data"])
        if delivery.get("status") != "pending":
            raise ClientError(f"delivery {delivery_id} is {delivery.get('status')}, not pending")
        identity = normalize_for_hint(_required(identity_number, "identity_number"))
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
        key = keys.load_private_key(pem)
        handed = (handed_over_at or datetime.now(UTC)).astimezone().isoformat(timespec="seconds")
        data: JsonObject = {
            "recipient": recipient,
            "identity_number": identity,
            "proxy_name": proxy_name,
            "proxy_relation": proxy_relation,
            "signature_sha256": signature_sha256,
            "handed_over_at": handed,
        }
        touches = [("visit", delivery["visit_id"])] if delivery.get("visit_id") else []

        def sign(conn: sqlite3.Connection) -> None:
            receipt_seq = self._take_counter(conn, "next_receipt_seq")
            data["receipt"] = receipts.sign_receipt(
                key,
                credential,
                permit_number=delivery["permit_number"],
                recipient_name=name,
                identity_number=identity,
                seq=receipt_seq,
            )

        self._enqueue(
            "delivery", "handover", str(delivery_id), data, base_version=row["version"], touches=touches, finish=sign
        )
        return str(data["receipt"])

    # -- queries ---------------------------------------------------------------------------------

    def record(self, entity: str, record_id: str) -> JsonObject | None:
        row = self.db.execute(
            "SELECT * FROM records WHERE entity = ? AND id = ? AND data IS NOT NULL", (entity, str(record_id))
        ).fetchone()
        return None if row is None else self._as_record(row)

    def _as_record(self, row: sqlite3.Row) -> JsonObject:
        pending: int = self.db.execute(
            "SELECT COUNT(*) FROM touches t JOIN outbox o ON o.seq = t.seq WHERE t.entity = ? AND t.record_id = ? "
            "AND o.state IN ('pending', 'sent')",
            (row["entity"], row["id"]),
        ).fetchone()[0]
        return {
            "entity": row["entity"],
            "id": row["id"],
            "version": row["version"],
            "data": _loads(row["data"]),
            "pending": pending,
            "synced": row["base_data"] is not None,
        }

    def records(self, entity: str | None = None) -> list[JsonObject]:
        query = "SELECT * FROM records WHERE data IS NOT NULL" + (" AND entity = ?" if entity else "")  # noqa: S608 (fixed text)
        rows = self.db.execute(query + " ORDER BY entity, id", (entity,) if entity else ())
        return [self._as_record(r) for r in rows]

    def visits(self, day: date | str | None = None) -> list[JsonObject]:
        """The officer's visits (all, or one day's), in the order of the day."""
        wanted = _iso_date(day, "day") if day is not None else None
        out = [r for r in self.records("visit") if wanted is None or r["data"].get("day") == wanted]
        return sorted(out, key=lambda r: (r["data"].get("day") or "", r["data"].get("window_start") or "", r["id"]))

    def pending(self) -> list[JsonObject]:
        return [
            self._mutation(r)
            for r in self.db.execute("SELECT * FROM outbox WHERE state IN ('pending', 'sent') ORDER BY seq")
        ]

    def outbox(self) -> list[JsonObject]:
        return [self._mutation(r) for r in self.db.execute("SELECT * FROM outbox ORDER BY seq")]

    @staticmethod
    def _mutation(row: sqlite3.Row) -> JsonObject:
        return {
            "seq": row["seq"],
            "mutation_id": row["mutation_id"],
            "entity": row["entity"],
            "op": row["op"],
            "id": row["record_id"],
            "base_version": row["base_version"],
            "data": _loads(row["data"]),
            "occurred_at": row["occurred_at"],
            "state": row["state"],
            "attempts": row["attempts"],
        }

    def conflicts(self) -> list[JsonObject]:
        return [
            {
                "mutation_id": r["mutation_id"],
                "seq": r["seq"],
                "entity": r["entity"],
                "id": r["record_id"],
                "kind": r["kind"],
                "fields": _loads(r["fields"]),
                "record": _loads(r["record"]),
                "received_at": r["received_at"],
            }
            for r in self.db.execute("SELECT * FROM conflicts ORDER BY seq")
        ]

    def rejections(self) -> list[JsonObject]:
        return [
            {
                "mutation_id": r["mutation_id"],
                "seq": r["seq"],
                "entity": r["entity"],
                "op": r["op"],
                "id": r["record_id"],
                "data": _loads(r["data"]),
                "errors": _loads(r["errors"]),
                "received_at": r["received_at"],
            }
            for r in self.db.execute("SELECT * FROM rejections ORDER BY seq")
        ]

    def result(self, mutation_id: str) -> JsonObject | None:
        r = self.db.execute("SELECT * FROM results WHERE mutation_id = ?", (mutation_id,)).fetchone()
        return (
            None
            if r is None
            else {
                "mutation_id": r["mutation_id"],
                "seq": r["seq"],
                "status": r["status"],
                "replayed": bool(r["replayed"]),
                "version": r["version"],
                "record": _loads(r["record"]),
                "conflict": _loads(r["conflict"]),
                "errors": _loads(r["errors"]),
            }
        )

    @property
    def cursor(self) -> str | None:
        return self._meta("cursor")

    # -- sync ------------------------------------------------------------------------------------
