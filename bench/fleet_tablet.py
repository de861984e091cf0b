"""One tablet's shift in the fleet bench, and the client process that runs many of them as threads.

Each tablet is its own ``doorstep_client.TabletClient`` (its own SQLite store, its own device key,
its own tokens) over its own ``HttpTransport``; only the Python process is shared, so 200 or 500
tablets fit on a small machine. Timings are taken around each call the tablet makes, so they are
what a tablet waits for, queueing (in gunicorn and in this process) included.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import sys
import threading
import time
import traceback
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from doorstep_client import HttpTransport, TabletClient, TransportError, keys  # noqa: E402

# The steps a tablet times (seconds each); fleet.py prints them in this order.
LOGIN, FIRST_PULL, PUSH, PHOTO, PULL, ROUND, NOOP = (
    "login",
    "first pull",
    "push",
    "photo upload",
    "incremental pull",
    "sync round",
    "no-op round",
)
PUSH_PATH, PULL_PATH, NOOP_PATH = "/api/v1/sync/push", "/api/v1/sync/pull", "/healthz"


def photo_base() -> bytes:
    """A small JPEG (320 x 240, noisy, ≈ 20-30 kB: a resized portrait's order of size)."""
    rng = random.Random(7)
    image = Image.frombytes("RGB", (320, 240), bytes(rng.getrandbits(8) >> 2 for _ in range(320 * 240 * 3)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    return out.getvalue()


def unique_photo(base: bytes, tag: str) -> bytes:
    """``base`` with a comment segment (COM) naming ``tag`` right after the start marker: still a
    valid JPEG, and a hash of its own, as every portrait has."""
    comment = tag.encode()
    return base[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + base[2:]


def identities(tablet: int, count: int) -> list[str]:
    """Valid, unique identity numbers no seeded resident holds (seeded ones are indices < 10^7)."""
    # Not at the top: compose brings the whole app in, which the tablets need nothing else of.
    from compose.seed_scale import identity_number

    return [identity_number(50_000_000 + tablet * 10_000 + k) for k in range(count)]


class TabletTransport(HttpTransport):
    """The reference transport, timed per call, saying which address the tablet calls from
    (``X-Forwarded-For``, believed by a server with ``DOORSTEP_TRUSTED_PROXIES=1``): every tablet
    has its own network, and the server throttles log-ins per address."""

    def __init__(self, base: str, address: str) -> None:
        super().__init__(base, timeout=120)
        self.address = address
        self.timings: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []
        self.calls = 0

    def _send(self, method, path, body, headers):
        return super()._send(method, path, body, {**headers, "X-Forwarded-For": self.address})

    def call(self, method, path, payload=None, **kw):
        label = f"{method} {path.split('?')[0]}"
        self.calls += 1
        started = time.perf_counter()
        try:
            reply = super().call(method, path, payload, **kw)
        except TransportError as exc:
            self.errors.append(f"{label}: {exc}")
            raise
        finally:
            self.timings[label].append(time.perf_counter() - started)
        if reply.status >= 400:
            self.errors.append(f"{label}: HTTP {reply.status} {str(reply.body)[:200]}")
        return reply

    def put_bytes(self, path: str, data: bytes, headers: dict[str, str]) -> int:
        """A raw body (the JSON ``call`` cannot carry one), timed and checked like a call."""
        label = "PUT /api/v1/attachments/<sha256>/content"
        self.calls += 1
        started = time.perf_counter()
        try:
            status, _headers, raw = self._send("PUT", path, data, headers)
        except TransportError as exc:
            self.errors.append(f"{label}: {exc}")
            raise
        finally:
            self.timings[label].append(time.perf_counter() - started)
        if status >= 400:
            self.errors.append(f"{label}: HTTP {status} {raw[:200]!r}")
        return status


def upload_photo(client, transport, data: bytes, sha256: str) -> None:
    """Declare the photo (``sha256``: its hash), then PUT its bytes where the answer says (the
    local store's API URL), signed like every request of a device-bound token."""
    declared = client._request(
        "POST",
        "/api/v1/attachments",
        {"sha256": sha256, "content_type": "image/jpeg", "size": len(data), "kind": "photo"},
    )
    upload = declared.get("upload")
    if upload:  # None: stored already
        token = client._access_token()
        headers = {
            **upload.get("headers", {}),
            "Content-Type": "image/jpeg",
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
        }
        proof_key = client._device_key()
        headers["Device-Proof"] = keys.proof_header(
            proof_key, "PUT", upload["url"], token, int(time.time()) + client._proof_offset
        )
        transport.put_bytes(upload["url"], data, headers)


def converged(client) -> tuple[bool, list]:
    """The tablet's view against a fresh full pull of its scope (cursor null), record by record."""
    fresh, cursor = {}, None
    while True:
        page = client._request("POST", PULL_PATH, {"protocol": 1, "cursor": cursor, "limit": 1000}, compress=True)
        for change in page["changes"]:
            if change["op"] == "upsert":
                fresh[(change["entity"], str(change["id"]))] = (change["version"], change["data"])
        cursor = page["cursor"]
        if not page["has_more"]:
            break
    local = {(r["entity"], r["id"]): (r["version"], r["data"]) for r in client.records()}
    pending = client.pending()
    diff = sorted(f"{k[0]} {k[1]}" for k in set(fresh) | set(local) if fresh.get(k) != local.get(k))
    return not diff and not pending, diff[:5] + [f"{len(pending)} pending"] * bool(pending)


class Shift:
    """One tablet's day: the steps it times, its errors, and whether it converged."""

    def __init__(self, p: dict, base: str, workdir: str, work: dict, photo: bytes) -> None:
        self.p, self.base, self.workdir, self.work, self.photo = p, base, workdir, work, photo
        self.steps: dict[str, list[float]] = defaultdict(list)
        self.summary = {
            "index": p["index"],
            "errors": [],
            "converged": False,
            "mutations": 0,
            "photos": 0,
            "records": 0,
        }
        i = p["index"]
        self.transport = TabletTransport(base, f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}")
        self.client = None
        self.portraits: list[tuple[bytes, str]] = []
        self.rng = random.Random(i)

    def timed(self, step: str, fn, *args, **kw):
        started = time.perf_counter()
        try:
            return fn(*args, **kw)
        finally:
            self.steps[step].append(time.perf_counter() - started)

    def think(self, seconds: float) -> None:
        """An officer's time between two syncs, jittered so that tablets do not march in step."""
        if seconds > 0:
            time.sleep(seconds * self.rng.uniform(0.5, 1.5))

    def sync_round(self, r: int) -> None:
        """One sync (push, then pulls until quiescent), then at once as many no-op requests as it
        made: the same tablet, the same moment, the same load, nothing but HTTP (the floor)."""
        client, transport = self.client, self.transport
        pushes_before = len(transport.timings[f"POST {PUSH_PATH}"])
        calls_before = transport.calls
        report = self.timed(ROUND, client.sync)
        self.steps[PUSH].extend(transport.timings[f"POST {PUSH_PATH}"][pushes_before:])
        if report.rejected or report.conflicts:
            self.summary["errors"].append(
                f"round {r}: {report.rejected} rejected, {report.conflicts} conflicts: {client.rejections()[:2]}"
            )
        calls = transport.calls - calls_before
        started = time.perf_counter()
        for _ in range(calls):
            transport.call("GET", NOOP_PATH)
        self.steps[NOOP].append(time.perf_counter() - started)

    def work_round(self, r: int, people: list[str], my_visits: list[str]) -> list[tuple[bytes, str]]:
        """Offline: register people (with a photo each) and their residence, record outcomes."""
        p, client, rounds = self.p, self.client, max(1, self.work["rounds"])
        today = date.today()
        photos = []
        for k in range(r, len(people), rounds):
            photo, sha256 = self.portraits[k]
            photos.append((photo, sha256))
            resident = client.register_resident(
                f"测试{p['index']}号{k}",
                ("male", "female")[k % 2],
                people[k],
                phone=f"139{p['index']:03d}{k:05d}",
                hukou_address="河南省信阳市浉河区某某村",
                photo_sha256=sha256,
            )
            housing = ("rented", "owned", "employer")[k % 3]
            client.register_residence(
                resident,
                p["area_id"],
                f"东湖路{k + 1}号{p['index']}室",
                today - timedelta(days=k % 200),
                "work",
                housing,
                landlord_name="陈房东" if housing == "rented" else None,
                employer_name="华东机械有限公司" if housing == "employer" else None,
            )
            self.summary["mutations"] += 2
        for k in range(r, len(my_visits), rounds):
            client.record_outcome(my_visits[k], ("completed", "not_home")[k % 2], "bench")
            self.summary["mutations"] += 1
        return photos

    def run(self, barrier) -> dict:
        """The whole shift; returns the summary whatever happens."""
        p, work = self.p, self.work
        try:
            # The bench's own work before the officer starts, as sync_push makes its bodies first: the
            # portraits (a camera's, not the server's, CPU) and the people they show.
            people = identities(p["index"], work["registrations"])
            self.portraits = [
                (photo, hashlib.sha256(photo).hexdigest())
                for k in range(len(people))
                for photo in [unique_photo(self.photo, f"fleet {p['index']} {k} {people[k]}")]
            ]
            time.sleep(work["ramp"] * p["index"] / max(1, work["tablets"]))  # officers start one after another
            self.client = client = TabletClient(
                os.path.join(self.workdir, f"tablet{p['index']}.sqlite3"),
                self.transport,
                sleep=time.sleep,
                max_attempts=3,
            )
            client.enroll(self.base, p["enrollment_code"])
            self.timed(LOGIN, client.login, p["officer"], p["password"])
            self.timed(FIRST_PULL, client.sync)  # the whole scope

            my_visits = [
                v["id"]
                for v in client.visits()
                if v["data"].get("status") == "assigned" and v["data"].get("officer_id") == p["officer_id"]
            ]
            for r in range(max(1, work["rounds"])):
                self.think(work["think"])
                for photo, sha256 in self.work_round(r, people, my_visits):
                    self.timed(PHOTO, upload_photo, client, self.transport, photo, sha256)
                    self.summary["photos"] += 1
                self.sync_round(r)
            for _ in range(work["pulls"]):  # the rest of the shift: incremental pulls
                self.think(work["think"])
                self.timed(PULL, client.pull)
        except BaseException as exc:
            self.summary["errors"].append(f"tablet failed: {exc!r}\n{traceback.format_exc()[-1500:]}")
        finally:
            self.check(barrier)
        return self.summary

    def check(self, barrier) -> None:
        """Convergence: everyone syncs, waits for the others, syncs again, then compares."""
        client, summary = self.client, self.summary
        try:
            barrier.wait(timeout=1800)
            if client is not None and not summary["errors"]:
                client.sync()
            barrier.wait(timeout=1800)
            if client is not None and not summary["errors"]:
                client.sync()
                summary["converged"], summary["diff"] = converged(client)
                summary["records"] = len(client.records())
        except BaseException as exc:
            summary["errors"].append(f"convergence check failed: {exc!r}")
        summary["errors"] += self.transport.errors
        summary["calls"] = dict(self.transport.timings)
        summary["steps"] = dict(self.steps)
        if client is not None:
            client.close()


def client_process(plans: list[dict], base: str, workdir: str, work: dict, barrier, results) -> None:
    """A client process: its tablets as threads, each a whole tablet; one summary each on ``results``."""
    photo = photo_base()
    summaries: list[dict] = []
    lock = threading.Lock()

    def one(p: dict) -> None:
        summary = Shift(p, base, workdir, work, photo).run(barrier)
        with lock:
            summaries.append(summary)

    threads = [threading.Thread(target=one, args=(p,), name=f"tablet-{p['index']}") for p in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for summary in summaries:
        results.put(summary)
