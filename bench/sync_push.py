"""1,000 resident creates pushed by a tablet in pushes of 500, through the WSGI handler, against
the physical limit measured in the same run: a raw DBAPI ``executemany`` INSERT, in one
transaction, of the same rows — every row the pushes wrote, as stored: the residents (already
encrypted), their audit events (already hashed) and the stored results that make a replay harmless.

The floor is what the database must do for these creates whatever code drives it; the ratio is
what the product adds on top: parsing and validating each mutation, checking the identity number,
encrypting and indexing the numbers, chaining the audit events, settling each mutation on its own.
The ratio against the residents' rows alone is printed too (``resident_ratio``): below about 4 it
cannot go, the audit and stored-result rows alone costing that much.

The push runs ``--repeat`` times (each run new people) and the floor is measured right after each
run on the rows that run wrote (best of two), so both sides of a ratio see the machine in the same
state: this machine's timings drift by half from one minute to the next. The last line gives the
median rate and the median of the runs' ratios.

Run: python bench/sync_push.py            (SQLite)
     DOORSTEP_DATABASE_URL=postgresql+psycopg://user@host/any python bench/sync_push.py
Last line: sync_push_1k: <mutations/s> ratio=<R>
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bench.common import doorstep_env, throwaway_database  # noqa: E402


def identity(n: int) -> str:
    from app.pii import identity_check_char

    first17 = f"330106{19600101 + (n // 1000) % 30 * 10000 + (n % 28):08d}{n % 1000:03d}"
    return first17 + identity_check_char(first17)


def setup(app):
    from app.auth.models import Device
    from app.auth.passwords import hash_password
    from app.auth.tokens import issue_access_token
    from app.extensions import db
    from app.org.models import Area, Station, User

    with app.app_context():
        station = Station(code="BENCH", name="基准派出所")
        db.session.add(station)
        db.session.flush()
        area = Area(station_id=station.id, code="A1", name="基准社区")
        officer = User(
            username="bench.officer",
            password_hash=hash_password("bench-password"),
            role="officer",
            station_id=station.id,
            display_name="officer",
        )
        db.session.add_all([area, officer])
        db.session.flush()
        officer.areas = [area]
        device = Device(station_id=station.id, label="bench", status="active", public_jwk={})
        db.session.add(device)
        db.session.commit()
        return issue_access_token(officer, device.id)


def mutations(count: int, offset: int, first_seq: int = 1) -> list[dict]:
    now = datetime.now(UTC).isoformat()
    return [
        {
            "mutation_id": str(uuid.uuid4()),
            "seq": first_seq + i,
            "entity": "resident",
            "op": "create",
            "id": str(uuid.uuid4()),
            "base_version": None,
            "occurred_at": now,
            "data": {
                "name": "张伟",
                "sex": "male",
                "ethnicity": "汉族",
                "identity_number": identity(offset + i),
                "phone": f"138{offset + i:08d}",
                "hukou_address": "河南省信阳市平桥区",
            },
        }
        for i in range(count)
    ]


WRITTEN = ("resident", "audit_event", "sync_mutation", "sync_record")


def _connect(dbi):
    if dbi.kind == "sqlite":
        conn = sqlite3.connect(dbi.sqlite_path)
        from app.db import SQLITE_FILE_PRAGMAS

        for pragma in ("foreign_keys=ON", *SQLITE_FILE_PRAGMAS):  # the database as the app runs it
            conn.execute(f"PRAGMA {pragma}")
        return conn, "?"
    import psycopg
    from psycopg.types.string import TextLoader

    conn = psycopg.connect(dbi.libpq)
    for json_type in ("json", "jsonb"):  # JSON read as its text and written back as it was
        conn.adapters.register_loader(json_type, TextLoader)
    return conn, "%s"


def written_rows(dbi, resident_ids: set, since_audit: int, since_seq: int, first_mutation_seq: int) -> dict:
    """Every row the timed pushes wrote, table by table, exactly as stored."""
    conn, _p = _connect(dbi)
    where = {
        "resident": "1=1",
        "audit_event": f"id > {since_audit}",
        "sync_mutation": f"seq >= {first_mutation_seq}",
        "sync_record": f"seq > {since_seq}",
    }
    out = {}
    for table in WRITTEN:
        cur = conn.execute(f"SELECT * FROM {table} WHERE {where[table]}")
        cols, data = [c[0] for c in cur.description], cur.fetchall()
        if table == "resident":  # not the warm-up push's, nor an earlier run's
            data = [r for r in data if uuid.UUID(str(r[cols.index("id")])) in resident_ids]
        out[table] = (cols, data)
    conn.close()
    return out


def raw_insert(dbi, rows: dict, tables: tuple[str, ...]) -> float:
    """The rows removed, then put back with one ``executemany`` per table in one transaction: the
    floor for writing them in this database."""
    conn, p = _connect(dbi)
    for table in tables:
        conn.execute(f"DELETE FROM {table}")
    conn.commit()
    started = time.perf_counter()
    cur = conn.cursor()
    for table in tables:
        cols, data = rows[table]
        quoted = ", ".join(f'"{c}"' for c in cols)
        cur.executemany(f"INSERT INTO {table} ({quoted}) VALUES ({', '.join([p] * len(cols))})", data)
    conn.commit()
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5, help="runs, each followed by its floor")
    args = parser.parse_args()
    from app.config import Config
    from compose import create_app

    with throwaway_database(os.environ.get("DOORSTEP_DATABASE_URL")) as dbi:
        app = create_app(Config(doorstep_env(dbi)))
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
        token = setup(app)
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        warm = mutations(10, 10_000_000)  # seq 1-10: first requests pay for caches a server has warm
        client.post("/api/v1/sync/push", json={"protocol": 1, "mutations": warm}, headers=headers)
        runs, floors, resident_floors = [], [], []
        for run in range(args.repeat):
            with app.app_context():
                from app.extensions import db

                since_audit = db.session.execute(sa.text("SELECT max(id) FROM audit_event")).scalar() or 0
                since_seq = db.session.execute(sa.text("SELECT max(seq) FROM sync_record")).scalar() or 0
            first_seq = 11 + run * args.creates
            muts = mutations(args.creates, run * args.creates, first_seq=first_seq)
            # The tablet's side (encoding the bodies, reading the answers) is not the server's work.
            bodies = [
                orjson.dumps({"protocol": 1, "mutations": muts[i : i + args.batch]})
                for i in range(0, len(muts), args.batch)
            ]
            started = time.perf_counter()
            answers = [
                client.post("/api/v1/sync/push", data=body, headers=headers, content_type="application/json")
                for body in bodies
            ]
            runs.append(time.perf_counter() - started)
            applied = 0
            for resp in answers:
                if resp.status_code != 200:
                    raise SystemExit(f"push failed: {resp.status_code} {resp.get_data(as_text=True)[:300]}")
                applied += sum(r["status"] == "applied" for r in orjson.loads(resp.get_data())["results"])
            if applied != args.creates:
                raise SystemExit("not every mutation applied")
            # The floor right after the run, on the rows it wrote: both sides see the machine alike.
            rows = written_rows(dbi, {uuid.UUID(m["id"]) for m in muts}, since_audit, since_seq, first_seq)
            resident_floors.append(min(raw_insert(dbi, rows, ("resident",)) for _ in range(2)))
            floors.append(min(raw_insert(dbi, rows, WRITTEN) for _ in range(2)))
        pushed, raw_residents = (statistics.median(x) for x in (runs, resident_floors))
        ratios = [r / f for r, f in zip(runs, floors, strict=True)]
        counts = ", ".join(f"{len(rows[t][1])} {t}" for t in WRITTEN)
        rate = args.creates / pushed
        print(f"database       {dbi.label}")
        print(
            f"pushed         {args.creates} resident creates in pushes of {args.batch}: median of {args.repeat} runs "
            f"{pushed * 1000:.0f} ms ({rate:.0f} mutations/s; runs {', '.join(f'{r * 1000:.0f}' for r in runs)} ms)"
        )
        print(
            f"raw residents  executemany INSERT of the {len(rows['resident'][1])} resident rows in one transaction: "
            f"{raw_residents * 1000:.1f} ms (resident_ratio={pushed / raw_residents:.1f})"
        )
        print(
            f"raw limit      executemany INSERT of every row a run wrote ({counts}) in one transaction, after each "
            f"run: {', '.join(f'{f * 1000:.1f}' for f in floors)} ms"
        )
        print(f"ratios         {', '.join(f'{r:.1f}' for r in ratios)} (run ÷ the floor measured after it)")
        print(f"sync_push_1k: {rate:.0f} mutations/s ratio={statistics.median(ratios):.1f}")


if __name__ == "__main__":
    main()
