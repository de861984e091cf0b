#!/usr/bin/env python
"""The booking race at scale, through the whole HTTP stack, against the real server.

What is measured
----------------
Many callers book the same few visit windows at once, as on the morning a station opens a busy
day. The service runs as in production — gunicorn with several worker processes, each with its
own connection pool, in front of one database (SQLite by default; PostgreSQL when
``DOORSTEP_DATABASE_URL`` names a server) — and client threads fire staff phone bookings
(``POST /api/v1/bookings``, each with its own Idempotency-Key) at it, about five times more than
there are seats. Every request crosses the real path: TCP, gunicorn, Flask, token check,
validation, window look-up, the conditional seat increment, the booking, visit, timeline, audit
and outbox rows, and the response.

Two things come out:

* **Correctness under contention.** After the race, the database — not the client's counters —
  is asked how many confirmed bookings each slot holds against its capacity. Any excess is
  overbooking and must be 0; ``slot.booked`` must also equal the number of rows it counts.
* **Throughput against the physical limit.** In the same run, on the same database, a raw DBAPI
  loop (``sqlite3`` or ``psycopg``; one connection, no ORM, no HTTP, no Python framework) makes
  the same number of attempts doing, per booking, only the work no implementation can avoid:
  BEGIN, a conditional ``UPDATE seat SET booked = booked + 1 WHERE id = ? AND booked < capacity``,
  an INSERT of one row, COMMIT. That is one durable write transaction per attempt, the serial
  section every booking must pass through — the database cannot seat bookings faster than it
  commits them, whatever sits above it. ``ratio`` = raw attempts/s ÷ HTTP attempts/s says how
  much of the time goes to everything else (HTTP, framework, crypto, audit, extra rows, lock
  waits). The raw loop uses the same durability as the app (SQLite: WAL, synchronous=NORMAL,
  BEGIN IMMEDIATE; PostgreSQL: the server's own commit settings).

Safety: the benchmark never touches a database it did not make. On SQLite it uses a new
temporary file. On PostgreSQL it connects to the server named by ``DOORSTEP_DATABASE_URL``,
creates ``doorstep_bench_<pid>_<random>`` and drops it ``WITH (FORCE)`` at the end, also when
the run fails or is interrupted; the database named in the URL is only used to issue those two
statements.

Usage::

    .venv/bin/python bench/booking_race.py                     # SQLite
    DOORSTEP_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/booking_race.py                 # PostgreSQL
    .venv/bin/python bench/booking_race.py --requests 2000 --capacity 100 --threads 64 --workers 4

The last line is ``booking_race: <bookings/s> bookings/s overbooked=<N> ratio=<R>``; the exit
status is non-zero when any request failed, a slot is overbooked or its counter is wrong.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from datetime import time as clock
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
FIRST_WINDOW_HOUR = 8  # windows are one hour each, from 08:00
STAFF_USERNAME = "bench.staff"


def say(line: str = "") -> None:
    print(line, flush=True)


from bench.common import Database, doorstep_env, run, throwaway_database  # noqa: E402

# --- set-up: schema, one station, one area, one staff account, weekly windows ------------------


@dataclass
class Scene:
    area_id: str
    day: date
    starts: list
    capacity: int
    username: str
    password: str

    @property
    def seats(self) -> int:
        return len(self.starts) * self.capacity


def set_up(app, windows: int, capacity: int) -> Scene:
    from flask_migrate import upgrade

    from app.auth.passwords import hash_password
    from app.extensions import db
    from app.org.models import Area, Station, User
    from app.workdays import day_info, local_now
    from appointments.windows.models import WindowTemplate

    password = secrets.token_urlsafe(18)
    starts = [clock(FIRST_WINDOW_HOUR + i) for i in range(windows)]
    with app.app_context():
        upgrade()
        station = Station(code="BENCH", name="基准派出所")
        db.session.add(station)
        db.session.flush()
        area = Area(station_id=station.id, code="BENCH-1", name="基准社区")
        db.session.add(area)
        db.session.add(
            User(
                role="staff",
                station_id=station.id,
                username=STAFF_USERNAME,
                password_hash=hash_password(password),
                display_name="基准接线员",
            )
        )
        db.session.flush()
        for weekday in range(7):
            for start in starts:
                db.session.add(
                    WindowTemplate(
                        area_id=area.id,
                        weekday=weekday,
                        start_time=start,
                        end_time=clock(start.hour + 1),
                        capacity=capacity,
                    )
                )
        db.session.commit()
        area_id = str(area.id)

        today, horizon = local_now().date(), app.config["BOOKING_HORIZON_DAYS"]
        day = today + timedelta(days=2)
        while not day_info(day).is_workday:
            day += timedelta(days=1)
        if (day - today).days > horizon:
            raise SystemExit(
                f"booking_race: no working day between 2 and {horizon} days ahead (DOORSTEP_BOOKING_HORIZON_DAYS)"
            )
        db.session.remove()
        db.engine.dispose()
    return Scene(area_id, day, starts, capacity, STAFF_USERNAME, password)


# --- gunicorn ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _gunicorn_bin() -> str:
    here = Path(sys.executable).parent / "gunicorn"
    return str(here if here.exists() else ROOT / ".venv" / "bin" / "gunicorn")


@dataclass
class Server:
    port: int
    proc: subprocess.Popen
    log_path: str

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()


@contextlib.contextmanager
def gunicorn(
    db: Database,
    workers: int,
    log_dir: str,
    app_spec: str = "wsgi:app",
    *,
    threads: int = 1,
    env: dict[str, str] | None = None,
):
    """gunicorn serving ``app_spec`` (Doorstep by default; bench/api_latency.py also serves the lean
    anchor) on a free port, pointed at ``db``; with ``threads`` > 1 the gthread worker, that many
    threads each; ``env`` adds to the ``DOORSTEP_*`` settings."""
    port = free_port()
    log_path = os.path.join(log_dir, f"gunicorn-{port}.log")
    env = {**os.environ, **doorstep_env(db), **(env or {})}
    concurrency = ["--worker-class", "gthread", "--threads", str(threads)] if threads > 1 else []
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [_gunicorn_bin(), "--workers", str(workers), *concurrency, "--bind", f"{HOST}:{port}", app_spec],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(port, proc, log_path)
    try:
        _wait_ready(server, timeout=60)
        yield server
    finally:
        _stop(proc)


def _wait_ready(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.proc.returncode}:\n{server.log()[-3000:]}")
        try:
            conn = http.client.HTTPConnection(HOST, server.port, timeout=5)
            conn.request("GET", "/readyz")
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            if resp.status == 200:
                return
            last = f"{resp.status} {body[:300]!r}"
        except OSError as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn was not ready after {timeout:.0f} s (last: {last}):\n{server.log()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the master (graceful), then SIGKILL to its own process group if it hangs."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
            return
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the group gunicorn leads (start_new_session)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


# --- the HTTP race ------------------------------------------------------------------------------


class Client:
    """One keep-alive connection; it reconnects when the server closes it (gunicorn's sync
    workers close after each response). A request whose connection dropped before the answer is
    sent again once with the same Idempotency-Key — exactly the retry the key exists for."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection(HOST, port, timeout=120)
        self.retries = 0

    def call(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (
                http.client.RemoteDisconnected,
                ConnectionResetError,
                BrokenPipeError,
                http.client.CannotSendRequest,
                http.client.ResponseNotReady,
            ):
                self.conn.close()
                if attempt == 2:
                    raise
                self.retries += 1
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


def log_in(port: int, scene: Scene) -> str:
    client = Client(port)
    try:
        status, data = client.call(
            "POST",
            "/api/v1/auth/login",
            json.dumps({"username": scene.username, "password": scene.password}).encode(),
            {"Content-Type": "application/json"},
        )
    finally:
        client.close()
    if status != 200:
        raise RuntimeError(f"log-in failed: {status} {data[:500]!r}")
    return json.loads(data)["access_token"]


def booking_requests(scene: Scene, n: int) -> list[tuple[str, bytes]]:
    """(Idempotency-Key, body) per request, spread round-robin over the windows; built before the
    clock starts so the client's own work stays out of the measurement."""
    run = uuid.uuid4().hex[:8]
    out = []
    for i in range(n):
        body = {
            "purpose": "registration",
            "area_id": scene.area_id,
            "day": scene.day.isoformat(),
            "window_start": scene.starts[i % len(scene.starts)].strftime("%H:%M"),
            "address": f"北山街道{i % 97 + 1}号{i // 97 + 1}室",
            "contact_name": "李娜",
            "contact_phone": f"139{i % 10**8:08d}",
            "caller_name": "王先生",
            "caller_phone": f"138{(i * 7919) % 10**8:08d}",
        }
        out.append((f"bench-{run}-{i}", json.dumps(body, ensure_ascii=False).encode()))
    return out


@dataclass
class Outcome:
    status: int
    kind: str  # problem type slug, or the exception for a transport failure
    detail: str
    seconds: float


@dataclass
class Race:
    outcomes: list
    elapsed: float
    retries: int
    warmup_failures: list = field(default_factory=list)

    def count(self, pred) -> int:
        return sum(1 for o in self.outcomes if pred(o))

    @property
    def created(self) -> int:
        return self.count(lambda o: o.status == 201)

    @property
    def replayed(self) -> int:
        return self.count(lambda o: o.status == 200)

    @property
    def accepted(self) -> int:
        return self.created + self.replayed

    @property
    def refused(self) -> int:
        return self.count(lambda o: o.status == 409 and o.kind == "slot-full")

    @property
    def errors(self) -> list:
        return [o for o in self.outcomes if not (o.status in (200, 201) or (o.status == 409 and o.kind == "slot-full"))]


def _problem(data: bytes) -> tuple[str, str]:
    try:
        doc = json.loads(data)
        return str(doc.get("type", "")).rsplit("/", 1)[-1], str(doc.get("detail") or doc.get("title") or "")[:200]
    except (ValueError, AttributeError):
        return "", data[:200].decode("utf-8", "replace")


def race(port: int, token: str, jobs: list, threads: int) -> Race:
    auth = {"Authorization": f"Bearer {token}"}
    outcomes: list = [None] * len(jobs)
    cursor = iter(range(len(jobs)))
    take = threading.Lock()
    go = threading.Event()
    ready: list = []  # one entry per warmed-up thread (list.append is atomic)
    retries: list = []
    warmup_failures: list = []

    def next_job():
        with take:
            return next(cursor, None)

    def run():
        client = Client(port)
        try:
            try:  # warm up: every worker has booted, has a pool and has checked a token
                status, data = client.call("GET", "/api/v1/me", headers=auth)
                if status != 200:
                    warmup_failures.append(f"{status} {data[:200]!r}")
            except Exception as exc:
                warmup_failures.append(repr(exc))
            ready.append(True)
            go.wait()
            while (i := next_job()) is not None:
                key, body = jobs[i]
                headers = {**auth, "Content-Type": "application/json", "Idempotency-Key": key}
                t0 = time.perf_counter()
                try:
                    status, data = client.call("POST", "/api/v1/bookings", body, headers)
                except Exception as exc:
                    outcomes[i] = Outcome(0, type(exc).__name__, str(exc)[:200], time.perf_counter() - t0)
                    continue
                seconds = time.perf_counter() - t0
                kind, detail = ("", "") if status in (200, 201) else _problem(data)
                outcomes[i] = Outcome(status, kind, detail, seconds)
        finally:
            retries.append(client.retries)
            client.close()

    pool = [threading.Thread(target=run, name=f"caller-{n}", daemon=True) for n in range(threads)]
    for t in pool:
        t.start()
    deadline = time.monotonic() + 300
    while len(ready) < threads and time.monotonic() < deadline:  # polled, so a signal handler can run
        time.sleep(0.02)
    go.set()
    t0 = time.perf_counter()
    for t in pool:
        while t.is_alive():  # short joins: the main thread must come back to run a SIGTERM/SIGINT handler
            t.join(0.2)
    elapsed = time.perf_counter() - t0
    missing = [i for i, o in enumerate(outcomes) if o is None]
    for i in missing:
        outcomes[i] = Outcome(0, "not-sent", "the client thread died", 0.0)
    return Race(outcomes, elapsed, sum(retries), warmup_failures)


# --- after the race: ask the database --------------------------------------------------------


@dataclass
class Check:
    slots: int
    confirmed: int
    overbooked: int
    counter_mismatches: list
    per_slot: list
    audit_ok: bool
    audit_checked: int
    audit_problem: str | None


def check_database(app, scene: Scene) -> Check:
    import sqlalchemy as sa

    from app.audit import verify_chain
    from app.extensions import db
    from appointments.booking.models import Booking
    from appointments.windows.models import Slot

    with app.app_context():
        slots = db.session.execute(sa.select(Slot).order_by(Slot.start_time)).scalars().all()
        rows = dict(
            db.session.execute(
                sa.select(Booking.slot_id, sa.func.count())
                .where(Booking.status == "confirmed")
                .group_by(Booking.slot_id)
            ).all()
        )
        per_slot, overbooked, mismatches = [], 0, []
        for slot in slots:
            n = rows.get(slot.id, 0)
            overbooked += max(0, n - slot.capacity)
            if slot.booked != n:
                mismatches.append(f"{slot.start_time:%H:%M}: booked={slot.booked} rows={n}")
            per_slot.append((slot.start_time, slot.capacity, slot.booked, n))
        orphan = sum(n for slot_id, n in rows.items() if slot_id not in {s.id for s in slots})
        if orphan:
            mismatches.append(f"{orphan} confirmed bookings point at no slot")
        report = verify_chain()
        db.session.remove()
        db.engine.dispose()
    return Check(
        len(slots), sum(rows.values()), overbooked, mismatches, per_slot, report.ok, report.checked, report.problem
    )


# --- the physical limit: a raw DBAPI loop on the same database --------------------------------


@dataclass
class Raw:
    attempts: int
    accepted: int
    elapsed: float
    overbooked: int

    @property
    def per_second(self) -> float:
        return self.attempts / self.elapsed if self.elapsed > 0 else float("inf")


def raw_limit(db: Database, attempts: int, seats: int, capacity: int) -> Raw:
    """One connection, no ORM: BEGIN; conditional UPDATE; INSERT; COMMIT — per attempt."""
    if db.kind == "sqlite":
        return _raw_sqlite(db.sqlite_path, attempts, seats, capacity)
    return _raw_postgres(db.libpq, attempts, seats, capacity)


def _raw_sqlite(path: str, attempts: int, seats: int, capacity: int) -> Raw:
    conn = sqlite3.connect(path, isolation_level=None)  # we issue BEGIN ourselves, as the app does
    try:
        cur = conn.cursor()
        from app.db import SQLITE_FILE_PRAGMAS

        for pragma in ("foreign_keys=ON", "busy_timeout=30000", *SQLITE_FILE_PRAGMAS):
            cur.execute(f"PRAGMA {pragma}")  # the app's settings (app/db.py)
        cur.execute(
            "CREATE TABLE bench_seat (id INTEGER PRIMARY KEY, capacity INTEGER NOT NULL, "
            "booked INTEGER NOT NULL DEFAULT 0 CHECK (booked >= 0 AND booked <= capacity))"
        )
        cur.execute(
            "CREATE TABLE bench_booking (id INTEGER PRIMARY KEY, seat_id INTEGER NOT NULL REFERENCES bench_seat(id))"
        )
        cur.executemany(
            "INSERT INTO bench_seat (id, capacity) VALUES (?, ?)", [(s, capacity) for s in range(1, seats + 1)]
        )
        accepted = 0
        t0 = time.perf_counter()
        for i in range(attempts):
            seat = i % seats + 1
            cur.execute("BEGIN IMMEDIATE")
            cur.execute("UPDATE bench_seat SET booked = booked + 1 WHERE id = ? AND booked < capacity", (seat,))
            if cur.rowcount == 1:
                cur.execute("INSERT INTO bench_booking (seat_id) VALUES (?)", (seat,))
                cur.execute("COMMIT")
                accepted += 1
            else:
                cur.execute("ROLLBACK")
        elapsed = time.perf_counter() - t0
        over = cur.execute(
            "SELECT COALESCE(SUM(MAX(0, n - capacity)), 0) FROM (SELECT s.capacity, "
            "(SELECT COUNT(*) FROM bench_booking b WHERE b.seat_id = s.id) AS n FROM bench_seat s)"
        ).fetchone()[0]
        return Raw(attempts, accepted, elapsed, over)
    finally:
        conn.close()


def _raw_postgres(conninfo: str, attempts: int, seats: int, capacity: int) -> Raw:
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:  # we issue BEGIN/COMMIT ourselves
        cur = conn.cursor()
        cur.execute(
            "CREATE TABLE bench_seat (id integer PRIMARY KEY, capacity integer NOT NULL, "
            "booked integer NOT NULL DEFAULT 0 CHECK (booked >= 0 AND booked <= capacity))"
        )
        cur.execute(
            "CREATE TABLE bench_booking (id bigserial PRIMARY KEY, seat_id integer NOT NULL REFERENCES bench_seat(id))"
        )
        cur.executemany(
            "INSERT INTO bench_seat (id, capacity) VALUES (%s, %s)", [(s, capacity) for s in range(1, seats + 1)]
        )
        accepted = 0
        t0 = time.perf_counter()
        for i in range(attempts):
            seat = i % seats + 1
            cur.execute("BEGIN")
            cur.execute("UPDATE bench_seat SET booked = booked + 1 WHERE id = %s AND booked < capacity", (seat,))
            if cur.rowcount == 1:
                cur.execute("INSERT INTO bench_booking (seat_id) VALUES (%s)", (seat,))
                cur.execute("COMMIT")
                accepted += 1
            else:
                cur.execute("ROLLBACK")
        elapsed = time.perf_counter() - t0
        cur.execute(
            "SELECT COALESCE(SUM(GREATEST(0, n - capacity)), 0) FROM (SELECT s.capacity, "
            "(SELECT COUNT(*) FROM bench_booking b WHERE b.seat_id = s.id) AS n FROM bench_seat s) t"
        )
        over = int(cur.fetchone()[0])
        return Raw(attempts, accepted, elapsed, over)


# --- report -----------------------------------------------------------------------------------


def percentile(values: list, p: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def server_log_summary(log: str) -> str:
    lines = log.splitlines()
    locked = sum("database is locked" in line for line in lines)
    timeouts = sum("WORKER TIMEOUT" in line for line in lines)
    errors = sum('"level":"ERROR"' in line or "[ERROR]" in line or "[CRITICAL]" in line for line in lines)
    return f"{errors} error lines, {locked} 'database is locked', {timeouts} worker timeouts"


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--requests", type=int, default=1000, help="booking requests to fire (default 1000)")
    p.add_argument("--windows", type=int, default=4, help="one-hour windows on the day (default 4, at most 15)")
    p.add_argument("--capacity", type=int, default=50, help="seats per window (default 50, at most 500)")
    p.add_argument("--threads", type=int, default=32, help="concurrent client threads (default 32)")
    p.add_argument("--workers", type=int, default=4, help="gunicorn worker processes (default 4)")
    args = p.parse_args(argv)
    if not 1 <= args.windows <= 24 - FIRST_WINDOW_HOUR - 1:
        p.error(f"--windows must be between 1 and {24 - FIRST_WINDOW_HOUR - 1}")
    for name in ("requests", "capacity", "threads", "workers"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1")
    if args.capacity > 500:
        p.error("--capacity must be at most 500 (the API's limit for a window)")
    return args


def _on_sigterm(signum, _frame):
    raise SystemExit(128 + signum)  # unwinds through every finally: gunicorn stopped, database dropped


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGHUP, _on_sigterm)

    from app.config import Config
    from compose import create_app

    failures: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="doorstep-bench-log-") as log_dir,
        throwaway_database(os.environ.get("DOORSTEP_DATABASE_URL")) as db,
    ):
        app = create_app(Config(doorstep_env(db)))
        scene = set_up(app, args.windows, args.capacity)
        jobs = booking_requests(scene, args.requests)
        say(f"database       {db.label}")
        say(f"server         gunicorn --workers {args.workers}; {args.threads} client threads")
        say(
            f"windows        {len(scene.starts)} x capacity {scene.capacity} = {scene.seats} seats on "
            f"{scene.day.isoformat()} ({scene.starts[0]:%H:%M}-{scene.starts[-1].hour + 1:02d}:00)"
        )

        with gunicorn(db, args.workers, log_dir) as server:
            token = log_in(server.port, scene)
            result = race(server.port, token, jobs, args.threads)
        server_log = server.log()

        check = check_database(app, scene)
        raw = raw_limit(db, args.requests, len(scene.starts), scene.capacity)

        latencies = [o.seconds for o in result.outcomes if o.status]
        errors = result.errors
        rps = len(jobs) / result.elapsed
        bps = result.accepted / result.elapsed
        ratio = raw.per_second / rps

        say(f"requests       {len(jobs)}")
        say(f"accepted       {result.accepted}  ({result.created} created, {result.replayed} replayed after a retry)")
        say(f"refused        {result.refused}  (409 slot-full)")
        say(f"errors         {len(errors)}")
        for (status, kind, detail), n in Counter((o.status, o.kind, o.detail) for o in errors).most_common(5):
            say(f"  {n:>5} x {status} {kind}: {detail}")
        if result.warmup_failures:
            say(f"warm-up        {len(result.warmup_failures)} failed, e.g. {result.warmup_failures[0]}")
        say(f"retries        {result.retries} (connection dropped before the answer; same Idempotency-Key)")
        say(f"elapsed        {result.elapsed:.2f} s")
        say(f"requests/s     {rps:.1f}")
        say(f"bookings/s     {bps:.1f}")
        say(f"latency p50    {percentile(latencies, 50) * 1000:.1f} ms")
        say(f"latency p95    {percentile(latencies, 95) * 1000:.1f} ms")
        say(f"latency max    {max(latencies, default=0) * 1000:.1f} ms")
        for label, pick in (("created", lambda o: o.status == 201), ("refused", lambda o: o.status == 409)):
            some = [o.seconds for o in result.outcomes if pick(o)]
            if some:
                say(f"  {label:<12} p50 {percentile(some, 50) * 1000:.1f} ms, p95 {percentile(some, 95) * 1000:.1f} ms")
        say(f"server log     {server_log_summary(server_log)}")
        say(
            "db slots       "
            + ", ".join(f"{start:%H:%M} {rows}/{cap} (booked={booked})" for start, cap, booked, rows in check.per_slot)
        )
        say(
            f"db check       {check.confirmed} confirmed rows in {check.slots} slots; overbooked={check.overbooked}; "
            f"counter mismatches={len(check.counter_mismatches)}"
        )
        say(
            f"audit chain    {'ok' if check.audit_ok else 'BROKEN: ' + str(check.audit_problem)} "
            f"({check.audit_checked} events)"
        )
        say(
            f"raw attempts/s {raw.per_second:.1f}  ({raw.attempts} attempts, {raw.accepted} accepted, "
            f"{raw.elapsed:.3f} s; {db.kind} DBAPI, one connection; overbooked={raw.overbooked})"
        )

        if errors:
            failures.append(f"{len(errors)} requests failed")
        if check.overbooked:
            failures.append(f"{check.overbooked} seats overbooked")
        if check.counter_mismatches:
            failures.append("slot counters disagree with rows: " + "; ".join(check.counter_mismatches))
        if check.confirmed != result.accepted:
            failures.append(
                f"the database holds {check.confirmed} confirmed bookings, the clients saw {result.accepted} accepted"
            )
        if not check.audit_ok:
            failures.append(f"audit chain broken: {check.audit_problem}")
        if result.warmup_failures:
            failures.append(f"{len(result.warmup_failures)} warm-up requests failed")
        final = f"booking_race: {bps:.0f} bookings/s overbooked={check.overbooked} ratio={ratio:.1f}"

    # The database is dropped and gunicorn stopped by now: nothing is printed after this line.
    for failure in failures:
        say(f"FAILED         {failure}")
    say(final)
    return 1 if failures else 0


if __name__ == "__main__":
    run(main, "booking_race")
