"""The one clock: time-machine moves it in this process, an offset in the environment moves it in
the processes a test starts, and both give the same answers as the app's own readings."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from app import clock
from app.config import Config, ConfigError, check_production
from app.db import utcnow
from tests.app.test_config import production_env
from tests.fixtures.clock import clock_env, pinned_instant, system_now

ROOT = Path(__file__).resolve().parents[2]
BEIJING = clock.LOCAL_TZ
# Probed in a child: its clock, its Beijing date, and the app clock a feature would read.
PROBE = (
    "from app import clock, db; from app.workdays import local_now; "
    "print(clock.now().isoformat(), clock.today().isoformat(), db.utcnow().isoformat(), "
    "local_now().date().isoformat())"
)


def child_clock(env: dict) -> tuple[datetime, date, datetime, date]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    return (
        datetime.fromisoformat(out[0]),
        date.fromisoformat(out[1]),
        datetime.fromisoformat(out[2]),
        date.fromisoformat(out[3]),
    )


def test_now_is_aware_utc_and_utcnow_is_the_same_clock(time_machine):
    time_machine.move_to(datetime(2027, 1, 1, 0, 0, 30, tzinfo=BEIJING), tick=False)
    assert clock.now() == utcnow() == datetime(2026, 12, 31, 16, 0, 30, tzinfo=UTC)
    assert clock.now().tzinfo is UTC


def test_the_local_date_is_beijing_s_not_utc_s(time_machine):
    """At 00:30 in Beijing on New Year's Day it is still the 31st in UTC: people mean Beijing."""
    time_machine.move_to(datetime(2027, 1, 1, 0, 30, tzinfo=BEIJING), tick=False)
    assert clock.now().date() == date(2026, 12, 31)
    assert clock.today() == date(2027, 1, 1) == clock.local_now().date()
    assert clock.local_now().utcoffset() == timedelta(hours=8)


def test_a_child_process_reads_the_clock_this_test_has_moved(time_machine):
    """What the failover schedulers, the metrics workers and the tablet subprocesses rely on."""
    instant = datetime(2027, 2, 28, 23, 59, 58, tzinfo=BEIJING)
    time_machine.move_to(instant, tick=False)
    now, today, db_now, local_today = child_clock(clock_env())
    # The child's clock runs from the moment it started: a slow start makes it later, never earlier.
    assert timedelta(0) <= now - instant < timedelta(seconds=30)
    assert db_now - now < timedelta(seconds=1)
    assert today == local_today == now.astimezone(BEIJING).date()
    assert today in (date(2027, 2, 28), date(2027, 3, 1))


def test_without_an_offset_a_child_reads_the_system_clock():
    """However this run is pinned: the offset is what moves a child, nothing else leaks to it."""
    before = system_now()
    now, *_ = child_clock({k: v for k, v in os.environ.items() if k != clock.OFFSET_ENV})
    assert before <= now <= system_now()


def test_a_malformed_offset_stops_the_process_naming_the_variable():
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, clock.OFFSET_ENV: "a year"},
    )
    assert done.returncode != 0 and f"{clock.OFFSET_ENV} must be a number of seconds, not 'a year'" in done.stderr


def test_production_refuses_a_moved_clock(monkeypatch):
    config = Config(production_env())
    check_production(config)  # no error
    monkeypatch.setattr(clock, "_offset", timedelta(days=365))
    with pytest.raises(ConfigError, match=f"{clock.OFFSET_ENV} moves the clock"):
        check_production(config)


@pytest.mark.parametrize(
    "raw,problem", [("2026-12-31T23:30:00", "needs an offset"), ("New Year's Eve", "is not an ISO 8601")]
)
def test_the_test_clock_switch_is_read_strictly(raw, problem):
    with pytest.raises(pytest.UsageError, match=problem):
        pinned_instant(raw)
    assert pinned_instant("2026-12-07T08:59:00+08:00") == datetime(2026, 12, 7, 0, 59, tzinfo=UTC)
    assert pinned_instant("") is None


def test_a_local_day_starts_and_ends_at_beijings_midnights_and_the_calendars_ends_mean_ever():
    assert clock.day_starts(date(2026, 12, 4)) == datetime(2026, 12, 3, 16, tzinfo=UTC)
    assert clock.day_ends(date(2026, 12, 4)) == datetime(2026, 12, 4, 16, tzinfo=UTC)
    assert clock.day_starts(date.min) == datetime.min.replace(tzinfo=UTC)
    assert clock.day_ends(date.max) == datetime.max.replace(tzinfo=UTC)
