#!/usr/bin/env python
"""What one request costs, in process: Doorstep's ``POST /api/v1/bookings`` and ``GET /api/v1/me``
beside the lean anchor's twins (``bench/lean_anchor.py``: Flask + SQLAlchemy Core doing the same
booking — token check, one conditional seat update, one booking row, one outbox row, one commit).

Both apps run in this process through Flask's test client (no sockets: the figure is the
application's own cost), each on its own throwaway database of the same kind (SQLite by default;
PostgreSQL when ``DOORSTEP_DATABASE_URL`` names a server). The machine's speed drifts, so the
requests are timed in alternating rounds — a round of Doorstep, then a round of the anchor — and
each figure is the median of all its requests. Nothing is refused: every window has room for
every booking.

Usage::

    .venv/bin/python bench/api_latency.py                  # SQLite
    DOORSTEP_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/api_latency.py              # PostgreSQL
    .venv/bin/python bench/api_latency.py --requests 1000 --rounds 5

Then, unless ``--served 0``, both serve the same bookings under gunicorn with the same worker count,
both servers up at once, in alternating rounds (``api_served: <Doorstep's median round> bookings/s
ratio=<the median round pair's anchor ÷ Doorstep>``). The last line is
``api_latency: <Doorstep booking median> ms ratio=<Doorstep ÷ anchor>``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import booking_race, lean_anchor  # noqa: E402  (after the path is set)
from bench.common import doorstep_env, run, throwaway_database  # noqa: E402


def say(line: str = "") -> None:
    print(line, flush=True)


def timed(call: Callable[[], object], expected: int) -> float:
    start = time.perf_counter()
    resp = call()
    elapsed = time.perf_counter() - start
    status = getattr(resp, "status_code", None)
    if status != expected:
        raise SystemExit(f"api_latency: expected {expected}, got {status}: {getattr(resp, 'data', b'')[:300]!r}")
    return elapsed


def doorstep(db, requests: int):
    """Doorstep on its throwaway database: (booking call per index, me call)."""
    from app.config import Config
    from compose import create_app

    app = create_app(Config(doorstep_env(db)))
    scene = booking_race.set_up(app, windows=6, capacity=requests)
    client = app.test_client()
    resp = client.post("/api/v1/auth/login", json={"username": scene.username, "password": scene.password})
    if resp.status_code != 200:
        raise SystemExit(f"api_latency: log-in failed: {resp.status_code} {resp.data[:300]!r}")
    auth = {"Authorization": f"Bearer {resp.json['access_token']}"}
    jobs = booking_race.booking_requests(scene, requests)
    headers = [{**auth, "Idempotency-Key": key, "Content-Type": "application/json"} for key, _ in jobs]

    def book(i: int):
        return client.post("/api/v1/bookings", data=jobs[i][1], headers=headers[i])

    def me():
        return client.get("/api/v1/me", headers=auth)

    return book, me, scene.day


def anchor(db, requests: int, day):
    engine = lean_anchor.engine_for(db.url)
    area_id, _, token = lean_anchor.seed(engine, day=day, capacity=requests)
    engine.dispose()
    client = lean_anchor.create_app(db.url).test_client()
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    bodies = anchor_bodies(area_id, day, requests)

    def book(i: int):
        return client.post("/bookings", data=bodies[i], headers=auth)

    def me():
        return client.get("/me", headers=auth)

    return book, me


def anchor_bodies(area_id: str, day, requests: int) -> list[bytes]:
    windows = lean_anchor.WINDOWS
    return [
        json.dumps(
            {
                "area_id": area_id,
                "day": day.isoformat(),
                "window_start": windows[i % len(windows)],
                "address": f"北山街道{i % 97 + 1}号{i // 97 + 1}室",
                "contact_name": "李娜",
                "contact_phone": f"139{i % 10**8:08d}",
            },
            ensure_ascii=False,
        ).encode()
        for i in range(requests)
    ]


def served(port: int, jobs: list[tuple[str, bytes, dict]], threads: int) -> tuple[float, int]:
    """``jobs`` (path, body, headers) fired by ``threads`` keep-alive clients: (requests/s, errors)."""
    lock, done, errors = threading.Lock(), iter(jobs), [0]

    def work() -> None:
        client = booking_race.Client(port)
        try:
            while True:
                with lock:
                    job = next(done, None)
                if job is None:
                    return
                status, _ = client.call("POST", job[0], job[1], job[2])
                if status != 201:
                    with lock:
                        errors[0] += 1
        finally:
            client.close()

    pool = [threading.Thread(target=work) for _ in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return len(jobs) / (time.perf_counter() - start), errors[0]


@dataclass
class Served:
    """Bookings/s under gunicorn, a rate per round of each app: Doorstep's (``ours``) and the
    anchor's (``theirs``), the rounds in the order they were served, and the requests that failed."""

    ours: list[float] = field(default_factory=list)
    theirs: list[float] = field(default_factory=list)
    failed: int = 0

    @property
    def rate(self) -> float:
        return statistics.median(self.ours)

    @property
    def ratio(self) -> float:
        """The median of each round's anchor ÷ Doorstep: a pair served seconds apart shares the
        machine's speed of those seconds."""
        return statistics.median(t / o for o, t in zip(self.ours, self.theirs, strict=True))


def under_gunicorn(server: str | None, requests: int, workers: int, threads: int, rounds: int) -> Served:
    """Doorstep and the anchor, each under gunicorn with ``workers`` workers on a fresh throwaway
    database, both up at once, serving ``requests`` bookings each in alternating rounds (a round
    of Doorstep's, then one of the anchor's), as the in-process figures are timed. On a shared
    machine the speed drifts by half within a minute: one app served whole after the other took
    that drift for a difference between them."""
    from app.config import Config
    from compose import create_app

    with (
        tempfile.TemporaryDirectory(prefix="doorstep-bench-log-") as logs,
        throwaway_database(server) as ours,
        throwaway_database(server) as theirs,
    ):
        app = create_app(Config(doorstep_env(ours)))
        scene = booking_race.set_up(app, windows=6, capacity=requests)
        engine = lean_anchor.engine_for(theirs.url)
        area_id, _, token = lean_anchor.seed(engine, day=scene.day, capacity=requests)
        engine.dispose()
        with (
            booking_race.gunicorn(ours, workers, logs) as our_server,
            booking_race.gunicorn(theirs, workers, logs, "bench.lean_anchor:create_app()") as their_server,
        ):
            auth = {"Authorization": f"Bearer {booking_race.log_in(our_server.port, scene)}"}
            our_jobs = [
                ("/api/v1/bookings", body, {**auth, "Idempotency-Key": key, "Content-Type": "application/json"})
                for key, body in booking_race.booking_requests(scene, requests)
            ]
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            their_jobs = [("/bookings", body, headers) for body in anchor_bodies(area_id, scene.day, requests)]
            result = Served()
            per_round = requests // rounds
            for r in range(rounds):
                block = slice(r * per_round, (r + 1) * per_round)
                for port, jobs, rates in (
                    (our_server.port, our_jobs, result.ours),
                    (their_server.port, their_jobs, result.theirs),
                ):
                    rate, errors = served(port, jobs[block], threads)
                    rates.append(rate)
                    result.failed += errors
    return result


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=600, help="bookings per app (default 600)")
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds (default 6)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests per app first (default 20)")
    cores = os.cpu_count() or 1
    parser.add_argument(
        "--served", type=int, default=3000, help="bookings per app under gunicorn, in --rounds rounds (0: skip)"
    )
    parser.add_argument("--workers", type=int, default=2 * cores + 1, help="gunicorn workers (2 x cores + 1)")
    parser.add_argument("--threads", type=int, default=4 * cores, help="client threads (4 x cores)")
    args = parser.parse_args(argv)
    if 0 < args.served < args.rounds:
        parser.error("--served must be at least --rounds: every round serves at least one booking of each app")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    server = os.environ.get("DOORSTEP_DATABASE_URL")
    total = args.requests + args.warmup
    with throwaway_database(server) as ours, throwaway_database(server) as theirs:
        d_book, d_me, day = doorstep(ours, total)
        a_book, a_me = anchor(theirs, total, day)
        for i in range(args.warmup):
            timed(lambda i=i: d_book(i), 201)
            timed(lambda i=i: a_book(i), 201)
            timed(d_me, 200)
            timed(a_me, 200)
        # As gunicorn.conf.py does in each worker once the app is built: both apps' start-up
        # objects leave the collector's sight, so neither pays for walking them.
        gc.collect()
        gc.freeze()
        times: dict[str, list[float]] = {"d_book": [], "a_book": [], "d_me": [], "a_me": []}
        per_round = args.requests // args.rounds
        i = args.warmup
        for _ in range(args.rounds):
            block = range(i, i + per_round)
            times["d_book"] += [timed(lambda k=k: d_book(k), 201) for k in block]
            times["a_book"] += [timed(lambda k=k: a_book(k), 201) for k in block]
            times["d_me"] += [timed(d_me, 200) for _ in block]
            times["a_me"] += [timed(a_me, 200) for _ in block]
            i += per_round
        label = ours.kind

    if args.served:
        serving = under_gunicorn(server, args.served, args.workers, args.threads, args.rounds)
    ms = {k: statistics.median(v) * 1000 for k, v in times.items()}
    p95 = {k: statistics.quantiles(v, n=20)[18] * 1000 for k, v in times.items()}
    say(f"database        {label} (one throwaway database per app)")
    say(f"requests        {per_round * args.rounds} per app and route, {args.rounds} alternating rounds")
    say(
        f"POST booking    Doorstep {ms['d_book']:.2f} ms (p95 {p95['d_book']:.2f}), "
        f"anchor {ms['a_book']:.2f} ms (p95 {p95['a_book']:.2f}), gap {ms['d_book'] / ms['a_book']:.1f}x"
    )
    say(
        f"GET /me         Doorstep {ms['d_me']:.2f} ms (p95 {p95['d_me']:.2f}), "
        f"anchor {ms['a_me']:.2f} ms (p95 {p95['a_me']:.2f}), gap {ms['d_me'] / ms['a_me']:.1f}x"
    )
    if args.served:
        say(
            f"gunicorn        {args.workers} workers, {args.threads} client threads, {args.served} bookings each "
            f"in {args.rounds} alternating rounds; failed {serving.failed}"
        )
        for name, rates in (("Doorstep", serving.ours), ("anchor", serving.theirs)):
            say(
                f"  {name:<13} median {statistics.median(rates):.0f} req/s, rounds "
                + " ".join(f"{r:.0f}" for r in rates)
            )
    say(f"api_latency_me: {ms['d_me']:.2f} ms ratio={ms['d_me'] / ms['a_me']:.1f}")
    if args.served:
        say(f"api_served: {serving.rate:.0f} bookings/s ratio={serving.ratio:.1f}")
    say(f"api_latency: {ms['d_book']:.2f} ms ratio={ms['d_book'] / ms['a_book']:.1f}")
    return 0


if __name__ == "__main__":
    run(main, "api_latency")
