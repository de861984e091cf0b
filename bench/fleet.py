#!/usr/bin/env python
"""A fleet of tablets working a shift against the real server.

What is measured
----------------
N tablets (default 20; 200 and 500 are the sizes issue 21 sets goals for), each the reference client
(``doorstep_client.TabletClient`` over ``HttpTransport``, its own SQLite store, device key and
tokens), run as threads in a few client processes (one per core by default, ``bench/fleet_tablet.py``),
work a shift against gunicorn on one database (SQLite by default; PostgreSQL when
``DOORSTEP_DATABASE_URL`` names a server, in a throwaway database made and dropped by ``bench.common``):

1. The set-up seeds stations, areas, officers and residents with their visits (``compose.seed_scale``,
   the same code as ``flask seed-scale``); a staff member of each station registers one tablet per
   officer over the API and hands its enrollment code to the tablet.
2. Officers start one after another over ``--ramp`` seconds. Each tablet enrolls, logs in
   (device-bound; Argon2id with the production parameters), pulls its scope, then works a day in
   ``--rounds`` rounds: offline it registers residents (each with a photo, a generated JPEG) and their
   residence and records the outcome of the visits dispatched to its officer; online it uploads the
   photos (declare, then PUT the bytes) and syncs (push, then pulls until quiescent) — a sync round.
   Right after each sync round the tablet makes as many no-op requests (``GET /healthz``) as the round
   made requests: the floor of that round, under the very same load. Between rounds and for
   ``--pulls`` incremental pulls at the end an officer works ``--think`` seconds (jittered).
3. Once every tablet is done, each syncs once more, waits for all the others, syncs again, and
   compares its local view with a fresh full pull of its scope (cursor null): every record, its
   version and its data must be equal. That is convergence.

An error is any non-2xx answer, any lost connection, any mutation the server rejected or merged with
a conflict, or a tablet that failed. Each tablet sends its own ``X-Forwarded-For`` (the server trusts
one proxy hop): tablets come from as many networks, and log-ins are throttled per address.

Usage::

    .venv/bin/python bench/fleet.py                     # SQLite, 20 tablets
    DOORSTEP_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/fleet.py --tablets 200
    .venv/bin/python bench/fleet.py --tablets 2 --rounds 1 --pulls 1 --think 0 --ramp 0 --residents 200

The last line is ``fleet_<N>: p95=<ms> ms errors=<n> converged=<yes|no> ratio=<R>`` (p95 of a sync
round; R: that over the p95 of the no-op rounds); the exit status is 1 when there were errors or a
tablet did not converge.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import doorstep_env, run, throwaway_database  # noqa: E402
from bench.fleet_tablet import FIRST_PULL, LOGIN, NOOP, PHOTO, PULL, PUSH, ROUND, client_process  # noqa: E402

PASSWORD = "fleet bench " + secrets.token_hex(6)
OFFICERS_PER_STATION = 8  # compose.seed_scale.AREAS_PER_STATION: one officer per area


def say(line: str = "") -> None:
    print(line, flush=True)


def percentile(values, p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[k]


# --- set-up (parent process) -----------------------------------------------------------------------


def set_up(app, tablets: int, residents: int) -> tuple[list[dict], str]:
    """Stations enough for one officer per tablet, residents and visits, through seed-scale's code;
    returns the plan of each tablet and the officers' password hash."""
    from flask_migrate import upgrade
    from tqdm import tqdm

    from app.auth.passwords import hash_password
    from app.extensions import db
    from app.org.models import User
    from app.workdays import local_now
    from compose import seed_scale

    stations = math.ceil(tablets / OFFICERS_PER_STATION)
    with app.app_context():
        upgrade()
        today = local_now().date()
        password_hash = hash_password(PASSWORD)
        orgs, _new = seed_scale.seed_org(stations, password_hash, "FL")
        with tqdm(total=residents, disable=True) as progress:
            seed_scale.seed_residents(orgs, residents, 2_000, today, progress)
        seed_scale.seed_visits(orgs, 3, today)
        plan = []
        for t in range(tablets):
            s, a = divmod(t, OFFICERS_PER_STATION)
            officer = db.session.get(User, orgs[s].officers[a])
            staff = db.session.get(User, orgs[s].staff_id)
            plan.append(
                {
                    "index": t,
                    "officer": officer.username,
                    "officer_id": str(officer.id),
                    "staff": staff.username,
                    "station_id": str(orgs[s].station_id),
                    "area_id": str(orgs[s].areas[a]),
                    "password": PASSWORD,
                }
            )
        db.session.remove()
        db.engine.dispose()
    return plan, password_hash


def _http(base: str, method: str, path: str, body: dict, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), headers=headers, method=method)
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def enrollment_codes(base: str, plan: list[dict]) -> None:
    """Staff register the tablets over the API, as at the station's desk; each gets its code."""
    tokens = {}
    for p in plan:
        if p["staff"] not in tokens:
            tokens[p["staff"]] = _http(
                base, "POST", "/api/v1/auth/login", {"username": p["staff"], "password": PASSWORD}
            )["access_token"]
        answer = _http(base, "POST", "/api/v1/devices", {"label": f"Fleet tablet {p['index'] + 1}"}, tokens[p["staff"]])
        p["enrollment_code"] = answer["enrollment_code"]


def argon2_floor(password_hash: str, repeat: int = 5) -> tuple[str, float]:
    """The parameters of the officers' hash, and one verification of it before the shift, with no
    fleet load (median of ``repeat``), the server's way (its reused working memory, decision 114):
    what every log-in costs before any queueing."""
    from argon2 import extract_parameters

    from app.auth.passwords import ReusingHasher

    params = extract_parameters(password_hash)
    hasher = ReusingHasher()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        hasher.verify(password_hash, PASSWORD)
        times.append(time.perf_counter() - started)
    label = f"Argon2id m={params.memory_cost} KiB, t={params.time_cost}, p={params.parallelism}"
    return label, statistics.median(times)


# --- the run -----------------------------------------------------------------------------------------

# What issue 21 asks of each gated figure (ms), printed beside it.
GOALS = {ROUND: "goal ≤ 500 ms (500 tablets: ≤ 300 ms)", LOGIN: "goal ≤ 300 ms"}
STEPS = (LOGIN, FIRST_PULL, PUSH, PHOTO, PULL, ROUND, NOOP)
# A real shift (docs/decisions.md #107): stations' officers start over ~20 minutes, sync after each visit.
REAL_RAMP, REAL_SYNC_EVERY = 20 * 60.0, 20 * 60.0


def parse_args(argv=None) -> argparse.Namespace:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--tablets", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2 * cores, help="gunicorn worker processes (2 x cores)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (gthread; 1: sync)")
    parser.add_argument("--processes", type=int, default=cores, help="client processes the tablets share (cores)")
    parser.add_argument("--residents", type=int, default=12_000, help="residents seeded before the shift")
    parser.add_argument("--registrations", type=int, default=24, help="people each tablet registers (a photo each)")
    parser.add_argument("--rounds", type=int, default=3, help="offline work / sync rounds per tablet")
    parser.add_argument("--pulls", type=int, default=3, help="incremental pulls after the work")
    parser.add_argument(
        "--think", type=float, default=120.0, help="seconds an officer works between syncs (±50%%; 10: the old stress)"
    )
    parser.add_argument(
        "--ramp", type=float, default=120.0, help="seconds over which the officers start (10: the old stress)"
    )
    args = parser.parse_args(argv)
    for name in ("tablets", "workers", "threads", "processes", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def offered(args) -> str:
    """The load the settings offer, per second, beside a real day's (docs/decisions.md #107): 25
    stations' officers log in over about 20 minutes and sync after each visit, every 20 minutes or
    so; what a 2-core machine serves at the bench's denser rates says how much headroom is left."""
    logins = args.tablets / args.ramp if args.ramp > 0 else math.inf
    rounds = args.tablets / args.think if args.think > 0 else math.inf
    return (
        f"offered        log-ins {logins:.2f}/s ({args.tablets} over {args.ramp:g} s), sync rounds {rounds:.2f}/s "
        f"(one per tablet every {args.think:g} s ± 50%); a real shift of {args.tablets} officers: "
        f"{args.tablets / REAL_RAMP:.2f} log-ins/s, {args.tablets / REAL_SYNC_EVERY:.2f} sync rounds/s"
    )


def ms(values: list[float], p: float) -> float:
    return percentile(values, p) * 1000


def report(args, summaries: list[dict], shift: float, kdf_seconds: float) -> tuple[float, float, int, bool]:
    """Print the figures; returns (p95 of a sync round in ms, its ratio, errors, converged). Each gated
    step's p95 is set against its floor: a log-in's is one Argon2id verification with no fleet load, a
    sync round's the no-op round the same tablet made right after it."""
    steps, calls = defaultdict(list), defaultdict(list)
    for s in summaries:
        for label, values in s["steps"].items():
            steps[label].extend(values)
        for label, values in s["calls"].items():
            calls[label].extend(values)
    requests = sum(len(v) for v in calls.values())
    errors = sum(len(s["errors"]) for s in summaries)
    converged = all(s["converged"] for s in summaries)
    say(
        f"shift          {args.tablets} tablets in {args.processes} client process(es), {shift:.1f} s, "
        f"{sum(s['mutations'] for s in summaries)} mutations, {sum(s['photos'] for s in summaries)} photos, "
        f"{requests} requests, {requests / shift:.1f} requests/s, {len(steps[ROUND]) / shift:.1f} sync rounds/s"
    )
    say(f"{'step':<20} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    floors = {LOGIN: kdf_seconds * 1000, ROUND: ms(steps[NOOP], 95)}
    for label in STEPS:
        values = steps[label]
        line = f"{label:<20} {len(values):>6} {ms(values, 50):>8.1f} {ms(values, 95):>8.1f} {ms(values, 99):>8.1f}"
        if label in GOALS:
            ratio = ms(values, 95) / floors[label] if floors[label] else 0.0
            line += f"   {GOALS[label]}; p95 / floor = {ratio:.1f}"
        elif label == NOOP:
            line += "   floor of a sync round (as many GET /healthz, right after it)"
        say(line)
    say(f"{'endpoint':<44} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for label in sorted(calls):
        values = calls[label]
        say(f"{label:<44} {len(values):>6} {ms(values, 50):>8.1f} {ms(values, 95):>8.1f} {ms(values, 99):>8.1f}")
    say(
        f"errors         {errors}; convergence {sum(s['converged'] for s in summaries)}/{len(summaries)} tablets "
        f"equal a fresh full pull of their scope ({sum(s['records'] for s in summaries)} records held in all)"
    )
    shown = 0
    for s in sorted(summaries, key=lambda s: s["index"]):
        if (s["errors"] or not s["converged"]) and shown < 10:
            shown += 1
            for e in s["errors"][:3]:
                say(f"  tablet {s['index']}: {e}")
            if not s["converged"] and s.get("diff"):
                say(f"  tablet {s['index']} differs: {s['diff']}")
    p95 = ms(steps[ROUND], 95)
    return p95, (p95 / floors[ROUND] if floors[ROUND] else 0.0), errors, converged


def main(argv=None) -> int:
    args = parse_args(argv)

    from app.config import Config
    from bench.booking_race import _on_sigterm, gunicorn, server_log_summary

    signal.signal(signal.SIGTERM, _on_sigterm)  # a stopped run still stops gunicorn and drops its database
    from compose import create_app

    failures = []
    with (
        throwaway_database(os.environ.get("DOORSTEP_DATABASE_URL")) as dbi,
        tempfile.TemporaryDirectory(prefix="doorstep-fleet-") as workdir,
    ):
        say(f"database       {dbi.label}")
        server_env = {"DOORSTEP_BLOB_DIR": os.path.join(workdir, "blobs"), "DOORSTEP_TRUSTED_PROXIES": "1"}
        started = time.perf_counter()
        plan, password_hash = set_up(
            create_app(Config({**doorstep_env(dbi), **server_env})), args.tablets, args.residents
        )
        say(
            f"set-up         {math.ceil(args.tablets / OFFICERS_PER_STATION)} station(s), {args.residents} residents, "
            f"visits for 3 days ({time.perf_counter() - started:.1f} s)"
        )
        kdf, kdf_seconds = argon2_floor(password_hash)
        say(f"passwords      {kdf}; one verification before the shift (no fleet load): {kdf_seconds * 1000:.1f} ms")
        say(offered(args))
        with gunicorn(dbi, args.workers, workdir, threads=args.threads, env=server_env) as server:
            base = f"http://127.0.0.1:{server.port}"
            enrollment_codes(base, plan)
            ctx = mp.get_context("spawn")  # clean children: no inherited app, engine or sockets
            barrier, results = ctx.Barrier(args.tablets), ctx.Queue()
            work = {k: getattr(args, k) for k in ("tablets", "registrations", "rounds", "pulls", "think", "ramp")}
            procs = [
                ctx.Process(  # daemonic: they end with the run, however it ends
                    target=client_process,
                    args=(plan[i :: args.processes], base, workdir, work, barrier, results),
                    daemon=True,
                )
                for i in range(min(args.processes, args.tablets))
            ]
            shift_started = time.perf_counter()
            for proc in procs:
                proc.start()
            summaries = [results.get(timeout=3600) for _ in plan]
            shift = time.perf_counter() - shift_started
            for proc in procs:
                proc.join(timeout=30)
            server_log = server.log()

        worker = f"gthread, {args.threads} threads each" if args.threads > 1 else "sync"
        say(f"gunicorn       {args.workers} workers ({worker}); server log: {server_log_summary(server_log)}")
        p95, ratio, errors, converged = report(args, summaries, shift, kdf_seconds)
        if errors:
            failures.append(f"{errors} errors")
        if not converged:
            failures.append("not converged")
    for failure in failures:
        say(f"FAILED         {failure}")
    say(
        f"fleet_{args.tablets}: p95={p95:.0f} ms errors={errors} converged={'yes' if converged else 'no'} "
        f"ratio={ratio:.1f}"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    run(main, "fleet")
