#!/usr/bin/env python
"""The maturity job over a million registrations, against the physical limit.

What is measured
----------------
A district keeps every registration it ever made; most matured long ago and were told so. After a
three-day outage the scheduler's maturity job must find the few thousand registrations that
matured meanwhile and queue one SMS for each (the daily list is read from the registrations, not
written) — without reading the rest.

* ``job``: ``field_api.residency.maturity.notify_matured`` — the job's own code path, in the app, through
  SQLAlchemy: lock its clock, count the due rows and queue their outbox rows with one ``INSERT …
  SELECT … ON CONFLICT (dedupe_key) DO NOTHING`` (index ``ix_registration_maturity_due``; ids,
  parameters and keys made in SQL), look at the (empty) queue, move the clock, commit.
* ``raw select``: one DBAPI connection (``psycopg``/``sqlite3``, no ORM) reading the same rows and
  columns with the same joins and the same index — the least any implementation must do to know
  what is due. ``ratio`` = job ÷ raw select.
* ``raw floor``: the same writes with nothing above the database: after the job is undone, one
  ``INSERT … SELECT`` straight from the due rows (ids, texts and keys made in SQL as the job makes
  them), the clock's update (and with ``--queued`` the stage update), one commit; best of
  ``--repeat``. ``floor_ratio``
  = job ÷ raw floor: what the app's Python, SQLAlchemy and the round trips add to work no
  implementation can skip.
* ``idle tick``: the job run again at once — nothing is due, and a million rows must not make it
  slow.
* ``dispatch``: the outbox job (``app.notify.jobs.dispatch`` → ``dispatch_due``) sending every queued
  message with the console sender (quiet hours off): messages per second.

Data: ``--count`` residents with one registration each, maturity dates spread evenly over the 540
days before today and the 180 after, each registered 183 days before it matures — so, as the app
writes them, SCHEDULED (stage 3), found by date; the job's clock (``maturity_progress``) says it
handled every day before the outage, so the last ``--outage-days`` + today are due. With
``--queued`` the rows are as a late registration or the previous version of the job left them
instead: those that matured before the outage told (stage 2), the due ones in the queue (stage 0),
which the job empties row by row. Loaded with COPY (PostgreSQL) or ``executemany`` (SQLite).
Phone ciphertexts are real (1,000 distinct, reused), identity ciphertexts a placeholder (the job
never reads them), blind indexes distinct per resident.

Safety: as ``bench/booking_race.py``: a temporary SQLite file, or on PostgreSQL a database
``doorstep_bench_<pid>_<random>`` created on the server named by ``DOORSTEP_DATABASE_URL`` and
dropped ``WITH (FORCE)`` at the end, whatever happens.

Usage::

    .venv/bin/python bench/maturity_scan.py                        # SQLite, 1,000,000
    DOORSTEP_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/maturity_scan.py                    # PostgreSQL
    .venv/bin/python bench/maturity_scan.py --count 200000 --outage-days 3

The last line is ``maturity_scan_<n>: <ms> ms ratio=<R> floor_ratio=<F> dispatch=<msg/s>/s``
(``_1m`` for a million).
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.db import utcnow  # noqa: E402
from bench.common import Database, doorstep_env, run, throwaway_database  # noqa: E402

SPREAD_PAST, SPREAD_FUTURE = 540, 180
PHONES = 1000


def say(line: str = "") -> None:
    print(line, flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--count", type=int, default=1_000_000, help="registrations (default 1,000,000)")
    p.add_argument("--outage-days", type=int, default=3, help="days the scheduler was down (default 3)")
    p.add_argument(
        "--repeat", type=int, default=5, help="raw selects and job runs to time; the best of each counts (default 5)"
    )
    p.add_argument(
        "--queued",
        action="store_true",
        help="the due registrations wait in the queue (stage 0) instead of being scheduled (stage 3)",
    )
    args = p.parse_args(argv)
    if args.count < 1000:
        p.error("--count must be at least 1000")
    if not 0 <= args.outage_days < SPREAD_PAST:
        p.error(f"--outage-days must be between 0 and {SPREAD_PAST - 1}")
    return args


# --- loading ------------------------------------------------------------------------------------


def set_up(app):
    from flask_migrate import upgrade

    from app import pii
    from app.extensions import db
    from app.org.models import Area, Station

    with app.app_context():
        upgrade()
        station = Station(code="BENCH", name="基准派出所")
        db.session.add(station)
        db.session.flush()
        areas = [Area(station_id=station.id, code=f"A{n}", name=f"社区{n}") for n in range(10)]
        db.session.add_all(areas)
        db.session.commit()
        phones = [pii.encrypt(pii.PHONE, f"139{n:08d}") for n in range(PHONES)]
        identity = pii.encrypt(pii.IDENTITY, "330106199003071238")
        return station.id, [a.id for a in areas], phones, identity


def told_before(today: date, outage_days: int) -> date:
    """The first day of the outage: the job's clock had done every day before it."""
    return today - timedelta(days=outage_days)


def rows(n: int, today: date, outage_days: int, station_id, area_ids, phones, identity, queued: bool):
    """(resident, registration) tuples in column order; the order of the COLUMNS lists below."""
    from field_api.residency.models import DONE, QUEUED, SCHEDULED

    now = utcnow()
    span = SPREAD_PAST + SPREAD_FUTURE
    told = told_before(today, outage_days)
    for i in range(n):
        rid, gid = uuid.uuid4(), uuid.uuid4()
        matures = today - timedelta(days=SPREAD_PAST) + timedelta(days=i * span // n)
        bidx = f"{i:064x}"
        resident = (rid, "居民", "female", "汉族", identity, bidx, phones[i % PHONES], bidx, "", 1, "{}", now, now)
        registration = (
            gid,
            rid,
            station_id,
            area_ids[i % len(area_ids)],
            "北山街道",
            matures - timedelta(days=183),
            matures,
            "work",
            "owned",
            "active",
            f"{rid}:{station_id}",
            1,
            "{}",
            (DONE if matures < told else QUEUED) if queued else SCHEDULED,
            now,
            now,
        )
        yield resident, registration


RESIDENT_COLUMNS = (
    "id",
    "name",
    "sex",
    "ethnicity",
    "identity_enc",
    "identity_bidx",
    "phone_enc",
    "phone_bidx",
    "hukou_address",
    "version",
    "field_versions",
    "created_at",
    "updated_at",
)
REGISTRATION_COLUMNS = (
    "id",
    "resident_id",
    "station_id",
    "area_id",
    "address",
    "start_date",
    "maturity_date",
    "reason",
    "housing",
    "status",
    "active_key",
    "version",
    "field_versions",
    "maturity_notice_stage",
    "created_at",
    "updated_at",
)


def load(db: Database, generated, through: date) -> None:
    """The residents and registrations, and the maturity clock standing at ``through``."""
    progress = (
        "INSERT INTO maturity_progress (kind, through, updated_at) VALUES ({0}, {0}, {0}) "
        "ON CONFLICT (kind) DO UPDATE SET through = excluded.through"
    )
    stamp = utcnow()
    if db.kind == "postgresql":
        import psycopg

        with psycopg.connect(db.libpq) as conn, conn.cursor() as cur:
            cur.execute(progress.format("%s"), ("maturity_reached", through, stamp))
            registrations = []
            with cur.copy(f"COPY resident ({', '.join(RESIDENT_COLUMNS)}) FROM STDIN") as copy:
                for resident, registration in generated:
                    copy.write_row(resident)
                    registrations.append(registration)
            with cur.copy(f"COPY registration ({', '.join(REGISTRATION_COLUMNS)}) FROM STDIN") as copy:
                for registration in registrations:
                    copy.write_row(registration)
            conn.commit()
            conn.autocommit = True
            # Vacuumed as a live database's tables are: left to autovacuum, a freshly loaded
            # million rows are vacuumed in the background while the run is timed.
            cur.execute("VACUUM (ANALYZE) resident")
            cur.execute("VACUUM (ANALYZE) registration")
        return

    def sqlite_value(v):  # what SQLAlchemy stores on SQLite: hex UUIDs, ISO dates, naive UTC times
        if isinstance(v, uuid.UUID):
            return v.hex
        if isinstance(v, datetime):
            return v.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
        if isinstance(v, date):
            return v.isoformat()
        return v

    conn = sqlite3.connect(db.sqlite_path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        pairs = [(tuple(map(sqlite_value, a)), tuple(map(sqlite_value, b))) for a, b in generated]
        with conn:
            conn.execute(progress.format("?"), ("maturity_reached", through.isoformat(), sqlite_value(stamp)))
            conn.executemany(
                f"INSERT INTO resident ({', '.join(RESIDENT_COLUMNS)}) VALUES "
                f"({', '.join('?' * len(RESIDENT_COLUMNS))})",
                (a for a, _ in pairs),
            )
            conn.executemany(
                f"INSERT INTO registration ({', '.join(REGISTRATION_COLUMNS)}) VALUES "
                f"({', '.join('?' * len(REGISTRATION_COLUMNS))})",
                (b for _, b in pairs),
            )
        conn.execute("ANALYZE")
    finally:
        conn.close()


# --- the raw limits -------------------------------------------------------------------------------

# The job's read, as plain SQL: the scheduled rows whose date the clock has just passed (or, with
# --queued, the queue). On PostgreSQL the raw connection turns sequential scans and hash and merge
# joins off: for the queue, the planner's statistics cannot see that stage and date go together
# and would read whole tables (the job gets the index plan by reading per stage, in date order,
# with a LIMIT), and the raw side must never be slower for want of the index plan.
SELECT_COLUMNS = "r.id, r.station_id, r.area_id, r.maturity_date, p.phone_enc, p.phone_bidx, s.name"
DUE_FROM = "FROM registration r JOIN resident p ON p.id = r.resident_id JOIN station s ON s.id = r.station_id "


def due_where(db: Database, today: date, through: date, queued: bool) -> tuple[str, tuple]:
    mark = "%s" if db.kind == "postgresql" else "?"
    value = (lambda d: d) if db.kind == "postgresql" else (lambda d: d.isoformat())
    if queued:
        return (
            f"WHERE r.status = 'active' AND r.maturity_notice_stage IN (0, 1) AND r.maturity_date <= {mark}",
            (value(today),),
        )
    return (
        f"WHERE r.status = 'active' AND r.maturity_notice_stage = 3 AND r.maturity_date > {mark} "
        f"AND r.maturity_date <= {mark}",
        (value(through), value(today)),
    )


def raw_connection(db: Database):
    if db.kind == "postgresql":
        import psycopg

        conn = psycopg.connect(db.libpq)
        for setting in ("enable_seqscan", "enable_hashjoin", "enable_mergejoin"):  # the job's plan: index, nested loops
            conn.execute(f"SET {setting} = off")
        conn.commit()
        return conn, "%s"
    from app.db import SQLITE_FILE_PRAGMAS

    conn = sqlite3.connect(db.sqlite_path, isolation_level=None)
    for pragma in SQLITE_FILE_PRAGMAS:  # the database as the app runs it
        conn.execute(f"PRAGMA {pragma}")
    return conn, "?"


def raw_select(db: Database, today: date, through: date, queued: bool, repeat: int) -> tuple[float, list]:
    """Best of ``repeat``: the due rows, their columns, through the index, nothing else. Returns
    the time and the rows' ids."""
    conn, _ = raw_connection(db)
    where, args = due_where(db, today, through, queued)
    try:
        best, ids = float("inf"), []
        for _ in range(repeat):
            t0 = time.perf_counter()
            cur = conn.cursor()
            cur.execute(f"SELECT {SELECT_COLUMNS} {DUE_FROM}{where}", args)
            ids = [row[0] for row in cur.fetchall()]
            best = min(best, time.perf_counter() - t0)
            if db.kind == "postgresql":
                conn.rollback()
        return best, ids
    finally:
        conn.close()


def raw_floor(db: Database, today: date, through: date, queued: bool, now: datetime) -> float:
    """The least the job's writes can cost: everything done by the database itself, one
    ``INSERT … SELECT`` straight from the due rows (ids, texts and keys made in SQL as the job
    makes them, no row ever crossing to the client), the stage update of a queue, the clock's
    update, one commit."""
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql, sqlite

    from app.bulk import new_uuid, uuid_key

    pg = db.kind == "postgresql"
    mark = "%s" if pg else "?"
    where, args = due_where(db, today, through, queued)
    stamp = now if pg else now.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
    dialect = postgresql.dialect() if pg else sqlite.dialect()
    new_id = str(new_uuid().compile(dialect=dialect))
    registration_key = str(uuid_key(sa.literal_column("r.id")).compile(dialect=dialect))  # the id's 32 hex digits
    key = "'maturity:' || " + registration_key  # maturity_key(id)
    link = "'R:' || " + registration_key  # maturity_link(id): the link the text carries, signed when it is sent
    params = (
        f"json_build_object('station', s.name, 'day', to_char(r.maturity_date, 'YYYY-MM-DD'), 'link', {link})"
        if pg
        else f"json_object('station', s.name, 'day', r.maturity_date, 'link', {link})"
    )
    statements = [
        (
            f"INSERT INTO notification (id, kind, template, params, locale, recipient_phone_enc, recipient_bidx, "
            f"station_id, due_at, next_attempt_at, status, attempts, dedupe_key, created_at) "
            f"SELECT {new_id}, 'maturity_reached', 'maturity_reached', {params}, 'zh', p.phone_enc, p.phone_bidx, "
            f"r.station_id, {mark}, {mark}, 'pending', 0, {key}, {mark} {DUE_FROM}{where} AND p.phone_enc IS NOT NULL "
            f"ON CONFLICT (dedupe_key) DO NOTHING",
            (stamp, stamp, stamp, *args),
        ),
        (
            f"UPDATE maturity_progress SET through = {mark} WHERE kind = 'maturity_reached'",
            (today if pg else today.isoformat(),),
        ),
    ]
    if queued:
        statements.append((f"UPDATE registration AS r SET maturity_notice_stage = 2 {where}", args))
    conn, _ = raw_connection(db)
    try:
        cur = conn.cursor()
        t0 = time.perf_counter()
        if not pg:
            cur.execute("BEGIN IMMEDIATE")
        for sql, values in statements:
            cur.execute(sql, values)
        conn.commit() if pg else cur.execute("COMMIT")
        return time.perf_counter() - t0
    finally:
        conn.close()


def reset_due(db: Database, ids: list, through: date, queued: bool) -> None:
    """Undo the job (untimed), so the floor finds the same due rows in the same state."""
    pg = db.kind == "postgresql"
    conn, mark = raw_connection(db)
    try:
        cur = conn.cursor()
        if not pg:
            cur.execute("BEGIN IMMEDIATE")
        cur.execute("DELETE FROM notification")
        cur.execute(
            f"UPDATE maturity_progress SET through = {mark} WHERE kind = 'maturity_reached'",
            (through if pg else through.isoformat(),),
        )
        if queued:
            cur.executemany(f"UPDATE registration SET maturity_notice_stage = 0 WHERE id = {mark}", [(i,) for i in ids])
        conn.commit() if pg else cur.execute("COMMIT")
        if pg:  # the deleted rows' index entries gone too, as before the first run
            conn.autocommit = True
            cur.execute("VACUUM notification")
    finally:
        conn.close()


# --- main -------------------------------------------------------------------------------------------


def _on_sigterm(signum, _frame):
    raise SystemExit(128 + signum)  # unwinds through the finally that drops the database


def label(n: int) -> str:
    return "1m" if n == 1_000_000 else (f"{n // 1000}k" if n % 1000 == 0 else str(n))


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGHUP, _on_sigterm)

    from app.config import Config
    from compose import create_app

    failures: list[str] = []
    with throwaway_database(os.environ.get("DOORSTEP_DATABASE_URL")) as db:
        env = {**doorstep_env(db), "DOORSTEP_QUIET_HOURS": "off", "DOORSTEP_SMS_SENDER": "console"}
        app = create_app(Config(env))
        from app import unit_of_work
        from app.extensions import db as sa_db
        from app.notify.jobs import dispatch
        from app.workdays import LOCAL_TZ
        from field_api.residency.maturity import notify_matured

        station_id, area_ids, phones, identity = set_up(app)
        now = utcnow()
        today = now.astimezone(LOCAL_TZ).date()
        say(f"database       {db.label}")
        t0 = time.perf_counter()
        through = told_before(today, args.outage_days) - timedelta(days=1)
        load(
            db, rows(args.count, today, args.outage_days, station_id, area_ids, phones, identity, args.queued), through
        )
        say(
            f"loaded         {args.count:,} residents and registrations in {time.perf_counter() - t0:.1f} s "
            f"({'COPY' if db.kind == 'postgresql' else 'executemany'})"
        )

        raw, due_ids = raw_select(db, today, through, args.queued, args.repeat)
        due = len(due_ids)
        say(
            f"due            {due:,} registrations matured over the last {args.outage_days} days and today "
            f"(of {args.count:,}; the rest told before the outage, or not yet mature; "
            f"{'queued: stage 0' if args.queued else 'scheduled: found by date'})"
        )

        from app.notify.models import Notification

        with app.app_context():
            # Best of --repeat, as the raw select: each run after the first finds the due rows as
            # the first did (the job undone, untimed, in between).
            job = float("inf")
            for attempt in range(args.repeat):
                if attempt:
                    sa_db.session.remove()
                    reset_due(db, due_ids, through, args.queued)
                t0 = time.perf_counter()
                result = unit_of_work.unit(lambda: notify_matured(now))  # a job run: one unit, committed
                job = min(job, time.perf_counter() - t0)
            t0 = time.perf_counter()
            idle = unit_of_work.unit(lambda: notify_matured(now))
            idle_time = time.perf_counter() - t0
            queued = sa_db.session.execute(sa_db.select(sa_db.func.count()).select_from(Notification)).scalar_one()
            sa_db.session.remove()
        floor = float("inf")
        for _ in range(args.repeat):  # best of --repeat too, each from the same state
            reset_due(db, due_ids, through, args.queued)
            floor = min(floor, raw_floor(db, today, through, args.queued, now))
        with app.app_context():
            floor_queued = sa_db.session.execute(
                sa_db.select(sa_db.func.count()).select_from(Notification)
            ).scalar_one()
            sa_db.session.remove()
        ratio, floor_ratio = job / raw, job / floor
        say(
            f"raw select     {raw * 1000:.1f} ms  (best of {args.repeat}; {db.kind} DBAPI, same rows, columns, "
            f"joins and index)"
        )
        say(
            f"raw floor      {floor * 1000:.1f} ms  (best of {args.repeat}; the same writes done inside the "
            f"database: INSERT … SELECT into the outbox, {'the stage update, ' if args.queued else ''}"
            "the clock's update, one commit)"
        )
        say(
            f"job            {job * 1000:.1f} ms  (best of {args.repeat}; {result['matured']:,} matured, "
            f"{result['sms']:,} SMS queued; {job / max(result['matured'], 1) * 1e6:.0f} µs per registration)"
        )
        say(f"idle tick      {idle_time * 1000:.1f} ms  (run again at once: {idle})")

        t0 = time.perf_counter()
        sent = 0
        with app.app_context():
            while True:
                done = dispatch(utcnow())
                sent += done.get("sent", 0)
                if not done.get("sent"):
                    break
        spent = time.perf_counter() - t0
        rate = sent / spent if spent else 0.0
        say(
            f"dispatch       {sent:,} messages in {spent:.2f} s = {rate:.0f} msg/s (console sender, "
            f"batch {app.config['DISPATCH_BATCH']}: a sweep and a claim commit per batch, an outcome commit per "
            f"message)"
        )

        if result["matured"] != due or result["sms"] != due or queued != due:
            failures.append(
                f"the job queued {result['sms']} SMS for {result['matured']} registrations, "
                f"the outbox holds {queued}; {due} were due"
            )
        if floor_queued != due:
            failures.append(f"the floor queued {floor_queued} rows, the select saw {due}")
        if idle["matured"]:
            failures.append(f"a second tick found {idle['matured']} more")
        if sent != due:
            failures.append(f"dispatch sent {sent} of {due}")
        final = (
            f"maturity_scan_{label(args.count)}: {job * 1000:.0f} ms ratio={ratio:.1f} "
            f"floor_ratio={floor_ratio:.1f} dispatch={rate:.0f}/s"
        )
        with app.app_context():
            sa_db.engine.dispose()

    for failure in failures:
        say(f"FAILED         {failure}")
    say(final)
    return 1 if failures else 0


if __name__ == "__main__":
    run(main, "maturity_scan")
