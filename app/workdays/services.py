from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import chinese_calendar
import sqlalchemy as sa

from app import audit, clock, refcache
from app.auth.actor import Actor
from app.errors import NotFound, field_error, phrase
from app.extensions import db
from app.workdays.models import CalendarDay

MAX_RANGE_DAYS = 400


@dataclass(frozen=True)
class DayInfo:
    day: date
    is_workday: bool
    name: str
    source: str  # "staff", "official" or "weekday-rule" (year not published: unconfirmed)


# The published calendar is data of the installed package: a date's answer never changes while
# the process runs, and every booking asks it of its window's day (a few thousand dates at most).
@functools.lru_cache(maxsize=4096)
def _official(day: date) -> tuple[bool, str] | None:
    try:
        is_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return None
    return (not is_holiday, name or "")


@dataclass(frozen=True)
class Declaration:
    """A date staff declared, as the reference cache keeps it."""

    day: date
    is_workday: bool
    name: str


# Staff's declarations are a few dates a year, read by every booking and availability page: the
# whole table is kept in the process's reference cache (decision 93) under one key, which the
# windows read ahead with their own (``CALENDAR``).
CALENDAR = ("calendar_day", "all")
refcache.watch(CalendarDay, CALENDAR[0], lambda _row: CALENDAR[1])


def _declarations() -> tuple[Declaration, ...]:
    c = CalendarDay
    return tuple(Declaration(*row) for row in db.session.execute(sa.select(c.day, c.is_workday, c.name)).all())


def _overrides(start: date, end: date) -> dict[date, Declaration]:
    return {d.day: d for d in refcache.cached(*CALENDAR, _declarations) if start <= d.day <= end}


def _info(day: date, overrides: dict[date, Declaration]) -> DayInfo:
    if day in overrides:
        row = overrides[day]
        return DayInfo(day, row.is_workday, row.name, "staff")
    official = _official(day)
    if official is not None:
        return DayInfo(day, official[0], official[1], "official")
    return DayInfo(day, day.weekday() < 5, "", "weekday-rule")


def day_info(day: date) -> DayInfo:
    return _info(day, _overrides(day, day))


def published(day: date) -> DayInfo:
    """What ``day`` is without a staff declaration: what withdrawing one would leave."""
    return _info(day, {})


def days(start: date, end: date) -> list[DayInfo]:
    if end < start:
        raise field_error("to", "must not be before from")
    if (end - start).days > MAX_RANGE_DAYS:
        raise field_error("to", phrase("the range may span at most %(days)s days", days=MAX_RANGE_DAYS))
    overrides = _overrides(start, end)
    return [_info(start + timedelta(n), overrides) for n in range((end - start).days + 1)]


def is_workday(day: date) -> bool:
    return day_info(day).is_workday


def add_working_days(start: date, n: int) -> date:
    """The n-th working day after ``start`` (``start`` itself not counted)."""
    overrides: dict[date, Declaration] = {}
    day, counted, horizon = start, 0, start
    while counted < n:
        day += timedelta(days=1)
        if day > horizon:
            horizon = day + timedelta(days=60)
            overrides.update(_overrides(day, horizon))
        counted += _info(day, overrides).is_workday
    return day


def declare(actor: Actor, day: date, is_workday: bool, name: str) -> DayInfo:
    before = day_info(day)
    row = db.session.get(CalendarDay, day) or CalendarDay(day=day)
    row.is_workday, row.name, row.created_by_id = is_workday, name, actor.user_id
    db.session.add(row)
    db.session.flush()
    audit.record(
        actor,
        "calendar.declare",
        "calendar_day",
        day.isoformat(),
        before={"is_workday": before.is_workday, "source": before.source},
        after={"is_workday": is_workday, "name": name},
        station_id=None,
    )
    db.session.flush()
    return day_info(day)


def declaration(day: date) -> CalendarDay:
    """Staff's declaration for ``day``; none is a 404 (there is nothing to withdraw)."""
    row = db.session.get(CalendarDay, day)
    if row is None:
        raise NotFound("no declaration for that date")
    return row


def withdraw(actor: Actor, day: date) -> DayInfo:
    row = declaration(day)
    audit.record(
        actor,
        "calendar.withdraw",
        "calendar_day",
        day.isoformat(),
        before={"is_workday": row.is_workday, "name": row.name},
        station_id=None,
    )
    db.session.delete(row)
    db.session.flush()
    return day_info(day)


LOCAL_TZ = clock.LOCAL_TZ


def local_now() -> datetime:
    """People's dates and windows are local to the district."""
    return clock.local_now()


def local_datetime(day: date, at: time) -> datetime:
    return datetime.combine(day, at, LOCAL_TZ)


def working_days_until(today: date, deadline: date) -> int:
    """Working days left before ``deadline`` (today not counted, the deadline counted): 0 on the
    deadline itself; negative when it has passed (the working days it is late)."""
    start, end, sign = (today, deadline, 1) if deadline >= today else (deadline, today, -1)
    overrides = _overrides(start, end)
    return sign * sum(_info(start + timedelta(n), overrides).is_workday for n in range(1, (end - start).days + 1))
