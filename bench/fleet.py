#!/usr/bin/env python
"""A fleet of tablets working a shift against the real server.

What is measured
----------------
N tablets (default 20), each the reference client (``doorstep_client.TabletClient`` over
``HttpTransport``) in its own process — as many independent SQLite files, connections and GILs as a
station's tablets really have — work a shift against gunicorn (several workers) on one database
(SQLite by default; PostgreSQL when ``DOORSTEP_DATABASE_URL`` names a server, in a throwaway
database made and dropped by ``bench.common``):

1. The set-up seeds stations, areas, officers and a few thousand residents with their visits
   (``compose.seed_scale``, the same code as ``flask seed-scale``); a staff member of each station
   registers one tablet per officer over the API and hands its enrollment code to the tablet.
2. Each tablet enrolls, logs in (device-bound), pulls its scope (residents and registrations of
   its area, the station's areas, its visits), then works a day offline in rounds — registering
   residents and their residence, recording the outcome of the visits dispatched to its officer —
   syncing (push, then incremental pulls) after each round, and pulling a few more times.
3. Once every tablet is done, each syncs once more, waits for all the others, syncs again, and
   compares its local view with a fresh full pull of its scope (cursor null): every record, its
   version and its data must be equal. That is convergence.

Timings are taken inside the tablet processes, around each HTTP call (the transport is wrapped),
so they are what a tablet waits for, queueing included. An error is any non-2xx answer, any lost
connection, any mutation the server rejected or merged with a conflict, or a tablet that failed.

Usage::

    .venv/bin/python bench/fleet.py                     # SQLite, 20 tablets
    DOORSTEP_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/fleet.py
    .venv/bin/python bench/fleet.py --tablets 40 --workers 4 --registrations 40 --rounds 3

The last line is ``fleet_<N>: p95=<ms> ms errors=<n> converged=<yes|no>``; the exit status is 1 when
there were errors or a tablet did not converge.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import secrets
import sys
import tempfile
import time
import traceback
import urllib.request
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import doorstep_env, throwaway_database  # noqa: E402

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


def set_up(app, tablets: int, residents: int) -> list[dict]:
    """Stations enough for one officer per tablet, residents and visits, through seed-scale's code."""
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
        orgs, _new = seed_scale.seed_org(stations, hash_password(PASSWORD), "FL")
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
    return plan


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


def identities(tablet: int, count: int) -> list[str]:
    """Valid, unique identity numbers no seeded resident holds (seeded ones are indices < 10^7)."""
    from compose.seed_scale import identity_number

    return [identity_number(50_000_000 + tablet * 10_000 + k) for k in range(count)]


# --- one tablet (child process) -------------------------------------------------------------------


def tablet_main(p: dict, base: str, workdir: str, args: dict, barrier, results) -> None:
    """The shift of one tablet; puts one summary dict on ``results`` whatever happens."""
    from doorstep_client import HttpTransport, TabletClient, Transport, TransportError

    class TimedTransport(Transport):
        """Wraps the real transport: each call's latency and status, kept in this process."""

        def __init__(self, inner):
            self.inner = inner
            self.timings = defaultdict(list)
            self.errors = []

        def call(self, method, path, payload=None, **kw):
            label = f"{method} {path}"
            started = time.perf_counter()
            try:
                reply = self.inner.call(method, path, payload, **kw)
            except TransportError as exc:
                self.errors.append(f"{label}: {exc}")
                raise
            finally:
                self.timings[label].append(time.perf_counter() - started)
            if reply.status >= 400:
                self.errors.append(f"{label}: HTTP {reply.status} {str(reply.body)[:200]}")
            return reply

    transport = TimedTransport(HttpTransport(base, timeout=120))
    summary = {"index": p["index"], "errors": [], "converged": False, "mutations": 0, "records": 0}
    client = None
    try:
        client = TabletClient(
            os.path.join(workdir, f"tablet{p['index']}.sqlite3"), transport, sleep=time.sleep, max_attempts=3
        )
        client.enroll(base, p["enrollment_code"])
        client.login(p["officer"], p["password"])  # from the plan: a spawned child draws its own PASSWORD
        client.sync()  # the first pull: the whole scope

        people = identities(p["index"], args["registrations"])
        my_visits = [
            v["id"]
            for v in client.visits()
            if v["data"].get("status") == "assigned" and v["data"].get("officer_id") == p["officer_id"]
        ]
        rounds = max(1, args["rounds"])
        today = date.today()
        for r in range(rounds):  # offline work, then sync, per round
            for k in range(r, len(people), rounds):
                resident = client.register_resident(
                    f"测试{p['index']}号{k}",
                    ("male", "female")[k % 2],
                    people[k],
                    phone=f"139{p['index']:03d}{k:05d}",
                    hukou_address="河南省信阳市浉河区某某村",
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
                summary["mutations"] += 2
            for k in range(r, len(my_visits), rounds):
                client.record_outcome(my_visits[k], ("completed", "not_home")[k % 2], "bench")
                summary["mutations"] += 1
            report = client.sync()
            if report.rejected or report.conflicts:
                summary["errors"].append(
                    f"round {r}: {report.rejected} rejected, {report.conflicts} conflicts: {client.rejections()[:2]}"
                )
        for _ in range(args["pulls"]):  # the rest of the shift: incremental pulls
            time.sleep(args["pause"])
            client.pull()
    except BaseException as exc:
        summary["errors"].append(f"tablet failed: {exc!r}\n{traceback.format_exc()[-1500:]}")
    finally:
        # Convergence: everyone syncs, waits for the others, syncs again, then compares.
        try:
            barrier.wait(timeout=600)
            if client is not None and not summary["errors"]:
                client.sync()
            barrier.wait(timeout=600)
            if client is not None and not summary["errors"]:
                client.sync()
                summary["converged"], summary["diff"] = converged(client)
                summary["records"] = len(client.records())
        except BaseException as exc:
            summary["errors"].append(f"convergence check failed: {exc!r}")
        summary["errors"] += transport.errors
        summary["timings"] = dict(transport.timings)
        if client is not None:
            client.close()
        results.put(summary)


def converged(client) -> tuple[bool, list]:
    """The tablet's view against a fresh full pull of its scope (cursor null), record by record."""
    fresh, cursor = {}, None
    while True:
        page = client._request(
            "POST", "/api/v1/sync/pull", {"protocol": 1, "cursor": cursor, "limit": 1000}, compress=True
        )
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


# --- the run -----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tablets", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--residents", type=int, default=12_000, help="residents seeded before the shift")
    parser.add_argument("--registrations", type=int, default=24, help="people each tablet registers")
    parser.add_argument("--rounds", type=int, default=3, help="offline work / sync rounds per tablet")
    parser.add_argument("--pulls", type=int, default=3, help="incremental pulls after the work")
    parser.add_argument("--pause", type=float, default=0.5, help="seconds between those pulls")
    args = parser.parse_args()

    from app.config import Config
    from bench.booking_race import gunicorn, server_log_summary
    from compose import create_app

    failures = []
    with (
        throwaway_database(os.environ.get("DOORSTEP_DATABASE_URL")) as dbi,
        tempfile.TemporaryDirectory(prefix="doorstep-fleet-") as workdir,
    ):
        say(f"database       {dbi.label}")
        started = time.perf_counter()
        plan = set_up(create_app(Config(doorstep_env(dbi))), args.tablets, args.residents)
        say(
            f"set-up         {math.ceil(args.tablets / OFFICERS_PER_STATION)} station(s), {args.residents} residents, "
            f"visits for 3 days ({time.perf_counter() - started:.1f} s)"
        )
        with gunicorn(dbi, args.workers, workdir) as server:
            base = f"http://127.0.0.1:{server.port}"
            enrollment_codes(base, plan)
            ctx = mp.get_context("spawn")  # clean children: no inherited app, engine or sockets
            barrier, results = ctx.Barrier(args.tablets), ctx.Queue()
            work = {
                "registrations": args.registrations,
                "rounds": args.rounds,
                "pulls": args.pulls,
                "pause": args.pause,
            }
            procs = [ctx.Process(target=tablet_main, args=(p, base, workdir, work, barrier, results)) for p in plan]
            shift_started = time.perf_counter()
            for proc in procs:
                proc.start()
            summaries = [results.get(timeout=900) for _ in procs]
            shift = time.perf_counter() - shift_started
            for proc in procs:
                proc.join(timeout=30)
            server_log = server.log()

        timings = defaultdict(list)
        for s in summaries:
            for label, values in s["timings"].items():
                timings[label].extend(values)
        everything = [v for values in timings.values() for v in values]
        errors = sum(len(s["errors"]) for s in summaries)
        converged = all(s["converged"] for s in summaries)
        say(f"gunicorn       {args.workers} workers; server log: {server_log_summary(server_log)}")
        say(
            f"shift          {args.tablets} tablets (one process each), {shift:.1f} s, "
            f"{sum(s['mutations'] for s in summaries)} mutations, {len(everything)} requests, "
            f"{len(everything) / shift:.1f} requests/s"
        )
        say(f"{'endpoint':<32} {'n':>6} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
        for label in sorted(timings):
            values = timings[label]
            say(
                f"{label:<32} {len(values):>6} {len(values) / shift:>7.1f} {percentile(values, 50) * 1000:>8.1f} "
                f"{percentile(values, 95) * 1000:>8.1f} {percentile(values, 99) * 1000:>8.1f}"
            )
        say(
            f"{'all':<32} {len(everything):>6} {len(everything) / shift:>7.1f} "
            f"{percentile(everything, 50) * 1000:>8.1f} {percentile(everything, 95) * 1000:>8.1f} "
            f"{percentile(everything, 99) * 1000:>8.1f}"
        )
        say(
            f"convergence    {sum(s['converged'] for s in summaries)}/{len(summaries)} tablets equal a fresh "
            f"full pull of their scope ({sum(s['records'] for s in summaries)} records held in all)"
        )
        for s in summaries:
            for e in s["errors"][:3]:
                say(f"  tablet {s['index']}: {e}")
            if not s["converged"] and s.get("diff"):
                say(f"  tablet {s['index']} differs: {s['diff']}")
        if errors:
            failures.append(f"{errors} errors")
        if not converged:
            failures.append("not converged")
        p95 = percentile(everything, 95) * 1000
    for failure in failures:
        say(f"FAILED         {failure}")
    say(f"fleet_{args.tablets}: p95={p95:.0f} ms errors={errors} converged={'yes' if converged else 'no'}")
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("fleet: interrupted", file=sys.stderr)
        sys.exit(130)
