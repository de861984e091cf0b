"""The scheduler's wiring: the registry, one leader at a time (a file lock on SQLite, an advisory
lock on PostgreSQL — whichever database the run uses), takeover when the leader goes, catch-up
on taking over, failures that never stop it, the state it exposes, and its command."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import sqlalchemy as sa

from app import scheduler
from app.extensions import db
from app.scheduler import AdvisoryLock, FileLock, JobSpec, Scheduler, leadership_state, lock_for, run_job
from compose import create_app
from tests.fixtures.database import database_url, make_config
from tests.waiting import eventually as wait_for

POSTGRES = sa.engine.make_url(database_url()).get_backend_name() == "postgresql"


def test_features_register_their_jobs_with_intervals_from_the_configuration(app):
    jobs = {spec.name: spec for spec in scheduler.registered_jobs()}
    assert set(jobs) == {
        "notify.dispatch",
        "appointments.evening_reminders",
        "field.maturity",
        "field.delivery_scheduled",
        "field.materials_owed",
        "field.review_deadline",
        "sync.prune_tombstones",
    }
    assert jobs["notify.dispatch"].interval(app.config) == app.config["DISPATCH_INTERVAL_SECONDS"]
    assert jobs["field.maturity"].interval(app.config) == app.config["SCHEDULER_TICK_SECONDS"] == 60
    with pytest.raises(ValueError):
        JobSpec("x", lambda now: None, 0).interval(app.config)


def test_the_lock_follows_the_database(tmp_path):
    lock = lock_for(f"sqlite:///{tmp_path}/x.sqlite3")
    assert isinstance(lock, FileLock) and str(lock.path) == f"{tmp_path}/x.sqlite3.scheduler-lock"
    pg = lock_for("postgresql+psycopg://u:p@127.0.0.1:1/db")  # never connects until asked
    assert isinstance(pg, AdvisoryLock) and pg.conn is None
    pg.release()


def test_a_file_lock_has_one_holder_until_released(tmp_path):
    first, second = FileLock(tmp_path / "db.scheduler-lock"), FileLock(tmp_path / "db.scheduler-lock")
    assert first.try_acquire() and not second.try_acquire()
    assert (tmp_path / "db.scheduler-lock").read_text().startswith("doorstep-scheduler:")
    first.release()
    assert second.try_acquire() and not first.try_acquire()
    second.release()


@pytest.mark.skipif(not POSTGRES, reason="the advisory lock needs PostgreSQL (DOORSTEP_DATABASE_URL)")
def test_an_advisory_lock_has_one_holder_and_dies_with_its_session(app):
    with app.app_context():
        url = db.engine.url
    first, second = AdvisoryLock(url), AdvisoryLock(url)
    try:
        assert first.try_acquire() and not second.try_acquire()
        with app.app_context(), db.engine.begin() as conn:  # an operator sees who leads
            holders = (
                conn.execute(
                    sa.text(
                        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                        "WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE 'doorstep-scheduler:%'"
                    )
                )
                .scalars()
                .all()
            )
            assert holders == [first.holder]
            conn.execute(
                sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n"),
                {"n": first.holder},
            )
        assert wait_for(second.try_acquire, timeout=5)
        assert not first.still_held()
    finally:
        first.release()
        second.release()


def _counting_jobs(runs: list, label: str) -> list[JobSpec]:
    """Two jobs that only note who ran them; an hour apart, so only a new leader's catch-up runs them."""
    return [JobSpec(f"{label}.{n}", lambda now, n=n: runs.append((label, n)), 3600) for n in (1, 2)]


class Campaigns:
    """Counts each scheduler's attempts to take the lock, so a test waits for the standby to have
    tried rather than for a time it guesses is long enough."""

    def __init__(self):
        self.tries: Counter = Counter()
        self.changed = threading.Condition()

    def watch(self, s: Scheduler) -> Scheduler:
        try_acquire = s.lock.try_acquire

        def counted():
            got = try_acquire()
            with self.changed:
                self.tries[id(s)] += 1
                self.changed.notify_all()
            return got

        s.lock.try_acquire = counted
        return s

    def wait(self, s: Scheduler, more: int, timeout: float = 10.0) -> bool:
        with self.changed:
            target = self.tries[id(s)] + more
            return self.changed.wait_for(lambda: self.tries[id(s)] >= target, timeout)


def test_two_schedulers_elect_one_leader_and_the_other_takes_over(app, monkeypatch):
    """On SQLite through the file lock, on PostgreSQL through the advisory lock."""
    monkeypatch.setitem(app.config, "SCHEDULER_STANDBY_SECONDS", 1)
    runs: list = []
    campaigns = Campaigns()
    a = campaigns.watch(Scheduler(app, _counting_jobs(runs, "a"))).start()
    b = campaigns.watch(Scheduler(app, _counting_jobs(runs, "b"))).start()
    try:
        assert wait_for(lambda: a.is_leader or b.is_leader)
        leader, standby = (a, b) if a.is_leader else (b, a)
        assert campaigns.wait(standby, 2)  # the standby tried twice more while the leader held on
        assert leader.is_leader and not standby.is_leader
        assert wait_for(lambda: len(runs) == 2)
        first = "a" if leader is a else "b"
        assert sorted(runs) == [(first, 1), (first, 2)]  # every job at once on taking the lead

        leader.stop()
        assert wait_for(lambda: standby.is_leader, timeout=5)
        assert wait_for(lambda: len(runs) == 4)
        assert {who for who, _ in runs[2:]} == {"b" if first == "a" else "a"}
    finally:
        a.stop()
        b.stop()


def test_a_failing_job_is_logged_and_recorded_and_the_scheduler_goes_on(app, caplog):
    def broken(now):
        raise RuntimeError("database on fire")

    runs: dict = {}
    assert run_job(app, JobSpec("broken", broken, 60), runs) is None
    assert "database on fire" in runs["broken"]["error"]
    assert any(r.name == "doorstep.scheduler" and r.levelname == "ERROR" for r in caplog.records)
    assert run_job(app, JobSpec("fine", lambda now: {"done": 1}, 60), runs) == {"done": 1}
    assert runs["fine"]["error"] is None


def test_the_leadership_state_is_exposed_for_metrics(app, monkeypatch):
    monkeypatch.setitem(app.config, "SCHEDULER_STANDBY_SECONDS", 1)
    assert leadership_state()["running"] is False
    ticked = threading.Event()
    s = Scheduler(app, [JobSpec("tick", lambda now: ticked.set(), 3600)]).start()
    try:
        assert wait_for(ticked.is_set) and wait_for(lambda: leadership_state()["last_tick_at"] is not None)
        state = leadership_state()
        assert state["running"] and state["is_leader"] and state["leader_since"] <= state["last_tick_at"]
        assert state["lock"] == ("postgresql-advisory-lock" if POSTGRES else "file-lock")
        assert state["jobs"]["tick"]["error"] is None
    finally:
        s.stop()
    assert leadership_state()["is_leader"] is False


def test_once_runs_every_registered_job_and_exits(app):
    result = app.test_cli_runner().invoke(args=["scheduler", "--once"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert {line.split(":")[0] for line in lines} == {s.name for s in scheduler.registered_jobs()}


def test_once_does_nothing_while_another_scheduler_leads(app):
    with app.app_context():
        holder = lock_for(db.engine.url)
    assert holder.try_acquire()
    try:
        result = app.test_cli_runner().invoke(args=["scheduler", "--once"])
    finally:
        holder.release()
    assert result.exit_code == 0 and "another scheduler leads" in result.output


def test_the_in_process_scheduler_never_starts_in_tests(app):
    other = create_app(make_config(SCHEDULER_IN_PROCESS=1))
    assert "doorstep.scheduler" not in other.extensions
    with other.app_context():
        db.engine.dispose()
