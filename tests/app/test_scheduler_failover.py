"""The proof: registrations that matured during a three-day outage, three scheduler processes
started together, the leader killed (SIGKILL) in the middle of sending — and every resident gets
exactly one maturity SMS, as counted by the SMS provider (moto's SNS, reached over HTTP).

Real OS processes (``flask --app wsgi scheduler``), the real lock (PostgreSQL advisory lock, or
the file lock on SQLite), the real dispatcher and SNS sender. PostgreSQL runs the full 1,000;
SQLite a smaller 200, since its single writer makes the same proof slower, not different.

When the leader is killed. A provider call cannot be made idempotent (SNS has no idempotency key
for SMS), so a process killed *while a call is in flight* leaves that message ``unknown`` — the
dispatcher's documented at-most-once choice, shown to staff for a person to resolve. The test
therefore kills the leader mid-run at a moment with no call in flight: it freezes the leader
(SIGSTOP), waits for the database to finish whatever statement the leader had already sent (a
claim's COMMIT may still be on its way), checks that no claimed message is without an outcome, and
kills it (SIGKILL) — or lets it go on (SIGCONT) and tries again a few milliseconds later.
Everything else — a half-run batch, an open claim transaction, the lock, the catch-up of a
successor — is exactly as in a real crash.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from dateutil.relativedelta import relativedelta

from app import pii
from app.db import new_id, sqlite_begin_mode, utcnow
from app.extensions import db
from app.notify.models import Notification
from app.workdays import local_now
from field_api.residency.models import Registration, Resident
from tests.factories import valid_identity
from tests.fixtures.clock import clock_env
from tests.fixtures.database import database_url
from tests.waiting import eventually as wait_for

ROOT = Path(__file__).resolve().parents[2]
POSTGRES = sa.engine.make_url(database_url()).get_backend_name() == "postgresql"
RESIDENTS = 1000 if POSTGRES else 200
NOT_DUE = 25  # maturing in a month: must receive nothing
PROCESSES = 3
DRAIN_TIMEOUT = 120


def _phone(i: int) -> str:
    return f"139{i:08d}"


def seed(app, station, area) -> set[str]:
    """Residents with distinct identities and phones; registrations maturing over the last three
    days (and a few next month), bulk-inserted as the scheduler found them after the outage."""
    today = local_now().date()
    now = utcnow()
    residents, registrations, phones = [], [], set()
    with app.app_context():
        for i in range(RESIDENTS + NOT_DUE):
            identity = valid_identity(
                born=(today.replace(year=1960) + timedelta(days=i)).strftime("%Y%m%d"), serial=i % 1000
            )
            phone = _phone(i)
            rid = new_id()
            residents.append(
                {
                    "id": rid,
                    "name": "居民",
                    "sex": "female",
                    "ethnicity": "汉族",
                    "identity_enc": pii.encrypt(pii.IDENTITY, identity),
                    "identity_bidx": pii.blind_index(pii.IDENTITY, identity),
                    "phone_enc": pii.encrypt(pii.PHONE, phone),
                    "phone_bidx": pii.blind_index(pii.PHONE, phone),
                    "hukou_address": "",
                    "version": 1,
                    "field_versions": {},
                    "created_at": now,
                    "updated_at": now,
                }
            )
            matures = today - timedelta(days=i % 3) if i < RESIDENTS else today + timedelta(days=30)
            if i < RESIDENTS:
                phones.add(phone)
            registrations.append(
                {
                    "id": new_id(),
                    "resident_id": rid,
                    "station_id": station.id,
                    "area_id": area.id,
                    "address": f"北山街道{i}号",
                    "start_date": matures - relativedelta(months=6),
                    "maturity_date": matures,
                    "reason": "work",
                    "housing": "owned",
                    "status": "active",
                    "active_key": f"{rid}:{station.id}",
                    "version": 1,
                    "field_versions": {},
                    "maturity_notice_stage": 0,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        db.session.execute(sa.insert(Resident.__table__), residents)
        db.session.execute(sa.insert(Registration.__table__), registrations)
        db.session.commit()
    return phones


@contextlib.contextmanager
def moto_sns():
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        _reset_sms()
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        _reset_sms()


def _backends():
    from moto.sns.models import sns_backends

    for regions in sns_backends.values():
        yield from regions.values()


def _reset_sms() -> None:
    for backend in _backends():
        backend.sms_messages.clear()


def sms_received() -> list[tuple[str, str]]:
    return [msg for backend in _backends() for msg in list(backend.sms_messages.values())]


def outbox(app) -> Counter:
    # A reader: on SQLite it must not queue for the write lock a frozen leader may be holding.
    token = sqlite_begin_mode.set("DEFERRED")
    try:
        return _outbox(app)
    finally:
        sqlite_begin_mode.reset(token)


def _outbox(app) -> Counter:
    with app.app_context():
        counts = Counter(
            dict(
                db.session.execute(
                    sa.select(Notification.status, sa.func.count())
                    .where(Notification.kind == "maturity_reached")
                    .group_by(Notification.status)
                ).all()
            )
        )
        db.session.remove()
        return counts


def leader_pid(app, procs) -> int | None:
    """The scheduler process holding the lock, as an operator would find it."""
    with app.app_context():
        if POSTGRES:  # (on SQLite the lock file names the holder: no database read needed)
            names = (
                db.session.execute(
                    sa.text(
                        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                        "WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE 'doorstep-scheduler:%'"
                    )
                )
                .scalars()
                .all()
            )
            db.session.remove()
        else:
            path = Path(sa.engine.make_url(database_url()).database + ".scheduler-lock")
            names = [path.read_text().strip()] if path.exists() and path.read_text().strip() else []
    alive = {p.pid for p in procs if p.poll() is None}
    pids = [int(name.split(":")[1]) for name in names]
    return next((pid for pid in pids if pid in alive), None)


def kill_between_calls(app, pid: int) -> int:
    """SIGKILL the leader at a moment when it has no provider call in flight (see the module's
    docstring); returns how many freezes it took."""
    for attempt in range(1, 2001):
        os.kill(pid, signal.SIGSTOP)
        before = server_side(app, pid)
        frozen = outbox(app)
        settled = before is not None and server_side(app, pid) == before
        if settled and frozen["sending"] == 0:
            os.kill(pid, signal.SIGKILL)
            return attempt
        os.kill(pid, signal.SIGCONT)
        # Freeze it again once it has moved on (an outcome or a claim), looked at a random few
        # milliseconds apart so the freezes fall at different points of its work.
        wait_for(lambda frozen=frozen: outbox(app) != frozen, timeout=10, step=random.uniform(0.002, 0.02))
    os.kill(pid, signal.SIGCONT)
    pytest.fail("the leader never paused between provider calls in 2,000 tries")


def server_side(app, pid: int) -> tuple | None:
    """What the database is doing for the frozen process: ``None`` while it still runs one of its
    statements, else each connection's state and when it last changed.

    A frozen client may already have written a statement, say the COMMIT of a claim, that the
    PostgreSQL server is still carrying out; an outbox read then may not be the last word. The
    caller reads the outbox between two looks at this, equal and idle, so the read is final. On
    SQLite the commit happens inside the frozen process, so freezing it is enough."""
    if not POSTGRES:
        return ()
    ports = sorted(client_ports(pid))
    with app.app_context():
        rows = db.session.execute(
            sa.text(
                "SELECT client_port, state, state_change FROM pg_stat_activity "
                "WHERE client_port = ANY(:ports) ORDER BY client_port"
            ),
            {"ports": ports},
        ).all()
        db.session.remove()
    if any(state not in ("idle", "idle in transaction") for _port, state, _changed in rows):
        return None
    return tuple(tuple(row) for row in rows)


def client_ports(pid: int) -> set[int]:
    """The local TCP ports of a process's sockets (its database connections among them), read
    from /proc: the socket inodes among its open files, looked up in its TCP tables."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def scheduler_env(endpoint: str, tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOORSTEP_", "AWS_"))}
    env.update(
        {
            k: v
            for k, v in os.environ.items()
            if k in ("DOORSTEP_PII_KEYS", "DOORSTEP_BLIND_INDEX_KEY", "DOORSTEP_SECRET_KEY")
        }
    )
    env.update(
        DOORSTEP_DATABASE_URL=database_url(),
        DOORSTEP_ENV="development",
        DOORSTEP_LOG_LEVEL="INFO",
        DOORSTEP_BLOB_DIR=str(tmp_path / "blobs"),
        DOORSTEP_SMS_SENDER="sns",
        DOORSTEP_SMS_SNS_ENDPOINT_URL=endpoint,
        DOORSTEP_SMS_SNS_REGION="us-east-1",
        DOORSTEP_QUIET_HOURS="off",
        DOORSTEP_SCHEDULER_TICK_SECONDS="1",
        DOORSTEP_SCHEDULER_STANDBY_SECONDS="1",
        DOORSTEP_DISPATCH_INTERVAL_SECONDS="1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    return clock_env(env)  # the schedulers' "today" is this run's, however it is pinned


def stop(procs) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def test_three_schedulers_one_killed_mid_run_send_every_maturity_sms_exactly_once(app, make, tmp_path):
    station = make.station()
    area = make.area(station)
    phones = seed(app, station, area)
    flask = Path(sys.executable).parent / "flask"
    logs = [tmp_path / f"scheduler-{n}.log" for n in range(PROCESSES)]
    procs: list[subprocess.Popen] = []
    started = time.monotonic()
    with moto_sns() as endpoint:
        env = scheduler_env(endpoint, tmp_path)
        try:
            for log in logs:
                with open(log, "wb") as out:
                    procs.append(
                        subprocess.Popen(
                            [str(flask), "--app", "wsgi", "scheduler"],
                            cwd=ROOT,
                            env=env,
                            stdout=out,
                            stderr=subprocess.STDOUT,
                        )
                    )
            first = wait_for(lambda: leader_pid(app, procs), timeout=60)
            assert first, "no scheduler took the lead"
            # Mid-run: a fifth of the messages out, most still to go.
            assert wait_for(lambda: outbox(app)["sent"] >= RESIDENTS // 5, timeout=60), outbox(app)
            freezes = kill_between_calls(app, first)
            at_kill = outbox(app)
            assert 0 < at_kill["sent"] < RESIDENTS, at_kill
            assert len(sms_received()) == at_kill["sent"]  # nothing was in flight

            second = wait_for(lambda: (pid := leader_pid(app, procs)) != first and pid, timeout=30)
            assert second and second != first, "no standby took over"
            drained = wait_for(
                lambda: outbox(app)["sent"] == RESIDENTS and len(sms_received()) >= RESIDENTS,
                timeout=DRAIN_TIMEOUT,
                step=0.2,
            )
        finally:
            stop(procs)
            received = sms_received()
        elapsed = time.monotonic() - started
    if not drained:
        tails = "\n".join(f"--- {log.name}\n" + log.read_text(errors="replace")[-3000:] for log in logs)
        pytest.fail(f"not drained in {DRAIN_TIMEOUT} s: outbox {dict(outbox(app))}, {len(received)} SMS\n{tails}")

    per_phone = Counter(phone for phone, _text in received)
    duplicates = {p: n for p, n in per_phone.items() if n > 1}
    missed = {f"+86{p}" for p in phones} - set(per_phone)
    assert duplicates == {} and missed == set(), (len(duplicates), len(missed))
    assert set(per_phone) == {f"+86{p}" for p in phones}  # nobody else: not the ones maturing next month
    assert all("满六个月" in text for _phone, text in received)
    assert outbox(app) == Counter({"sent": RESIDENTS})
    assert [p.returncode for p in procs].count(-signal.SIGKILL) == 1
    print(
        f"\n{RESIDENTS} residents, {PROCESSES} schedulers, leader {first} killed after {at_kill['sent']} SMS "
        f"({freezes} freezes), {second} took over; {len(received)} SMS, {len(duplicates)} duplicates, "
        f"{len(missed)} missed, {elapsed:.1f} s"
    )
