"""The reference tablet client without the server: its SQLite writes (durable, kill-safe), its
outbox, and how it applies what a server says, against canned answers.

``CannedServer`` is a fake transport that speaks the wire format: it decodes (gzip) request bodies
like the server, answers pull from a queue of recorded pages and push with per-mutation results
(by default ``applied``, with replay of a mutation id it has seen)."""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import doorstep_client.cli as sc_cli
import doorstep_client.transport as sc_transport
from doorstep_client import (
    ClientError,
    Crash,
    FaultyTransport,
    ProblemError,
    ServerUnavailable,
    TabletClient,
    Transport,
)
from doorstep_protocol.encoding import b64url
from tests.fixtures.clock import clock_env

ROOT = Path(__file__).resolve().parents[2]
ID = "330106199003071236"
AREA = "a0000000-0000-4000-8000-000000000001"
STATION = "50000000-0000-4000-8000-000000000001"


def _jwt(exp: int) -> str:
    """An unsigned token with an ``exp``: the client only reads it to refresh in time."""

    def b64(obj):
        return b64url(json.dumps(obj).encode())

    return f"{b64({'alg': 'none'})}.{b64({'exp': exp})}.sig"


def visit(vid, version=1, status="assigned", day="2026-11-21", start="09:00", **over):
    data = {
        "kind": "home",
        "status": status,
        "day": day,
        "window_start": start,
        "window_end": "12:00",
        "address": "北山街道12号",
        "area_id": AREA,
        "officer_id": "o1",
        "booking_reference": None,
        "purpose": "registration",
        "contact_name": "王",
        "contact_phone": "138****0000",
        "outcome_note": None,
    }
    data.update(over)
    return {"seq": 0, "entity": "visit", "id": vid, "op": "upsert", "version": version, "data": data}


def resident(rid, version=1, **over):
    data = {
        "name": "张伟",
        "sex": "male",
        "ethnicity": "汉族",
        "identity_number": "3301**********1236",
        "phone": "138****5678",
        "hukou_address": "",
        "photo_sha256": None,
    }
    data.update(over)
    return {"seq": 0, "entity": "resident", "id": rid, "op": "upsert", "version": version, "data": data}


def area_change():
    return {
        "seq": 0,
        "entity": "area",
        "id": AREA,
        "op": "upsert",
        "version": 3,
        "data": {"station_id": STATION, "code": "A1", "name": "北山社区", "kind": "community"},
    }


def page(*changes, cursor="c1", has_more=False, reset=False):
    return {"protocol": 1, "changes": list(changes), "cursor": cursor, "has_more": has_more, "reset": reset}


def applied(m, version=1, record=None, **over):
    rec = record if record is not None else {"id": m["id"], **m["data"]}
    return {
        "mutation_id": m["mutation_id"],
        "seq": m["seq"],
        "status": "applied",
        "replayed": False,
        "version": version,
        "record": rec,
        "conflict": None,
        "errors": None,
        **over,
    }


class CannedServer(Transport):
    """Answers like the server would, from a script. ``pages``: pull answers in order (then an
    empty page that keeps the last cursor). ``push_answer(mutation) -> result`` (default: applied;
    a mutation id seen before gets its first result back with ``replayed: true``). ``replies``:
    (path prefix, status, body) answers to give before anything else."""

    def __init__(self):
        self.pages: deque = deque()
        self.replies: deque = deque()
        self.requests: list[dict] = []
        self.results: dict[str, dict] = {}
        self.bodies: dict[str, dict] = {}
        self.push_answer = applied
        self.cursor = None

    def _send(self, method, path, body, headers):
        raw = gzip.decompress(body) if body and headers.get("Content-Encoding") == "gzip" else body
        payload = json.loads(raw) if raw else None
        self.requests.append(
            {"path": path, "json": payload, "headers": dict(headers), "gzip": headers.get("Content-Encoding") == "gzip"}
        )
        if self.replies and path.startswith(self.replies[0][0]):
            _, status, out = self.replies.popleft()
        elif path == "/api/v1/sync/pull":
            status, out = 200, (self.pages.popleft() if self.pages else page(cursor=payload["cursor"] or "c0"))
        elif path == "/api/v1/sync/push":
            status, out = (
                200,
                {
                    "protocol": 1,
                    "results": [self._push_one(m) for m in payload["mutations"]],
                    "last_seq": max(m["seq"] for m in payload["mutations"]),
                },
            )
        else:
            status, out = 404, {"type": "https://doorstep.local/problems/not-found", "status": 404}
        data = json.dumps(out).encode()
        resp_headers = {"Content-Type": "application/json" if status < 400 else "application/problem+json"}
        if "gzip" in headers.get("Accept-Encoding", "") and len(data) > 200:
            data, resp_headers["Content-Encoding"] = gzip.compress(data), "gzip"
        return status, resp_headers, data

    def _push_one(self, m):
        mid = m["mutation_id"]
        if mid in self.results:
            assert self.bodies[mid] == m, "a resent mutation must be byte-for-byte the same"
            return {**self.results[mid], "replayed": True}
        result = self.push_answer(m)
        self.results[mid], self.bodies[mid] = result, m
        return result

    def paths(self):
        return [r["path"] for r in self.requests]

    def pushed(self):
        return [m for r in self.requests if r["path"] == "/api/v1/sync/push" for m in r["json"]["mutations"]]


@pytest.fixture
def server():
    return CannedServer()


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "tablet.sqlite3")


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def tablet_for(db_path, sleeps):
    """A logged-in tablet on a transport; reopen with the same path to simulate a restart."""
    opened = []

    def open_(transport, **kw):
        c = TabletClient(db_path, transport, sleep=sleeps.append, **kw)
        with c._tx() as conn:
            c._set_meta(
                conn,
                server_url="http://tablet.test",
                device_id=str(uuid.uuid4()),
                station_id=STATION,
                access_token=_jwt(int(time.time()) + 900),
                refresh_token="r1",
            )
        opened.append(c)
        return c

    yield open_
    for c in opened:
        try:
            c.close()
        except sqlite3.ProgrammingError:
            pass


@pytest.fixture
def tablet(tablet_for, server):
    return tablet_for(server)


def seeded(tablet, server, *changes):
    """Pull a first page holding ``changes`` (and the area) into the tablet."""
    server.pages.append(page(area_change(), *changes, cursor="c1"))
    tablet.pull()
    return tablet


# --- the local database ----------------------------------------------------------------------


def test_schema_is_created_on_open(db_path):
    TabletClient(db_path).close()
    names = {r[0] for r in sqlite3.connect(db_path).execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"records", "outbox", "meta", "results", "conflicts", "rejections", "touches"} <= names
    cols = {r[1] for r in sqlite3.connect(db_path).execute("PRAGMA table_info(outbox)")}
    assert {"seq", "mutation_id", "entity", "op", "record_id", "base_version", "data", "occurred_at", "state"} <= cols


def test_outbox_and_optimistic_records_survive_close_and_reopen(db_path):
    with TabletClient(db_path) as c:
        rid = c.register_resident("张伟", "male", ID, phone="13812345678")
        reg = c.register_residence(rid, AREA, "北山街道12号", "2026-05-01", "work", "rented", landlord_name="李")
    with TabletClient(db_path) as c:
        assert [(m["entity"], m["op"], m["id"], m["state"]) for m in c.pending()] == [
            ("resident", "create", rid, "pending"),
            ("registration", "create", reg, "pending"),
        ]
        person = c.record("resident", rid)
        assert person["data"]["name"] == "张伟" and person["version"] is None and person["pending"] == 1
        assert person["data"]["identity_number"] == "3301**********1236"  # masked like the server does
        assert person["data"]["phone"] == "138****5678"
        assert c.record("registration", reg)["data"]["status"] == "active"
        assert c.pending()[0]["data"]["identity_number"] == ID  # the outbox keeps what to send


def test_seq_rises_strictly_across_restarts_and_ids_are_uuid4(db_path):
    seqs, ids = [], []
    for _ in range(3):
        with TabletClient(db_path) as c:
            ids.append(c.register_resident("张伟", "male", ID))
            ids.append(c.apply_for_permit(ids[-1]))
            seqs = [m["seq"] for m in c.outbox()]
    assert seqs == list(range(1, 7))
    assert all(uuid.UUID(i).version == 4 for i in ids)
    with TabletClient(db_path) as c:
        mids = [m["mutation_id"] for m in c.outbox()]
        assert len(set(mids)) == 6 and all(uuid.UUID(m).version == 4 for m in mids)
        assert c._meta("next_seq") == "7"


def test_a_crash_inside_a_ui_write_leaves_nothing_behind(db_path):
    with TabletClient(db_path) as c:
        c.register_resident("先", "male", ID)

    def kill(point):
        if point == "enqueue:before-commit":
            raise Crash(point)

    c = TabletClient(db_path, fault_hook=kill)
    with pytest.raises(Crash):
        c.register_resident("后", "female", ID)
    c.close()
    with TabletClient(db_path) as c:
        assert [m["data"]["name"] for m in c.outbox()] == ["先"]
        assert [r["data"]["name"] for r in c.records("resident")] == ["先"]
        assert c._meta("next_seq") == "2"
        assert c.register_resident("再", "female", ID) and [m["seq"] for m in c.outbox()] == [1, 2]


KILL_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from doorstep_client import TabletClient
    c = TabletClient({db!r})
    print("ready", flush=True)
    i = 0
    while True:
        rid = c.register_resident(f"居民{{i}}", "male", "330106199003071236")
        c.register_residence(rid, "{area}", f"北山街道{{i}}号", "2026-05-01", "work", "owned")
        print(i, flush=True)
        i += 1
""")


def test_sigkill_at_a_random_instant_keeps_the_outbox_and_the_view_consistent(tmp_path):
    """A real kill -9 while the tablet writes as fast as it can, several times over: every
    mutation that made it has its local record, seqs stay contiguous, nothing is half-written."""
    db = str(tmp_path / "killed.sqlite3")
    for round_ in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-c", KILL_SCRIPT.format(root=str(ROOT), db=db, area=AREA)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=clock_env(),
        )
        assert proc.stdout.readline().strip() == b"ready", proc.stderr.read()
        # Kill once it has written a few registrations (more each round), wherever it then is.
        for _ in range(3 + random.randrange(3 + 3 * round_)):
            assert proc.stdout.readline(), proc.stderr.read()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        with TabletClient(db) as c:
            out = c.outbox()
            assert [m["seq"] for m in out] == list(range(1, len(out) + 1))
            assert int(c._meta("next_seq")) == len(out) + 1
            for m in out:
                assert c.record(m["entity"], m["id"]) is not None, m
            records = c.records()
            assert len(records) == len(out)
    assert len(out) > 10


# --- UI actions: optimistic local state --------------------------------------------------------


def test_visit_actions_apply_locally_at_once(tablet, server):
    seeded(tablet, server, visit("v1", 4), visit("v2", 2, day="2026-11-22"))
    tablet.start_visit("v1")
    assert tablet.record("visit", "v1")["data"]["status"] == "en_route"
    tablet.record_outcome("v1", "not_home", "nobody answered")
    v = tablet.record("visit", "v1")
    assert v["data"]["status"] == "not_home" and v["data"]["outcome_note"] == "nobody answered"
    assert v["version"] == 4 and v["pending"] == 2
    assert [m["base_version"] for m in tablet.pending()] == [4, 4]
    assert [x["id"] for x in tablet.visits("2026-11-21")] == ["v1"]
    assert [x["id"] for x in tablet.visits()] == ["v1", "v2"]


def test_ui_actions_refuse_bad_input_before_writing(tablet, server):
    seeded(tablet, server, visit("v1"))
    with pytest.raises(ClientError):
        tablet.record_outcome("v1", "gone_fishing")
    with pytest.raises(ClientError):
        tablet.record_outcome("nope", "completed")
    with pytest.raises(ClientError):
        tablet.register_resident("张", "x", ID)
    with pytest.raises(ClientError):
        tablet.register_residence("r", AREA, "addr", "2026-13-01", "work", "owned")
    with pytest.raises(ClientError):
        tablet.update_resident("r", identity_number="x")
    for wrong, why in [
        ("330106199003071234", "check character"),
        ("33010619900307123", "18 characters"),
        ("330106209912311230", "out of range"),
        ("330106199002301236", "not a real date"),
    ]:
        with pytest.raises(ClientError, match=why):
            tablet.register_resident("张伟", "male", wrong)
    assert tablet.outbox() == []


def test_registration_takes_the_station_of_its_area(tablet, server):
    seeded(tablet, server)
    reg = tablet.register_residence(str(uuid.uuid4()), AREA, "北山街道1号", "2026-05-01", "work", "owned")
    assert tablet.record("registration", reg)["data"]["station_id"] == STATION
    assert "landlord_phone" not in tablet.record("registration", reg)["data"]


def test_unsent_updates_of_one_record_are_folded_sent_ones_are_frozen(tablet, server):
    seeded(tablet, server, resident("r1", 5))
    first = tablet.update_resident("r1", name="张三")
    assert tablet.update_resident("r1", phone="13900001111") == first
    assert [(m["op"], m["data"], m["base_version"]) for m in tablet.pending()] == [
        ("update", {"name": "张三", "phone": "13900001111"}, 5)
    ]
    assert tablet.record("resident", "r1")["data"]["phone"] == "139****1111"
    faulty = FaultyTransport(server).drop_request("/api/v1/sync/push", exc=Crash("killed"))
    tablet._transport = faulty
    with pytest.raises(Crash):
        tablet.push()
    assert tablet.update_resident("r1", name="张四") != first  # the first may have left: frozen
    assert [m["data"] for m in tablet.pending()] == [{"name": "张三", "phone": "13900001111"}, {"name": "张四"}]


# --- push ----------------------------------------------------------------------------------------


def test_push_sends_in_seq_order_marks_settled_and_takes_the_servers_record(tablet, server):
    rid = tablet.register_resident("张伟", "male", ID)
    reg = tablet.register_residence(rid, AREA, "北山街道12号", "2026-05-01", "work", "owned")

    def answer(m):
        if m["entity"] == "registration":
            return applied(
                m,
                1,
                {
                    "id": m["id"],
                    **{k: v for k, v in m["data"].items() if k != "landlord_phone"},
                    "station_id": STATION,
                    "maturity_date": "2026-11-01",
                    "status": "active",
                },
            )
        return applied(m, 1, {"id": m["id"], **m["data"], "identity_number": "3301**********1236"})

    server.push_answer = answer
    report = tablet.push()
    assert [m["seq"] for m in server.pushed()] == [1, 2]
    assert report.applied == 2 and tablet.pending() == []
    assert [m["state"] for m in tablet.outbox()] == ["applied", "applied"]
    assert tablet.record("registration", reg)["data"]["maturity_date"] == "2026-11-01"
    assert tablet.record("registration", reg)["version"] == 1
    assert tablet.result(tablet.outbox()[0]["mutation_id"])["status"] == "applied"


def test_push_batches_are_at_most_500(tablet, server):
    for i in range(1203):
        tablet.apply_for_permit(f"r{i}")
    tablet.push()
    sizes = [len(r["json"]["mutations"]) for r in server.requests if r["path"] == "/api/v1/sync/push"]
    assert sizes == [500, 500, 203]
    assert all(r["gzip"] for r in server.requests if r["path"] == "/api/v1/sync/push")
    assert tablet.pending() == []


def test_a_413_halves_the_batch(tablet, server):
    for i in range(10):
        tablet.apply_for_permit(f"r{i}")
    server.replies.append(("/api/v1/sync/push", 413, {"type": "x/payload-too-large", "status": 413}))
    tablet.push()
    sizes = [len(r["json"]["mutations"]) for r in server.requests]
    assert sizes == [10, 5, 5]


def test_a_conflict_is_stored_and_the_merged_record_shown(tablet, server):
    seeded(tablet, server, resident("r1", 3, name="张伟", phone="138****5678"))
    tablet.update_resident("r1", name="张卫", hukou_address="河南")
    server.push_answer = lambda m: {
        **applied(m, 5, {"id": "r1", **resident("r1")["data"], "name": "张维", "hukou_address": "河南"}),
        "status": "conflict",
        "conflict": {"kind": "fields", "fields": {"name": {"server": "张维", "device": "张卫"}}},
    }
    report = tablet.push()
    assert report.conflicts == 1
    r = tablet.record("resident", "r1")
    assert (r["data"]["name"], r["data"]["hukou_address"], r["version"], r["pending"]) == ("张维", "河南", 5, 0)
    [c] = tablet.conflicts()
    assert c["kind"] == "fields" and c["fields"]["name"] == {"server": "张维", "device": "张卫"} and c["id"] == "r1"


def test_a_rejected_update_is_rolled_back_exactly_and_kept_for_the_officer(tablet, server):
    seeded(tablet, server, resident("r1", 3), visit("v1", 2))
    tablet.update_resident("r1", name="错", phone="13900001111")
    tablet.record_outcome("v1", "completed")

    def answer(m):
        if m["entity"] == "resident":
            return {
                **applied(m),
                "status": "rejected",
                "version": None,
                "record": None,
                "errors": {"phone": ["not a mobile number"]},
            }
        return applied(m, 3, {"id": "v1", **visit("v1")["data"], "status": "completed"})

    server.push_answer = answer
    report = tablet.push()
    assert (report.rejected, report.applied) == (1, 1)
    assert tablet.record("resident", "r1")["data"] == resident("r1")["data"]  # as the server has it
    assert tablet.record("visit", "v1")["data"]["status"] == "completed"  # the one after it still applied
    [rej] = tablet.rejections()
    assert rej["op"] == "update" and rej["errors"] == {"phone": ["not a mobile number"]}
    assert rej["data"]["phone"] == "139****1111"  # shown masked
    assert tablet.pending() == []


def test_a_rejected_create_disappears_and_what_depended_on_it_follows(tablet, server):
    rid = tablet.register_resident("张伟", "male", ID)
    reg = tablet.register_residence(rid, AREA, "北山街道12号", "2026-05-01", "work", "owned")
    server.push_answer = lambda m: {
        **applied(m),
        "status": "rejected",
        "version": None,
        "record": None,
        "errors": {"identity_number": ["invalid"]} if m["entity"] == "resident" else {"resident_id": ["not found"]},
    }
    tablet.push()
    assert tablet.record("resident", rid) is None and tablet.record("registration", reg) is None
    assert [r["entity"] for r in tablet.rejections()] == ["resident", "registration"]
    assert tablet.records("resident") == []


def test_a_replayed_result_is_taken_like_a_first_one(tablet, server):
    seeded(tablet, server, visit("v1", 2))
    tablet.record_outcome("v1", "completed")
    queued = tablet.pending()[0]
    mid = queued["mutation_id"]
    # The server applied it on an earlier push whose answer never arrived.
    server.results[mid] = applied(
        {"mutation_id": mid, "seq": 1, "id": "v1", "data": {}},
        3,
        {"id": "v1", **visit("v1")["data"], "status": "completed"},
    )
    server.bodies[mid] = {
        k: queued[k] for k in ("mutation_id", "seq", "entity", "op", "id", "base_version", "data", "occurred_at")
    }
    report = tablet.push()
    assert report.replayed == 1 and report.applied == 1
    v = tablet.record("visit", "v1")
    assert (v["data"]["status"], v["version"]) == ("completed", 3)


def test_a_stale_replayed_record_never_overwrites_a_newer_one(tablet, server):
    seeded(tablet, server, resident("r1", 3))
    tablet.update_resident("r1", name="张三")
    server.push_answer = lambda m: {
        **applied(m, 4, {"id": "r1", **resident("r1")["data"], "name": "张三"}),
        "replayed": True,
    }
    server.pages.append(page(resident("r1", 6, name="张三丰"), cursor="c2"))
    tablet.pull()  # a newer version arrives first
    tablet.push()
    r = tablet.record("resident", "r1")
    assert (r["data"]["name"], r["version"]) == ("张三丰", 6)


def test_a_create_linked_to_an_existing_resident_follows_the_servers_id(tablet, server):
    rid = tablet.register_resident("张伟", "male", ID)
    known = str(uuid.uuid4())
    server.push_answer = lambda m: applied(m, 7, {"id": known, **resident(known)["data"]})
    tablet.push()  # the create alone
    assert tablet.record("resident", rid) is None  # never existed on the server
    assert tablet.record("resident", known)["version"] == 7
    assert tablet.records("resident") == [tablet.record("resident", known)]


def test_pending_mutations_that_have_not_left_follow_a_linked_id(tablet, server):
    rid = tablet.register_resident("张伟", "male", ID)
    reg = tablet.register_residence(rid, AREA, "北山街道12号", "2026-05-01", "work", "owned")
    known = str(uuid.uuid4())
    tablet.batch_size = 1  # the registration has not left yet
    server.push_answer = lambda m: (
        applied(m, 7, {"id": known, **resident(known)["data"]}) if m["entity"] == "resident" else applied(m)
    )
    tablet.push()
    assert [m["data"].get("resident_id") for m in server.pushed()] == [None, known]
    assert tablet.record("registration", reg)["data"]["resident_id"] == known


def test_results_for_entities_the_pull_never_serves_are_not_kept_as_records(tablet, server):
    app_id = tablet.apply_for_permit("r1", [{"kind": "photo", "attachment_sha256": "a" * 64}])
    assert tablet.record("application", app_id)["data"]["status"] == "queued"
    server.push_answer = lambda m: applied(m, None, {"id": m["id"]})
    tablet.push()
    assert tablet.record("application", app_id) is None
    assert tablet.result(tablet.outbox()[0]["mutation_id"])["record"] == {"id": app_id}


# --- transport errors, retries, problems ---------------------------------------------------------


def test_lost_requests_and_5xx_are_retried_with_exponential_backoff(tablet_for, server, sleeps):
    faulty = FaultyTransport(server).drop_request("/api/v1/sync/push").drop_request("/api/v1/sync/push", nth=2)
    tablet = tablet_for(faulty)
    tablet.apply_for_permit("r1")
    server.replies.append(("/api/v1/sync/push", 503, {"status": 503}))
    tablet.push()
    assert tablet.pending() == []
    assert len(sleeps) == 3
    # jittered between half and all of 0.5, 1, 2 seconds
    for delay, base in zip(sleeps, (0.5, 1, 2), strict=True):
        assert base / 2 <= delay <= base


def test_retries_give_up_and_nothing_is_lost(tablet_for, server, sleeps):
    tablet = tablet_for(server, max_attempts=3)
    tablet.apply_for_permit("r1")
    for _ in range(3):
        server.replies.append(("/api/v1/sync/push", 502, None))
    with pytest.raises(ServerUnavailable):
        tablet.sync()
    assert len(sleeps) == 2 and [m["state"] for m in tablet.pending()] == ["sent"]
    tablet.sync()
    assert tablet.pending() == []


def test_a_4xx_problem_is_surfaced_not_retried(tablet, server, sleeps):
    tablet.apply_for_permit("r1")
    server.replies.append(
        (
            "/api/v1/sync/push",
            401,
            {
                "type": "https://doorstep.local/problems/device-revoked",
                "status": 401,
                "detail": "This device has been revoked",
            },
        )
    )
    with pytest.raises(ProblemError) as exc:
        tablet.sync()
    assert exc.value.slug == "device-revoked" and exc.value.status == 401
    assert sleeps == [] and len(tablet.pending()) == 1 and server.paths() == ["/api/v1/sync/push"]


def test_an_expired_access_token_is_refreshed_once_and_the_request_sent_again(tablet, server):
    server.replies.append(
        ("/api/v1/sync/pull", 401, {"type": "https://doorstep.local/problems/token-expired", "status": 401})
    )
    new_access = _jwt(int(time.time()) + 900)
    server.replies.append(
        ("/api/v1/auth/refresh", 200, {"access_token": new_access, "refresh_token": "r2", "device_credential": "dc2"})
    )
    tablet.pull()
    assert server.paths() == ["/api/v1/sync/pull", "/api/v1/auth/refresh", "/api/v1/sync/pull"]
    assert server.requests[1]["json"] == {"refresh_token": "r1"}
    assert server.requests[2]["headers"]["Authorization"] == f"Bearer {new_access}"
    assert (tablet._meta("refresh_token"), tablet._meta("device_credential")) == ("r2", "dc2")


def test_an_access_token_about_to_expire_is_refreshed_before_sending(tablet, server):
    with tablet._tx() as conn:
        tablet._set_meta(conn, access_token=_jwt(int(time.time()) + 5))
    server.replies.append(
        ("/api/v1/auth/refresh", 200, {"access_token": _jwt(int(time.time()) + 900), "refresh_token": "r2"})
    )
    tablet.pull()
    assert server.paths() == ["/api/v1/auth/refresh", "/api/v1/sync/pull"]


def test_a_refused_refresh_ends_the_session(tablet, server):
    server.replies.append(("/api/v1/sync/pull", 401, {"type": "x/token-expired", "status": 401}))
    server.replies.append(("/api/v1/auth/refresh", 401, {"type": "x/refresh-token-reused", "status": 401}))
    with pytest.raises(ClientError, match="log in again"):
        tablet.pull()
    assert tablet._meta("access_token") is None and tablet._meta("refresh_token") is None
    with pytest.raises(ClientError, match="not logged in"):
        tablet.pull()


def test_an_answer_in_another_protocol_is_refused(tablet, server):
    server.pages.append({**page(), "protocol": 2})
    with pytest.raises(ClientError, match="protocol 2"):
        tablet.pull()
    assert tablet.cursor is None


# --- kill safety around the network ----------------------------------------------------------------


def test_killed_after_the_server_applied_a_push_it_resends_the_same_mutations(tablet_for, server, db_path):
    faulty = FaultyTransport(server).crash_after("/api/v1/sync/push")
    tablet = tablet_for(faulty)
    rid = tablet.register_resident("张伟", "male", ID)
    tablet.register_residence(rid, AREA, "北山街道12号", "2026-05-01", "work", "owned")
    with pytest.raises(Crash):
        tablet.sync()
    tablet.close()
    again = TabletClient(db_path, server)
    assert [m["state"] for m in again.pending()] == ["sent", "sent"]
    report = again.sync()
    again.close()
    first, second = [r["json"]["mutations"] for r in server.requests if r["path"] == "/api/v1/sync/push"]
    assert first == second  # same ids, same content
    assert report.replayed == 2 and report.applied == 2
    assert len(server.results) == 2  # the server applied each once


def test_killed_before_the_push_left_it_sends_it_later(tablet_for, server, db_path):
    tablet = tablet_for(FaultyTransport(server).crash_before("/api/v1/sync/push"))
    tablet.apply_for_permit("r1")
    with pytest.raises(Crash):
        tablet.sync()
    with TabletClient(db_path, server) as again:
        again.sync()
        assert again.pending() == [] and len(server.results) == 1


def test_killed_while_applying_push_results_nothing_is_half_applied(tablet_for, server, db_path):
    def kill(point):
        if point == "push:results-before-commit":
            raise Crash(point)

    tablet = tablet_for(server, fault_hook=kill)
    seeded(tablet, server, visit("v1", 2))
    tablet.record_outcome("v1", "completed")
    server.push_answer = lambda m: applied(m, 3, {"id": "v1", **visit("v1")["data"], "status": "completed"})
    with pytest.raises(Crash):
        tablet.push()
    with TabletClient(db_path, server) as again:
        [m] = again.pending()
        assert m["state"] == "sent" and again.result(m["mutation_id"]) is None
        assert again.record("visit", "v1")["version"] == 2
        again.sync()
        assert again.record("visit", "v1")["version"] == 3 and again.pending() == []


def test_killed_mid_pull_it_resumes_from_the_last_applied_page(tablet_for, server, db_path):
    server.pages.extend(
        [
            page(visit("v1"), cursor="p1", has_more=True),
            page(visit("v2"), cursor="p2", has_more=True),
            page(visit("v3"), cursor="p3"),
        ]
    )
    tablet = tablet_for(FaultyTransport(server).crash_after("/api/v1/sync/pull", nth=2))
    with pytest.raises(Crash):
        tablet.pull()
    with TabletClient(db_path, server) as again:
        assert again.cursor == "p1" and [v["id"] for v in again.visits()] == ["v1"]
        server.pages.appendleft(page(visit("v2"), cursor="p2", has_more=True))  # served again after p1
        again.pull()
        assert [r["json"]["cursor"] for r in server.requests] == [None, "p1", "p1", "p2"]
        assert [v["id"] for v in again.visits()] == ["v1", "v2", "v3"] and again.cursor == "p3"


def test_a_crash_while_applying_a_page_keeps_the_old_cursor_and_records(tablet_for, server, db_path):
    def kill(point):
        if point == "pull:page-before-commit":
            raise Crash(point)

    server.pages.append(page(visit("v1"), cursor="p1"))
    tablet = tablet_for(server, fault_hook=kill)
    with pytest.raises(Crash):
        tablet.pull()
    with TabletClient(db_path) as again:
        assert again.cursor is None and again.visits() == []


# --- pull ------------------------------------------------------------------------------------------


def test_pull_pages_until_done_and_stores_each_cursor(tablet, server):
    server.pages.extend([page(visit("v1"), cursor="p1", has_more=True), page(visit("v2"), cursor="p2")])
    report = tablet.pull()
    assert (report.pages, report.pulled, tablet.cursor) == (2, 2, "p2")
    assert [r["json"] for r in server.requests] == [
        {"protocol": 1, "cursor": None, "limit": 1000},
        {"protocol": 1, "cursor": "p1", "limit": 1000},
    ]


def test_upserts_replace_only_with_a_version_at_least_as_new(tablet, server):
    seeded(tablet, server, visit("v1", 5, address="old"))
    server.pages.append(page(visit("v1", 4, address="older"), cursor="c2"))
    tablet.pull()
    assert tablet.record("visit", "v1")["data"]["address"] == "old"
    server.pages.append(page(visit("v1", 5, address="same version"), cursor="c3"))
    tablet.pull()
    assert tablet.record("visit", "v1")["data"]["address"] == "same version"
    server.pages.append(page(visit("v1", 6, address="new"), cursor="c4"))
    tablet.pull()
    assert tablet.record("visit", "v1")["data"]["address"] == "new" and tablet.record("visit", "v1")["version"] == 6


def test_a_pulled_change_keeps_the_unpushed_edit_on_top(tablet, server):
    seeded(tablet, server, resident("r1", 3))
    tablet.update_resident("r1", name="张三")
    server.pages.append(page(resident("r1", 4, hukou_address="河南"), cursor="c2"))
    tablet.pull()
    r = tablet.record("resident", "r1")
    assert (r["data"]["name"], r["data"]["hukou_address"], r["version"]) == ("张三", "河南", 4)


def test_delete_drops_the_record(tablet, server):
    seeded(tablet, server, visit("v1"))
    server.pages.append(page({"seq": 9, "entity": "visit", "id": "v1", "op": "delete", "version": 1}, cursor="c2"))
    tablet.pull()
    assert tablet.record("visit", "v1") is None and tablet.records("visit") == []


def test_evict_drops_at_once_without_pending_mutations(tablet, server):
    seeded(tablet, server, visit("v1"), visit("v2"))
    server.pages.append(
        page(
            {"seq": 9, "entity": "visit", "id": "v1", "op": "evict", "version": 1, "reason": "reassigned"}, cursor="c2"
        )
    )
    tablet.pull()
    assert [v["id"] for v in tablet.visits()] == ["v2"]


def test_evict_with_pending_mutations_pushes_them_first_then_drops(tablet, server):
    server.pages.append(page(area_change(), visit("v1"), cursor="c1"))
    tablet.pull()
    tablet.record_outcome("v1", "completed", "done")
    server.pages.append(
        page(
            {"seq": 9, "entity": "visit", "id": "v1", "op": "evict", "version": 1, "reason": "reassigned"}, cursor="c2"
        )
    )
    tablet.pull()
    assert tablet.record("visit", "v1")["data"]["status"] == "completed"  # held for its mutation
    tablet.sync()
    assert [m["op"] for m in server.pushed()] == ["outcome"]
    assert tablet.record("visit", "v1") is None and tablet.pending() == []


def test_an_upsert_after_an_evict_brings_the_record_back(tablet, server):
    seeded(tablet, server, visit("v1"))
    tablet.start_visit("v1")
    server.pages.append(
        page(
            {"seq": 9, "entity": "visit", "id": "v1", "op": "evict", "version": 1},
            visit("v1", 2, officer_id="o1"),
            cursor="c2",
        )
    )
    tablet.pull()
    server.push_answer = lambda m: applied(m, 3, {"id": "v1", **visit("v1")["data"], "status": "en_route"})
    tablet.sync()
    assert tablet.record("visit", "v1")["data"]["status"] == "en_route"


def test_reset_pulls_a_fresh_view_and_drops_what_it_did_not_send(tablet, server):
    seeded(tablet, server, visit("v1"), visit("v2"), visit("v3"), resident("r1"))
    own = tablet.register_resident("新人", "female", ID)  # pending create: kept
    tablet.start_visit("v3")  # pending on a record left out: pushed, then dropped
    server.pages.extend(
        [
            page(visit("ignored"), cursor="zzz", reset=True),  # the page that says reset is not used
            page(area_change(), visit("v1"), cursor="f1", has_more=True),
            page(resident("r1", 2), cursor="f2"),
        ]
    )
    report = tablet.pull()
    assert report.resets == 1
    assert [r["json"]["cursor"] for r in server.requests[-3:]] == ["c1", None, "f1"]
    assert {(r["entity"], r["id"]) for r in tablet.records()} == {
        ("area", AREA),
        ("visit", "v1"),
        ("visit", "v3"),
        ("resident", "r1"),
        ("resident", own),
    }
    assert tablet._meta("reset_mode") == "0" and tablet.cursor == "f2"
    server.pages.append(page(resident(own, 1), cursor="f3"))  # the pushed create comes back: in scope
    tablet.sync()
    assert tablet.record("visit", "v3") is None
    assert tablet.record("resident", own) is not None and tablet.pending() == []


def test_what_a_push_created_outside_the_scope_leaves_after_the_next_complete_pull(tablet, server):
    seeded(tablet, server, resident("r1", 3))
    inside = tablet.register_resident("甲", "male", ID)
    outside = tablet.register_resident("乙", "female", ID)  # e.g. no registration in the officer's areas
    tablet.update_resident("r1", name="张伟")  # a no-op edit: the feed sends nothing for it
    server.push_answer = lambda m: applied(m, 1 if m["op"] == "create" else 3)
    tablet.push()
    assert tablet.record("resident", outside) is not None  # known from the result until a pull says
    server.pages.extend([page(resident(inside, 1), cursor="c2", has_more=True), page(cursor="c3")])
    tablet.pull()
    assert tablet.record("resident", inside) is not None and tablet.record("resident", "r1") is not None
    assert tablet.record("resident", outside) is None


def test_a_reset_interrupted_between_pages_finishes_on_restart(tablet_for, server, db_path):
    tablet = tablet_for(server)
    seeded(tablet, server, visit("v1"), visit("v2"))
    server.pages.extend([page(cursor="x", reset=True), page(visit("v1"), cursor="f1", has_more=True)])
    tablet._transport = FaultyTransport(server).crash_after("/api/v1/sync/pull", nth=3)
    with pytest.raises(Crash):
        tablet.pull()
    with TabletClient(db_path, server) as again:
        assert again._meta("reset_mode") == "1" and again.cursor == "f1"
        assert again.record("visit", "v2") is not None  # not dropped before the fresh view is complete
        server.pages.append(page(area_change(), cursor="f2"))
        again.pull()
        assert [v["id"] for v in again.visits()] == ["v1"] and again._meta("reset_mode") == "0"


def test_sync_loops_until_quiescent(tablet, server):
    rid = tablet.register_resident("张伟", "male", ID)
    server.pages.extend([page(resident(rid, 1), cursor="c1"), page(cursor="c1")])
    report = tablet.sync()
    assert report.rounds == 2 and report.pushed == 1 and report.pulled == 1
    assert server.paths() == ["/api/v1/sync/push", "/api/v1/sync/pull", "/api/v1/sync/pull"]
    assert tablet.record("resident", rid)["synced"] and tablet._meta("last_sync_at")


def test_sync_refuses_to_loop_forever_when_the_server_never_settles(tablet_for, server):
    tablet = tablet_for(server, max_rounds=3)
    tablet.apply_for_permit("r1")
    server.push_answer = lambda m: {**applied(m), "status": "queued"}  # not a settled status
    with pytest.raises(ClientError, match="not quiescent"):
        tablet.sync()


# --- the handover: a receipt signed offline --------------------------------------------------------


def test_handover_signs_a_verifiable_receipt_offline_with_rising_receipt_seqs(tablet, server):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    from app.auth.credentials import encode_device_credential
    from field_api.delivery.receipt_token import verify_receipt

    server_key, device_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC).replace(microsecond=0)
    credential = encode_device_credential(
        server_key,
        device_id=uuid.uuid4(),
        officer_id=uuid.uuid4(),
        station_id=uuid.uuid4(),
        device_public_key=device_key.public_key(),
        iat=now - timedelta(minutes=1),
        exp=now + timedelta(hours=1),
    )
    pem = device_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with tablet._tx() as conn:
        tablet._set_meta(conn, device_credential=credential, device_key_pem=pem)

    deliveries = [
        {
            "seq": 0,
            "entity": "delivery",
            "id": d,
            "op": "upsert",
            "version": 10,
            "data": {
                "visit_id": f"v-{d}",
                "permit_number": f"PN-{d}",
                "resident_name": "张三丰",
                "identity_masked": ID[:4] + "*" * 10 + ID[-4:],
                "status": "pending",
                "manifest_entry": "jws",
            },
        }
        for d in ("d1", "d2")
    ]
    seeded(tablet, server, *deliveries, visit("v-d1", 2, kind="delivery"))
    with pytest.raises(ClientError, match="does not match"):
        tablet.handover("d1", "self", "110101199003074514")
    receipt = tablet.handover("d1", "self", ID.lower())
    jwks = {"keys": [{**ECAlgorithm.to_jwk(server_key.public_key(), as_dict=True), "kid": "k1", "alg": "ES256"}]}
    checked = verify_receipt(receipt, jwks)
    assert checked.valid, checked
    assert checked.claims["permit_number"] == "PN-d1" and checked.claims["recipient"] == "张**"
    assert checked.claims["seq"] == 1
    assert tablet.record("delivery", "d1")["data"]["status"] == "delivered"
    assert tablet.record("visit", "v-d1")["data"]["status"] == "completed"  # the handover completes the visit
    [m] = tablet.pending()
    assert (m["entity"], m["op"], m["data"]["receipt"], m["data"]["identity_number"]) == (
        "delivery",
        "handover",
        receipt,
        ID,
    )
    proxy = tablet.handover("d2", "proxy", "110101199003074514", proxy_name="李四", proxy_relation="配偶")
    assert verify_receipt(proxy, jwks).claims["seq"] == 2 and verify_receipt(proxy, jwks).claims["recipient"] == "李*"
    with pytest.raises(ClientError, match="not pending"):
        tablet.handover("d1", "self", ID)


def test_handover_needs_a_credential(tablet, server):
    seeded(
        tablet,
        server,
        {
            "seq": 0,
            "entity": "delivery",
            "id": "d1",
            "op": "upsert",
            "version": 1,
            "data": {
                "visit_id": "v",
                "permit_number": "P",
                "resident_name": "张",
                "status": "pending",
                "identity_masked": None,
                "manifest_entry": None,
            },
        },
    )
    with pytest.raises(ClientError, match="credential"):
        tablet.handover("d1", "self", ID)
    assert tablet.pending() == []


# --- HTTP transport (real sockets, no server: a refused connection) ---------------------------------


def test_http_transport_turns_a_refused_connection_into_a_retried_transport_error(db_path, sleeps):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    c = TabletClient(
        db_path, sc_transport.HttpTransport(f"http://127.0.0.1:{port}", timeout=2), sleep=sleeps.append, max_attempts=3
    )
    with c._tx() as conn:
        c._set_meta(conn, access_token=_jwt(int(time.time()) + 900))
    c.apply_for_permit("r1")
    with pytest.raises(ServerUnavailable, match="after 3 attempt"):
        c.sync()
    assert len(sleeps) == 2 and len(c.pending()) == 1
    c.close()


def test_http_transport_speaks_gzip_both_ways():
    """A tiny in-process HTTP server that checks the request is gzip and answers gzip."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    seen = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            seen["encoding"], seen["accept"] = self.headers.get("Content-Encoding"), self.headers.get("Accept-Encoding")
            seen["body"] = json.loads(gzip.decompress(raw))
            out = gzip.compress(json.dumps({"protocol": 1, "echo": len(seen["body"]["mutations"])}).encode())
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *a):
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        t = sc_transport.HttpTransport(f"http://127.0.0.1:{httpd.server_port}", timeout=5)
        reply = t.call("POST", "/api/v1/sync/push", {"mutations": [{"data": "x" * 2000}] * 3}, compress=True)
        assert reply.status == 200 and reply.body == {"protocol": 1, "echo": 3}
        assert seen["encoding"] == "gzip" and "gzip" in seen["accept"]
    finally:
        httpd.shutdown()


# --- the command line ------------------------------------------------------------------------------


def run_cli(args, *, transport=None, stdin=None, monkeypatch=None):
    out, err = io.StringIO(), io.StringIO()
    old_err = sys.stderr
    sys.stderr = err
    try:
        code = sc_cli.main(args, transport=transport, out=out)
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.stderr = old_err
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--db", "x.sqlite3"],
        ["--db", "x.sqlite3", "frobnicate"],
        ["--db", "x.sqlite3", "enroll", "--server", "http://s"],
        ["--db", "x.sqlite3", "register-resident", "--name", "张", "--sex", "unknown", "--identity", ID],
        [
            "--db",
            "x.sqlite3",
            "register-residence",
            "--resident",
            "r",
            "--area",
            "a",
            "--address",
            "x",
            "--start",
            "21/11/2026",
            "--reason",
            "work",
            "--housing",
            "rented",
        ],
        ["--db", "x.sqlite3", "outcome", "v1", "maybe"],
        ["--db", "x.sqlite3", "visits", "--day"],
    ],
)
def test_cli_usage_errors_exit_2(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _out, err = run_cli(args)
    assert code == 2 and "usage:" in err
    assert not (tmp_path / "x.sqlite3").exists()  # nothing is created on a usage error


def test_cli_commands_work_offline(db_path):
    code, out, _ = run_cli(
        [
            "--db",
            db_path,
            "register-resident",
            "--name",
            "张伟",
            "--sex",
            "male",
            "--identity",
            ID,
            "--phone",
            "13812345678",
        ]
    )
    assert code == 0 and "registered on this tablet" in out
    rid = out.split()[1]
    code, out, _ = run_cli(
        [
            "--db",
            db_path,
            "register-residence",
            "--resident",
            rid,
            "--area",
            AREA,
            "--address",
            "北山街道12号",
            "--start",
            "2026-05-01",
            "--reason",
            "work",
            "--housing",
            "rented",
            "--landlord",
            "李",
        ]
    )
    assert code == 0
    code, out, _ = run_cli(["--db", db_path, "pending"])
    assert code == 0 and "resident.create" in out and "registration.create" in out and "2 pending" in out
    code, out, _ = run_cli(["--db", db_path, "conflicts"])
    assert code == 0 and "0 conflict(s)" in out
    code, out, _ = run_cli(["--db", db_path, "rejections"])
    assert code == 0 and "0 rejection(s)" in out
    code, out, _ = run_cli(["--db", db_path, "visits"])
    assert code == 0 and "0 visit(s)" in out


def test_cli_problems_exit_1_with_the_reason(db_path, server):
    code, _out, err = run_cli(["--db", db_path, "sync"])
    assert code == 1 and "not enrolled" in err
    code, _out, err = run_cli(["--db", db_path, "outcome", "v404", "completed"])
    assert code == 1 and "no visit v404" in err
    code, _out, err = run_cli(["--db", db_path, "visits", "--day", "2026-02-30"])
    assert code == 1 and "YYYY-MM-DD" in err


def test_cli_enroll_login_visits_outcome_sync(db_path, server, monkeypatch):
    device_id = str(uuid.uuid4())
    server.replies.append(("/api/v1/devices/enroll", 201, {"device_id": device_id, "station_id": STATION}))
    code, out, _ = run_cli(
        ["--db", db_path, "enroll", "--server", "http://s.test", "--code", "AAAA-BBBB-CCCC"], transport=server
    )
    assert code == 0 and device_id in out
    enroll = server.requests[-1]["json"]
    assert enroll["enrollment_code"] == "AAAA-BBBB-CCCC" and enroll["public_key"]["crv"] == "P-256"
    assert "d" not in enroll["public_key"]
    code, _out, err = run_cli(["--db", db_path, "enroll", "--server", "http://s.test", "--code", "X"], transport=server)
    assert code == 1 and "already enrolled" in err

    server.replies.append(
        (
            "/api/v1/auth/login",
            401,
            {"type": "x/invalid-credentials", "status": 401, "detail": "wrong username or password"},
        )
    )
    monkeypatch.setattr(sys, "stdin", io.StringIO("wrong\n"))
    code, _out, err = run_cli(["--db", db_path, "login", "--username", "li.wei"], transport=server)
    assert code == 1 and "wrong username or password" in err
    server.replies.append(
        (
            "/api/v1/auth/login",
            200,
            {"access_token": _jwt(int(time.time()) + 900), "refresh_token": "r", "device_credential": "dc"},
        )
    )
    monkeypatch.setattr(sys, "stdin", io.StringIO("secret\n"))
    code, out, _ = run_cli(["--db", db_path, "login", "--username", "li.wei"], transport=server)
    assert code == 0 and server.requests[-1]["json"] == {
        "username": "li.wei",
        "password": "secret",
        "device_id": device_id,
    }
    server.pages.append(page(visit("v1", day="2026-11-21"), visit("v2", day="2026-11-22", start="14:00"), cursor="c1"))
    code, out, _ = run_cli(["--db", db_path, "sync"], transport=server)
    assert code == 0 and "pulled 2 changes" in out
    code, out, _ = run_cli(["--db", db_path, "visits", "--day", "2026-11-22"])
    assert code == 0 and "v2" in out and "v1" not in out and "1 visit(s)" in out
    code, out, _ = run_cli(["--db", db_path, "outcome", "v2", "not_home", "--note", "无人"])
    assert code == 0
    code, out, _ = run_cli(["--db", db_path, "visits"])
    assert "not_home" in out and "(not synced)" in out
    server.push_answer = lambda m: {**applied(m, 2, {"id": "v2", **visit("v2")["data"], "status": "not_home"})}
    code, out, _ = run_cli(["--db", db_path, "sync"], transport=server)
    assert code == 0 and "applied 1" in out
    code, out, _ = run_cli(["--db", db_path, "pending"])
    assert "0 pending" in out


def test_cli_runs_as_a_module(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "doorstep_client", "--db", str(tmp_path / "t.sqlite3"), "pending"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=clock_env(),
    )
    assert done.returncode == 0 and "0 pending" in done.stdout
    done = subprocess.run(
        [sys.executable, "-m", "doorstep_client"], cwd=ROOT, capture_output=True, text=True, timeout=60, env=clock_env()
    )
    assert done.returncode == 2 and "usage:" in done.stderr
