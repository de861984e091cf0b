"""A tablet's first pull of a 10,000-record scope, through the WSGI handler, against the
physical limit measured in the same run: a raw DBAPI SELECT of the same rows encoded with
orjson. Only the handler's time is counted (the tablet encoding its request and reading each page
is not the server's work), the median of ``--repeats`` pulls. Then the peak Python memory of
pulling a 100,000-record scope, which must stay bounded by the page size rather than grow with the scope.

Run: python bench/sync_pull.py            (SQLite)
     DOORSTEP_DATABASE_URL=postgresql+psycopg://user@host/any python bench/sync_pull.py
Last line: sync_pull_10k: <ms> ms ratio=<R>
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import time
import tracemalloc
import uuid
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import doorstep_env, throwaway_database  # noqa: E402


def seed(app, records: int):
    """An officer's area holding ``records`` synced records (residents and their registrations),
    written straight into the feed table in bulk — pull reads only that table."""
    import orjson
    import sqlalchemy as sa

    from app.auth.models import Device
    from app.auth.passwords import hash_password
    from app.extensions import db
    from app.org.models import Area, Station, User
    from sync.models import ChangeCounter, SyncRecord

    with app.app_context():
        station = Station(code="BENCH", name="基准派出所")
        db.session.add(station)
        db.session.flush()
        area = Area(station_id=station.id, code="A1", name="基准社区")
        db.session.add(area)
        db.session.flush()
        officer = User(
            username="bench.officer",
            password_hash=hash_password("bench-password"),
            role="officer",
            station_id=station.id,
            display_name="officer",
        )
        officer.areas = [area]
        device = Device(station_id=station.id, label="bench", status="active", public_jwk={})
        db.session.add_all([officer, device])
        db.session.commit()
        counter = db.session.get(ChangeCounter, 1)
        scope, rows, seq = str(area.id), [], counter.last_seq
        start = date(2026, 1, 1)
        for i in range(records // 2):
            seq += 1
            resident_id = str(uuid.uuid4())
            rows.append(
                {
                    "entity": "resident",
                    "record_id": resident_id,
                    "scope_kind": "area",
                    "scope_id": scope,
                    "seq": seq,
                    "op": "upsert",
                    "version": 1,
                    "changed_at": None,
                    "doc": orjson.dumps(
                        {
                            "name": "张伟",
                            "sex": "male",
                            "ethnicity": "汉族",
                            "identity_number": "3301**********123X",
                            "phone": "138****5678",
                            "hukou_address": "河南省信阳市平桥区某某镇某某村",
                            "photo_sha256": None,
                        }
                    ).decode(),
                }
            )
            seq += 1
            day = start + timedelta(days=i % 300)
            rows.append(
                {
                    "entity": "registration",
                    "record_id": str(uuid.uuid4()),
                    "scope_kind": "area",
                    "scope_id": scope,
                    "seq": seq,
                    "op": "upsert",
                    "version": 1,
                    "changed_at": None,
                    "doc": orjson.dumps(
                        {
                            "resident_id": resident_id,
                            "area_id": scope,
                            "station_id": str(station.id),
                            "address": f"北山街道{i}号",
                            "start_date": day.isoformat(),
                            "maturity_date": (day + timedelta(days=182)).isoformat(),
                            "reason": "work",
                            "housing": "rented",
                            "landlord_name": "陈房东",
                            "employer_name": None,
                            "status": "active",
                        }
                    ).decode(),
                }
            )
        from app.db import utcnow

        now = utcnow()
        for chunk in range(0, len(rows), 5000):
            part = rows[chunk : chunk + 5000]
            for r in part:
                r["changed_at"] = now
            db.session.execute(sa.insert(SyncRecord), part)
        counter.last_seq = seq
        db.session.commit()
        return officer.id, device.id, scope


def token_for(app, officer_id, device_id) -> str:
    from app.auth.tokens import issue_access_token
    from app.extensions import db
    from app.org.models import User

    with app.app_context():
        return issue_access_token(db.session.get(User, officer_id), device_id)


def pull_all(client, token) -> tuple[int, int, float]:
    """The whole scope, page after page, as a tablet would; returns (changes, bytes, seconds in
    the handler). The tablet's side — encoding the request, reading the page — is not timed."""
    import orjson

    cursor, changes, size, spent = None, 0, 0, 0.0
    headers = {"Authorization": f"Bearer {token}"}
    while True:
        body = orjson.dumps({"protocol": 1, "cursor": cursor, "limit": 1000})
        started = time.perf_counter()
        resp = client.post("/api/v1/sync/pull", data=body, headers=headers, content_type="application/json")
        data = resp.get_data()
        spent += time.perf_counter() - started
        if resp.status_code != 200:
            raise SystemExit(f"pull failed: {resp.status_code} {resp.get_data(as_text=True)[:300]}")
        size += len(data)
        page = orjson.loads(data)
        changes += len(page["changes"])
        cursor = page["cursor"]
        if not page["has_more"]:
            return changes, size, spent


def raw_limit(db_info, scope: str) -> tuple[float, int]:
    """The same rows, straight from the driver, encoded with orjson: the floor for serving them."""
    import orjson

    query = (
        "SELECT seq, entity, record_id, op, version, doc FROM sync_record "
        "WHERE scope_kind = 'area' AND scope_id = {p} ORDER BY seq"
    )
    if db_info.kind == "sqlite":
        conn, p = sqlite3.connect(db_info.sqlite_path), "?"
    else:
        import psycopg

        conn, p = psycopg.connect(db_info.libpq), "%s"
    conn.execute("SELECT 1").fetchall()  # connected before the clock starts: the server has a pool
    started = time.perf_counter()
    rows = conn.execute(query.format(p=p), (scope,)).fetchall()
    body = orjson.dumps(
        [{"seq": s, "entity": e, "id": i, "op": o, "version": v, "data": orjson.loads(d)} for s, e, i, o, v, d in rows]
    )
    elapsed = (time.perf_counter() - started) * 1000
    conn.close()
    return elapsed, len(body)


def measure(records: int, repeats: int):
    from app.config import Config
    from compose import create_app

    with throwaway_database(os.environ.get("DOORSTEP_DATABASE_URL")) as dbi:
        app = create_app(Config(doorstep_env(dbi)))
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
        officer_id, device_id, scope = seed(app, records)
        token = token_for(app, officer_id, device_id)
        client = app.test_client()
        pull_all(client, token)  # warm caches and connections, as a running server would be
        raw_limit(dbi, scope)
        pulls, raws = [], []
        for _ in range(repeats):
            changes, size, spent = pull_all(client, token)
            pulls.append(spent * 1000)
            raws.append(raw_limit(dbi, scope)[0])
        return dbi.label, changes, size, statistics.median(pulls), statistics.median(raws), app, token


def peak_memory(records: int) -> tuple[float, int]:
    from app.config import Config
    from compose import create_app

    with throwaway_database(os.environ.get("DOORSTEP_DATABASE_URL")) as dbi:
        app = create_app(Config(doorstep_env(dbi)))
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
        officer_id, device_id, _scope = seed(app, records)
        token = token_for(app, officer_id, device_id)
        client = app.test_client()
        tracemalloc.start()
        changes, _size, _spent = pull_all(client, token)
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return peak / 1024 / 1024, changes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--memory-records", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    label, changes, size, pull_ms, raw_ms, _app, _token = measure(args.records, args.repeats)
    print(f"database       {label}")
    print(f"scope          {args.records} records; {changes} changes served in pages of 1000 ({size / 1e6:.1f} MB)")
    print(f"pull (WSGI)    {pull_ms:.1f} ms  (median of {args.repeats})")
    print(f"raw limit      {raw_ms:.1f} ms  (DBAPI SELECT of the same rows + orjson)")
    if args.memory_records:
        peak_mb, served = peak_memory(args.memory_records)
        print(
            f"memory         peak {peak_mb:.1f} MiB of Python allocations while pulling a "
            f"{args.memory_records}-record scope ({served} changes)"
        )
    print(f"sync_pull_10k: {pull_ms:.0f} ms ratio={pull_ms / raw_ms:.2f}")


if __name__ == "__main__":
    main()
