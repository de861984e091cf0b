"""The scheduler: APScheduler 3 wiring, one leader among however many processes run it, and the
registry through which features add their jobs.

Jobs are driven by rows, not by one APScheduler job per person: every tick a job selects what is
due and not yet done — registrations whose six months have come and no notice was written, owed
materials without this period's reminder — and makes it done in the same transaction. A tick
missed while nothing ran is therefore caught up by the next one, never skipped, and a tick run
twice (or by two leaders for a moment) finds nothing left to do; the dedupe keys of the outbox
make that last point a database fact rather than a promise of the lock.

Only one process runs the jobs at a time. On PostgreSQL the leader holds a session-level advisory
lock on a connection of its own for as long as it leads; the lock dies with that session, so a
killed leader frees it at once. On SQLite (one machine) the leader holds ``flock`` on a file next
to the database, which the kernel releases when the process dies. The others stand by and try
again every ``DOORSTEP_SCHEDULER_STANDBY_SECONDS``; the one that wins runs every job at once, so
the catch-up does not wait for the next interval.

The kernel never imports a feature package: features call ``job(...)`` in their own ``jobs``
module, which their ``register(app)`` imports. The command that runs it is ``app.scheduler_cli``.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import itertools
import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict, TypeVar

import sqlalchemy as sa
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from app import clock, unit_of_work
from app.config import INSTANCE_DIR
from app.extensions import db

log = logging.getLogger("doorstep.scheduler")

# Session-level advisory locks are per database, so one key serves every deployment.
ADVISORY_KEY = int.from_bytes(hashlib.sha256(b"doorstep.scheduler").digest()[:8], "big", signed=True)
APPLICATION_NAME = "doorstep-scheduler"
# A tick that starts late (a busy executor, a suspended machine) still runs rather than being dropped.
MISFIRE_GRACE_SECONDS = 6 * 3600


# --- the registry ------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobSpec:
    name: str
    func: Callable[[datetime], object]  # called in an app context with the tick's time (UTC)
    every: int | str  # seconds, or the config key that holds them

    def interval(self, config: Mapping[str, Any]) -> int:
        seconds = int(config[self.every]) if isinstance(self.every, str) else int(self.every)
        if seconds < 1:
            raise ValueError(f"job {self.name}: interval must be at least one second, not {seconds}")
        return seconds


_REGISTRY: dict[str, JobSpec] = {}

Job = TypeVar("Job", bound=Callable[[datetime], object])


class JobRun(TypedDict):
    """How one job's last run went (``Scheduler.runs``)."""

    started_at: datetime
    finished_at: datetime
    result: object
    error: str | None


class SchedulerState(TypedDict):
    """What metrics and health checks read of this process's scheduler."""

    running: bool
    is_leader: bool
    holder: str | None
    lock: str | None
    leader_since: datetime | None
    last_tick_at: datetime | None
    jobs: dict[str, JobRun]


def job(name: str, *, every: int | str = "SCHEDULER_TICK_SECONDS") -> Callable[[Job], Job]:
    """Register ``func(now)`` to run every ``every`` seconds on the leader. Registering a name again
    replaces it, so a re-imported module does not double its jobs."""

    def decorate(func: Job) -> Job:
        _REGISTRY[name] = JobSpec(name, func, every)
        return func

    return decorate


def registered_jobs() -> list[JobSpec]:
    return list(_REGISTRY.values())


# --- leadership --------------------------------------------------------------------------------

_instances = itertools.count(1)


def _holder() -> str:
    """Who holds the lock: process id, which scheduler of the process (tests run two), host — in
    that order, since ``application_name`` keeps only 63 characters."""
    return f"{APPLICATION_NAME}:{os.getpid()}:{next(_instances)}:{socket.gethostname()}"


class AdvisoryLock:
    """``pg_try_advisory_lock`` on a dedicated autocommit connection (never the pool's: a pooled
    connection would be returned and reused, and the lock with it). TCP keepalives make the server
    notice a leader that vanished without closing its socket; ``application_name`` names the
    holder in ``pg_stat_activity``."""

    kind = "postgresql-advisory-lock"

    def __init__(self, url: str | sa.engine.URL, key: int = ADVISORY_KEY) -> None:
        self.key = key
        self.holder = _holder()
        self.engine = sa.create_engine(
            url,
            poolclass=sa.pool.NullPool,
            isolation_level="AUTOCOMMIT",
            connect_args={
                "application_name": self.holder[:63],
                "connect_timeout": 10,
                "keepalives": 1,
                "keepalives_idle": 10,
                "keepalives_interval": 5,
                "keepalives_count": 3,
            },
        )
        self.conn: sa.Connection | None = None

    def _connection(self) -> sa.Connection:
        if self.conn is None:
            self.conn = self.engine.connect()
        return self.conn

    def try_acquire(self) -> bool:
        try:
            return bool(
                self._connection().execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
            )
        except sa.exc.DBAPIError:
            self._drop()
            return False

    def still_held(self) -> bool:
        """The lock lives exactly as long as the session: a live connection still holds it."""
        try:
            self._connection().execute(sa.text("SELECT 1"))
            return True
        except sa.exc.DBAPIError:
            self._drop()
            return False

    def release(self) -> None:
        if self.conn is not None:
            try:
                self.conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            except sa.exc.DBAPIError:
                pass
        self._drop()
        self.engine.dispose()

    def _drop(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # a dead connection has nothing left to release
                log.debug("closing the lock connection failed", exc_info=True)
            self.conn = None


class FileLock:
    """``flock`` on a file next to the SQLite database: one lock per database, released by the
    kernel when the holder dies. ``flock`` belongs to the open file, so two schedulers in one
    process exclude each other too. The file names the holder, for an operator's eyes only."""

    kind = "file-lock"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.holder = _holder()
        self.fd: int | None = None

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{self.holder}\n".encode())
        self.fd = fd
        return True

    def still_held(self) -> bool:
        return self.fd is not None

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def lock_for(url: str | sa.engine.URL) -> AdvisoryLock | FileLock:
    url = sa.engine.make_url(url)
    if url.get_backend_name() == "postgresql":
        return AdvisoryLock(url)
    if url.get_backend_name() != "sqlite":
        raise RuntimeError(f"the scheduler cannot elect a leader on {url.get_backend_name()}")
    if url.database and url.database != ":memory:":
        return FileLock(Path(url.database + ".scheduler-lock"))

    return FileLock(INSTANCE_DIR / "scheduler.lock")


# --- the scheduler -----------------------------------------------------------------------------


def _utcnow() -> datetime:
    return clock.now()


class Scheduler:
    """One process's scheduler. Every process runs the same APScheduler jobs; a job does its work
    only while this process leads, so a standby takes over without re-planning anything."""

    def __init__(self, app: Flask, jobs: list[JobSpec] | None = None) -> None:
        # APScheduler logs every run of every job at INFO; ours logs the runs that did something.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        self.app = app
        with app.app_context():
            self.lock = lock_for(db.engine.url)
        self.jobs = registered_jobs() if jobs is None else list(jobs)
        self.is_leader = False
        self.leader_since: datetime | None = None
        self.runs: dict[str, JobRun] = {}
        self._guard = threading.Lock()
        self._aps = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max(2, len(self.jobs) + 1))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS},
        )

    # lifecycle

    def start(self) -> Scheduler:
        config = self.app.config
        self._aps.add_job(
            self._campaign,
            "interval",
            seconds=int(config["SCHEDULER_STANDBY_SECONDS"]),
            id="leadership",
            name="leadership",
            next_run_time=clock.system_now(),
        )
        for spec in self.jobs:
            self._aps.add_job(
                self._run, "interval", seconds=spec.interval(config), args=[spec], id=spec.name, name=spec.name
            )
        self._aps.start()
        _RUNNING.add(self)
        log.info(
            "scheduler started as %s (%s), standing by; jobs: %s",
            self.lock.holder,
            self.lock.kind,
            ", ".join(s.name for s in self.jobs),
            extra={"event": "scheduler.start"},
        )
        return self

    def stop(self) -> None:
        """Let running jobs finish, then give the lock back so a standby takes over at once."""
        if self._aps.running:
            self._aps.shutdown(wait=True)
        with self._guard:
            if self.is_leader:
                log.info("scheduler %s steps down", self.lock.holder, extra={"event": "scheduler.leader_released"})
            self.is_leader = False
            self.lock.release()
        _RUNNING.discard(self)

    # leadership

    def _campaign(self) -> None:
        with self._guard:
            if self.is_leader:
                if not self.lock.still_held():
                    self.is_leader, self.leader_since = False, None
                    log.warning(
                        "scheduler %s lost its lock; standing by",
                        self.lock.holder,
                        extra={"event": "scheduler.leader_lost"},
                    )
                return
            if not self.lock.try_acquire():
                return
            self.is_leader, self.leader_since = True, _utcnow()
        log.info(
            "scheduler %s leads (%s); running every job now",
            self.lock.holder,
            self.lock.kind,
            extra={"event": "scheduler.leader_acquired"},
        )
        for spec in self.jobs:
            self._aps.modify_job(spec.name, next_run_time=clock.system_now())

    # jobs

    def _run(self, spec: JobSpec) -> object:
        if not self.is_leader:
            return None
        return run_job(self.app, spec, self.runs)

    def run_all_once(self) -> dict[str, object]:
        """Every job once, in registration order, if this process can lead (``--once``)."""
        if not self.lock.try_acquire():
            return {}
        self.is_leader, self.leader_since = True, _utcnow()
        try:
            return {spec.name: run_job(self.app, spec, self.runs) for spec in self.jobs}
        finally:
            self.is_leader = False
            self.lock.release()

    def state(self) -> SchedulerState:
        """For metrics and health checks: does this process lead, since when, when did a job last
        finish, and how did each job's last run end."""
        ticks = [r["finished_at"] for r in self.runs.values()]
        return {
            "running": self._aps.running,
            "is_leader": self.is_leader,
            "holder": self.lock.holder,
            "lock": self.lock.kind,
            "leader_since": self.leader_since,
            "last_tick_at": max(ticks) if ticks else None,
            "jobs": {k: v.copy() for k, v in self.runs.items()},
        }


def run_job(app: Flask, spec: JobSpec, runs: dict[str, JobRun] | None = None) -> object:
    """One run of one job in a fresh app context; a failure is logged and the next tick retries —
    it must never stop the scheduler."""
    started = _utcnow()
    result: object = None
    error: str | None = None
    with app.app_context():
        try:
            result = unit_of_work.unit(lambda: spec.func(started))  # one unit of work per job run
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            log.exception("job %s failed", spec.name, extra={"event": "scheduler.job_failed"})
        finally:
            db.session.remove()
    finished = _utcnow()
    if runs is not None:
        runs[spec.name] = {"started_at": started, "finished_at": finished, "result": result, "error": error}
    if _did_something(result):
        log.info(
            "job %s: %s (%.0f ms)",
            spec.name,
            result,
            (finished - started).total_seconds() * 1000,
            extra={"event": "scheduler.job_done"},
        )
    return result


def _did_something(result: object) -> bool:
    if isinstance(result, dict):
        return any(result.values())
    return bool(result)


_RUNNING: set[Scheduler] = set()


def leadership_state() -> SchedulerState:
    """The leadership state of the scheduler running in this process (none: not leading)."""
    for scheduler in list(_RUNNING):
        return scheduler.state()
    return {
        "running": False,
        "is_leader": False,
        "holder": None,
        "lock": None,
        "leader_since": None,
        "last_tick_at": None,
        "jobs": {},
    }


def start_in_process(app: Flask) -> Scheduler:
    """Development (``make run``): a background scheduler in the serving process. The lock still
    elects one leader, so a reloader's second process or a second ``make run`` only stands by."""
    scheduler = app.extensions.get("doorstep.scheduler")
    if scheduler is None:
        scheduler = Scheduler(app).start()
        app.extensions["doorstep.scheduler"] = scheduler
        atexit.register(scheduler.stop)
    return scheduler
