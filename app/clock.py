"""The one clock. Every reading of "now" in the server goes through here, so a test (or a
rehearsal of New Year's Eve) can move time for the whole process with time-machine, and for the
processes it starts with an offset in the environment.

``DOORSTEP_CLOCK_OFFSET_SECONDS`` (seconds, may be negative or fractional) is added to the
system clock. It is read once, when this module is imported: a process's clock is fixed at its
start and costs nothing per reading, and a parent that travels with time-machine after importing
the app can set it for its children without moving its own clock twice. Durations are measured
with ``time.monotonic()``, which no offset or travel touches.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

OFFSET_ENV = "DOORSTEP_CLOCK_OFFSET_SECONDS"

# People's dates (a visit day, the start of a residence, a deadline) and quiet hours are the
# district's, whatever the server's own time zone.
LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def _offset_from(environ: Mapping[str, str]) -> timedelta:
    raw = environ.get(OFFSET_ENV, "").strip()
    if not raw:
        return timedelta(0)
    try:
        return timedelta(seconds=float(raw))
    except (ValueError, OverflowError):
        # A clock silently left at the wall time would hide the misconfiguration it came from.
        raise RuntimeError(f"{OFFSET_ENV} must be a number of seconds, not {raw!r}") from None


_offset = _offset_from(os.environ)


def now() -> datetime:
    """Aware UTC."""
    return datetime.now(UTC) + _offset


def local_now() -> datetime:
    """Aware, in the district's time zone."""
    return now().astimezone(LOCAL_TZ)


def today() -> date:
    """The district's date: until 08:00 in Beijing, UTC's date is still yesterday's."""
    return local_now().date()


def day_starts(day: date) -> datetime:
    """The instant a local day begins, for "on or after this day" filters. The calendar's first
    day begins before UTC's range does; it stands for "since ever"."""
    try:
        return datetime.combine(day, time.min, LOCAL_TZ).astimezone(UTC)
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


def day_ends(day: date) -> datetime:
    """The instant after a local day, for "on or before this day" filters (``< day_ends(day)``).
    The calendar's last day has no next one; it stands for "until ever"."""
    if day == date.max:
        return datetime.max.replace(tzinfo=UTC)
    return day_starts(day + timedelta(days=1))


def timestamp() -> float:
    """Seconds since the epoch, for formats that carry one (a receipt's ``iat``, a webhook's ``ts``)."""
    return now().timestamp()


def system_now() -> datetime:
    """The system clock without the offset, for a library that compares run times against it
    itself (APScheduler: "run this job now" must be now in its frame, or an offset process would
    schedule its first run a year away). Never for a time anyone reads."""
    return datetime.now(UTC)


def from_system(seconds: float) -> datetime:
    """A system timestamp taken elsewhere (a log record's ``created``) on this clock."""
    return datetime.fromtimestamp(seconds, UTC) + _offset


def offset() -> timedelta:
    """How far this process's clock is from the system's (production refuses anything but 0)."""
    return _offset
