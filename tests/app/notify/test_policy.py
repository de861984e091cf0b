"""The pure rules: back-off schedule, quiet hours, the resend policy, SMS segment counting."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, time

import pytest

from app.notify import policy
from app.notify.policy import LOCAL_TZ, backoff_bounds, backoff_seconds, parse_quiet_hours, sms_segments, sms_units
from tests.fixtures.outbox import local


def test_backoff_bounds_grow_without_overlap_until_the_cap():
    bounds = [backoff_bounds(n, 60) for n in range(1, 12)]
    assert bounds[0] == (48.0, 72.0)  # 60 s ± 20 %
    uncapped = [b for b in bounds if b[1] < policy.BACKOFF_CAP_SECONDS * (1 + policy.BACKOFF_JITTER)]
    assert len(uncapped) >= 5
    for earlier, later in itertools.pairwise(uncapped):
        assert later[0] >= earlier[1]  # the next attempt's earliest wait is past this one's latest
    assert bounds[-1] == (policy.BACKOFF_CAP_SECONDS * 0.8, policy.BACKOFF_CAP_SECONDS * 1.2)


def test_backoff_is_jittered_within_its_bounds_and_monotonic_below_the_cap():
    rng = random.Random(7)
    for attempt in range(1, 10):
        low, high = backoff_bounds(attempt, 60)
        samples = [backoff_seconds(attempt, 60, rng) for _ in range(300)]
        assert all(low <= s < high for s in samples)
        assert max(samples) - min(samples) > (high - low) * 0.8  # actually spread, not a constant
    schedule = [backoff_seconds(n, 60, rng) for n in range(1, 7)]
    assert schedule == sorted(schedule)


@pytest.mark.parametrize(
    "now,expected",
    [
        (local(22), local(8, day=24)),  # evening: the next morning
        (local(21), local(8, day=24)),  # the first minute is quiet
        (local(3, 30), local(8)),  # after midnight: this morning
        (local(7, 59), local(8)),
        (local(8), None),  # the last minute is not
        (local(12), None),
        (local(20, 59), None),
    ],
)
def test_quiet_hours_end_in_the_local_morning(now, expected):
    assert parse_quiet_hours("21:00-08:00").end_after(now) == expected


def test_quiet_hours_within_one_day_and_switched_off():
    lunch = parse_quiet_hours("12:00-14:00")
    assert lunch.contains(time(13)) and not lunch.contains(time(14)) and not lunch.contains(time(11, 59))
    assert lunch.end_after(local(12, 30)) == local(14)
    assert parse_quiet_hours("off") is None and parse_quiet_hours("") is None


@pytest.mark.parametrize("bad", ["9pm-8am", "21:00", "21:00-21:00", "25:00-08:00", "21:00-08:60"])
def test_malformed_quiet_hours_are_refused(bad):
    with pytest.raises(ValueError):
        parse_quiet_hours(bad)


def test_quiet_hours_are_local_time_whatever_the_clock_zone():
    utc_14 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # 22:00 in Beijing
    assert parse_quiet_hours("21:00-08:00").end_after(utc_14).astimezone(LOCAL_TZ).hour == 8


def test_resend_unknown_policy():
    assert policy.parse_resend_unknown("never") is None
    assert policy.parse_resend_unknown("after:600") == 600
    for bad in ("always", "after:", "after:-1", "after:ten"):
        with pytest.raises(ValueError):
            policy.parse_resend_unknown(bad)


def test_segments_follow_the_encoding():
    assert sms_units("Hello {}") == ("gsm7", 10)  # braces are GSM-7 extension characters: two septets
    assert sms_segments("a" * 160) == 1 and sms_segments("a" * 161) == 2 and sms_segments("a" * 306) == 2
    assert sms_segments("a" * 307) == 3
    assert sms_units("你好")[0] == "ucs2"
    assert sms_segments("你" * 70) == 1 and sms_segments("你" * 71) == 2 and sms_segments("你" * 134) == 2
    assert sms_segments("你" * 135) == 3
    assert sms_segments("Reference 你") == 1 and sms_units("a" * 100 + "你") == ("ucs2", 101)
