"""Visit windows: the weekly template of an area, date exceptions, and public availability."""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from flask import current_app

from app import audit, refcache, workdays
from app.db import insert_for, new_id, one_or_404, table_of, unique_or_conflict
from app.errors import Conflict, field_error, phrase
from app.extensions import db
from app.notify import outbox
from app.org.models import Area
from app.org.scoping import area_for, areas_visible_to
from app.prepared import Prepared
from appointments.windows.models import Slot, WindowException, WindowTemplate

MAX_QUERY_DAYS = 62


class SlotFull(Conflict):
    slug, title = "slot-full", "The window is fully booked"


@dataclass(frozen=True)
class Window:
    day: date
    start: time
    end: time
    capacity: int


@dataclass(frozen=True)
class TemplateWindow:
    """A weekly window as the cache keeps it (the fields ``_windows`` reads of a template row)."""

    weekday: int
    start_time: time
    end_time: time
    capacity: int


@dataclass(frozen=True)
class ExceptionWindow:
    """A date exception as the cache keeps it (the fields ``_windows`` and ``effect`` read)."""

    id: Any
    day: date
    kind: str
    start_time: time | None
    end_time: time | None
    capacity: int | None


@dataclass(frozen=True)
class AreaInfo:
    id: Any
    station_id: Any
    name: str
    active: bool


refcache.watch(WindowTemplate, "window_template", lambda row: row.area_id)
refcache.watch(Area, "area", lambda row: row.id)
refcache.watch(WindowException, "window_exception", lambda row: row.area_id)


def area_info(area_id) -> AreaInfo | None:
    """The area as booking and availability read it, from the process's reference cache."""

    def load() -> AreaInfo | None:
        area = db.session.get(Area, area_id)
        return None if area is None else AreaInfo(area.id, area.station_id, area.name, area.active)

    # The versions of what booking and availability read next, in one statement: the area, its
    # weekly windows and date exceptions, the working calendar, and the name of the station that
    # signs a booking's notices (its id as last loaded: a hint; were it stale, its read is one more).
    keys = [("area", area_id), ("window_template", area_id), ("window_exception", area_id), workdays.CALENDAR]
    known = refcache.peek("area", area_id)
    if known is not None:
        keys.append((outbox.STATION, known.station_id))
    refcache.prefetch(keys)
    return refcache.cached("area", area_id, load)


def _templates(area_id) -> tuple[TemplateWindow, ...]:
    """The area's weekly template, from the process's reference cache."""

    def load() -> tuple[TemplateWindow, ...]:
        t = WindowTemplate
        rows = db.session.execute(
            sa.select(t.weekday, t.start_time, t.end_time, t.capacity)
            .where(t.area_id == area_id)
            .order_by(t.weekday, t.start_time)
        ).all()
        return tuple(TemplateWindow(*row) for row in rows)

    return refcache.cached("window_template", area_id, load)


def _by_day(rows):
    out: dict = {}
    for row in rows:
        out.setdefault(row.day, []).append(row)
    return out


def _windows(day: date, info, templates, exceptions) -> tuple[list[Window], str | None]:
    """The windows open on ``day`` and, when there are none, why."""
    if any(e.kind == "closed" and e.start_time is None for e in exceptions):
        return [], "closed"
    weekday = day.weekday()
    windows = (
        {t.start_time: Window(day, t.start_time, t.end_time, t.capacity) for t in templates if t.weekday == weekday}
        if info.is_workday
        else {}
    )
    for e in exceptions:
        if e.kind == "open":
            windows[e.start_time] = Window(day, e.start_time, e.end_time, e.capacity)
        elif e.start_time in windows:
            del windows[e.start_time]
    if windows:
        return sorted(windows.values(), key=lambda w: w.start), None
    if not info.is_workday:
        return [], "weekend" if day.weekday() >= 5 and not info.name else "holiday"
    return [], "no_windows"


def _exceptions(area_id) -> tuple[ExceptionWindow, ...]:
    """Every date exception of the area (a few a year), from the process's reference cache."""

    def load() -> tuple[ExceptionWindow, ...]:
        e = WindowException
        rows = db.session.execute(
            sa.select(e.id, e.day, e.kind, e.start_time, e.end_time, e.capacity).where(e.area_id == area_id)
        ).all()
        return tuple(ExceptionWindow(*row) for row in rows)

    return refcache.cached("window_exception", area_id, load)


def _load(area_id, start: date, end: date):
    templates = _templates(area_id)
    exceptions = _by_day(e for e in _exceptions(area_id) if start <= e.day <= end)
    return templates, exceptions


def window_on(area_id, day: date, start: time) -> Window | None:
    templates, exceptions = _load(area_id, day, day)
    windows, _ = _windows(day, workdays.day_info(day), templates, exceptions.get(day, []))
    return next((w for w in windows if w.start == start), None)


def booking_closed_reason(window: Window) -> str | None:
    """Why a citizen may no longer book (or change a booking in) this window, if so."""
    now = workdays.local_now()
    cutoff = timedelta(hours=current_app.config["BOOKING_CUTOFF_HOURS"])
    if workdays.local_datetime(window.day, window.start) - cutoff <= now:
        return "past_cutoff"
    if (window.day - now.date()).days > current_app.config["BOOKING_HORIZON_DAYS"]:
        return "beyond_horizon"
    return None


def availability(area_id, start: date, end: date) -> list[dict]:
    """Public: windows, capacity left, bookable or not and why. No personal data."""
    if end < start:
        raise field_error("to", "must not be before from")
    if (end - start).days >= MAX_QUERY_DAYS:
        raise field_error("to", phrase("ask for at most %(days)s days at a time", days=MAX_QUERY_DAYS))
    area = area_info(area_id)
    if area is None or not area.active:
        raise field_error("area_id", "no such area")
    templates, exceptions = _load(area_id, start, end)
    booked = {
        (s.day, s.start_time): s
        for s in db.session.execute(
            sa.select(Slot).where(Slot.area_id == area_id, Slot.day.between(start, end))
        ).scalars()
    }
    days = []
    for info in workdays.days(start, end):
        windows, reason = _windows(info.day, info, templates, exceptions.get(info.day, []))
        entries = []
        for w in windows:
            slot = booked.get((w.day, w.start))
            left = max(0, w.capacity - (slot.booked if slot else 0))
            why = booking_closed_reason(w) or (None if left else "full")
            entries.append(
                {
                    "start": w.start,
                    "end": w.end,
                    "capacity": w.capacity,
                    "left": left,
                    "bookable": why is None,
                    "reason": why,
                }
            )
        days.append(
            {
                "day": info.day,
                "is_workday": info.is_workday,
                "holiday_name": info.name,
                "calendar_source": info.source,
                "windows": entries,
                "reason": reason,
            }
        )
    return days


def take_seat(area_id, window: Window):
    """Reserve one seat in the window or raise 409 slot-full; returns the slot id.

    One statement: the slot row is created holding this seat on first use, or its count goes up
    by one only while below the window's current capacity; no row back means the window is full.
    The database decides under the row's lock (the CHECK constraint backs it), so no interleaving
    of requests — threads, worker processes, app nodes — can seat more than the capacity, and no
    read of the count comes before the write."""
    if window.capacity < 1:
        raise SlotFull("this window is fully booked; choose another")
    params = {
        "seat_id": new_id(),
        "seat_area": area_id,
        "seat_day": window.day,
        "seat_start": window.start,
        "seat_end": window.end,
        "seat_capacity": window.capacity,
    }
    # On the session's connection: the statement is Core on the table, nothing is pending to
    # autoflush before it, and the ORM's execute layer cost as much as SQLite's work.
    slot_id = _take_seat_statement(insert_for(db.session)).scalar(params)
    if slot_id is None:
        raise SlotFull("this window is fully booked; choose another")
    return slot_id


@functools.cache
def _take_seat_statement(insert: Callable[[Any], Any]) -> Prepared:
    """``take_seat``'s statement in the dialect's INSERT, built once per dialect (every booking
    runs it; building it per call cost more than running it). On the table, not the mapped class:
    the ORM's bulk-insert path around it cost as much again."""
    c = table_of(Slot).c
    return Prepared(
        insert(table_of(Slot))
        .values(
            id=sa.bindparam("seat_id", type_=c.id.type),
            area_id=sa.bindparam("seat_area", type_=c.area_id.type),
            day=sa.bindparam("seat_day", type_=c.day.type),
            start_time=sa.bindparam("seat_start", type_=c.start_time.type),
            end_time=sa.bindparam("seat_end", type_=c.end_time.type),
            capacity=sa.bindparam("seat_capacity", type_=c.capacity.type),
            booked=1,
        )
        .on_conflict_do_update(
            index_elements=["area_id", "day", "start_time"],
            set_={
                "booked": c.booked + 1,
                "capacity": sa.bindparam("seat_capacity", type_=c.capacity.type),
                "end_time": sa.bindparam("seat_end", type_=c.end_time.type),
            },
            where=c.booked < sa.bindparam("seat_capacity", type_=c.capacity.type),
        )
        .returning(c.id)
    )


def release_seat(slot_id) -> None:
    db.session.execute(sa.update(Slot).where(Slot.id == slot_id, Slot.booked > 0).values(booked=Slot.booked - 1))


# --- staff: templates and exceptions -------------------------------------------------------


def _template_snapshot(rows) -> list[dict]:
    return [
        {
            "weekday": r.weekday,
            "start": r.start_time.isoformat("minutes"),
            "end": r.end_time.isoformat("minutes"),
            "capacity": r.capacity,
        }
        for r in sorted(rows, key=lambda r: (r.weekday, r.start_time))
    ]


def template_of(actor, area_id) -> list[WindowTemplate]:
    area = area_for(actor, area_id)
    return list(
        db.session.execute(
            sa.select(WindowTemplate)
            .where(WindowTemplate.area_id == area.id)
            .order_by(WindowTemplate.weekday, WindowTemplate.start_time)
        ).scalars()
    )


def template_version(actor, area_id, *, lock: bool = False) -> str:
    """The weekly template has no version column: its version is a digest of its windows, so an
    edit based on a template that someone else replaced since is recognised all the same. With
    ``lock`` the area's row is locked, so two editors of one version cannot both replace it."""
    area = area_for(actor, area_id)
    if lock:
        db.session.execute(sa.select(Area.id).where(Area.id == area.id).with_for_update())
    snapshot = orjson.dumps(_template_snapshot(template_of(actor, area.id)), default=str)
    return "w-" + hashlib.sha256(snapshot).hexdigest()[:16]


def _check_no_overlap(windows: list[dict], field: str) -> None:
    ordered = sorted(windows, key=lambda w: (w.get("weekday", 0), w["start"]))
    for a, b in itertools.pairwise(ordered):
        if a.get("weekday") == b.get("weekday") and b["start"] < a["end"]:
            first, second = (f"{w['start']:%H:%M}-{w['end']:%H:%M}" for w in (a, b))
            raise field_error(field, phrase("windows %(first)s and %(second)s overlap", first=first, second=second))
    for w in windows:
        if w["end"] <= w["start"]:
            start = w["start"].strftime("%H:%M")
            raise field_error(field, phrase("window starting %(start)s must end after it starts", start=start))


def replace_template(actor, area_id, windows: list[dict]) -> list[WindowTemplate]:
    """Replace the area's whole weekly template; dates already booked keep their seats."""
    area = area_for(actor, area_id)
    _check_no_overlap(windows, "windows")
    current = template_of(actor, area.id)
    before = _template_snapshot(current)
    for row in current:
        db.session.delete(row)
    db.session.flush()
    rows = [
        WindowTemplate(
            area_id=area.id, weekday=w["weekday"], start_time=w["start"], end_time=w["end"], capacity=w["capacity"]
        )
        for w in windows
    ]
    db.session.add_all(rows)
    db.session.flush()
    audit.record(
        actor,
        "window_template.replace",
        "area",
        area.id,
        before={"windows": before},
        after={"windows": _template_snapshot(rows)},
        station_id=area.station_id,
    )
    db.session.flush()
    return template_of(actor, area.id)


def exceptions_of(actor, area_id, start: date, end: date) -> list[WindowException]:
    area = area_for(actor, area_id)
    return list(
        db.session.execute(
            sa.select(WindowException)
            .where(WindowException.area_id == area.id, WindowException.day.between(start, end))
            .order_by(WindowException.day, WindowException.start_time)
        ).scalars()
    )


def _exception_snapshot(e: WindowException) -> dict:
    return {
        "day": e.day.isoformat(),
        "kind": e.kind,
        "start": e.start_time and e.start_time.isoformat("minutes"),
        "end": e.end_time and e.end_time.isoformat("minutes"),
        "capacity": e.capacity,
        "note": e.note,
    }


def check_exception(data: dict) -> None:
    """What makes a date exception acceptable: the rule ``add_exception`` applies and the
    console's preview runs before showing the effect."""
    if data["day"] < workdays.local_now().date():
        raise field_error("day", "is in the past")
    if data["kind"] == "open":
        for f in ("start", "end", "capacity"):
            if data.get(f) is None:
                raise field_error(f, "is required to open a window")
        _check_no_overlap([data], "end")
    elif data.get("end") is not None or data.get("capacity") is not None:
        raise field_error(
            "end" if data.get("end") is not None else "capacity",
            "a closure names only the day and, for one window, its start",
        )


def add_exception(actor, area_id, data: dict) -> WindowException:
    area = area_for(actor, area_id)
    check_exception(data)
    row = WindowException(
        area_id=area.id,
        day=data["day"],
        kind=data["kind"],
        start_time=data.get("start"),
        end_time=data.get("end"),
        capacity=data.get("capacity"),
        note=data.get("note", ""),
    )
    with unique_or_conflict("start", "window exception"):
        db.session.add(row)
    audit.record(
        actor, "window_exception.add", "area", area.id, after=_exception_snapshot(row), station_id=area.station_id
    )
    db.session.flush()
    return row


def remove_exception(actor, area_id, exception_id) -> None:
    area = area_for(actor, area_id)
    row = one_or_404(
        sa.select(WindowException).where(WindowException.id == exception_id, WindowException.area_id == area.id),
        "window exception",
    )
    audit.record(
        actor, "window_exception.remove", "area", area.id, before=_exception_snapshot(row), station_id=area.station_id
    )
    db.session.delete(row)
    db.session.flush()


# --- what a change would do: the console's preview, on the rule the save applies -----------


@dataclass(frozen=True)
class SlotChange:
    """One window on one date whose offer a change would alter; ``before``/``after`` are the
    capacities (None: no such window), ``booked`` the seats already taken in it."""

    area_id: Any
    day: date
    start: time
    end_before: time | None
    end_after: time | None
    before: int | None
    after: int | None
    booked: int
    slot_id: Any = None

    @property
    def kind(self) -> str:
        if self.before is None:
            return "appears"
        if self.after is None:
            return "disappears"
        return "changes"

    @property
    def strands_bookings(self) -> bool:
        """Seats already taken that the new window no longer holds as booked: the window goes,
        shrinks below its bookings, or its hours move. The bookings keep their seats; the clerk
        calls the people to move them."""
        if not self.booked:
            return False
        return self.after is None or self.after < self.booked or self.end_after != self.end_before


@dataclass(frozen=True)
class _Rule:
    """A template or exception row as ``_windows`` reads it, for a state not yet saved."""

    kind: str = "open"
    weekday: int | None = None
    start_time: time | None = None
    end_time: time | None = None
    capacity: int | None = None
    id: Any = None


def effect(
    area_id,
    start: date,
    end: date,
    *,
    template: list[dict] | None = None,
    add: dict | None = None,
    remove_id=None,
    calendar: dict[date, workdays.DayInfo] | None = None,
) -> list[SlotChange]:
    """The windows between ``start`` and ``end`` that would appear, disappear or change if the
    weekly ``template`` replaced the area's, the exception ``add`` were added, the exception
    ``remove_id`` withdrawn, or the ``calendar`` said otherwise of some dates. Reads, never writes:
    it runs ``_windows``, the rule availability and booking use, on the state now and on the state
    proposed, and compares."""
    templates, exceptions = _load(area_id, start, end)
    infos = workdays.days(start, end)
    new_templates: list[Any] = (
        templates
        if template is None
        else [
            _Rule(weekday=w["weekday"], start_time=w["start"], end_time=w["end"], capacity=w["capacity"])
            for w in template
        ]
    )
    new_exceptions: dict[date, list[Any]] = {
        d: [e for e in rows if e.id != remove_id] for d, rows in exceptions.items()
    }
    if add is not None and start <= add["day"] <= end:
        new_exceptions.setdefault(add["day"], []).append(
            _Rule(kind=add["kind"], start_time=add.get("start"), end_time=add.get("end"), capacity=add.get("capacity"))
        )
    slots = {
        (s.day, s.start_time): s
        for s in db.session.execute(
            sa.select(Slot).where(Slot.area_id == area_id, Slot.day.between(start, end))
        ).scalars()
    }
    changes = []
    for info in infos:
        after_info = (calendar or {}).get(info.day, info)
        now, _ = _windows(info.day, info, templates, exceptions.get(info.day, []))
        then, _ = _windows(info.day, after_info, new_templates, new_exceptions.get(info.day, []))
        old, new = {w.start: w for w in now}, {w.start: w for w in then}
        for at in sorted(old.keys() | new.keys()):
            a, b = old.get(at), new.get(at)
            if a is not None and b is not None and (a.capacity, a.end) == (b.capacity, b.end):
                continue
            slot = slots.get((info.day, at))
            changes.append(
                SlotChange(
                    area_id=area_id,
                    day=info.day,
                    start=at,
                    end_before=a.end if a else None,
                    end_after=b.end if b else None,
                    before=a.capacity if a else None,
                    after=b.capacity if b else None,
                    booked=slot.booked if slot else 0,
                    slot_id=slot.id if slot else None,
                )
            )
    return changes


def preview_template(actor, area_id, windows: list[dict]) -> list[SlotChange]:
    """What ``replace_template`` would change in the bookable horizon, after the same checks."""
    area = area_for(actor, area_id)
    _check_no_overlap(windows, "windows")
    today = workdays.local_now().date()
    horizon = today + timedelta(days=current_app.config["BOOKING_HORIZON_DAYS"])
    return effect(area.id, today, horizon, template=windows)


def preview_exception(actor, area_id, data: dict) -> list[SlotChange]:
    """What ``add_exception`` would change on its day, after the same checks (and the unique
    constraint's answer, given before the insert would meet it)."""
    area = area_for(actor, area_id)
    check_exception(data)
    taken = (
        data.get("start") is not None
        and db.session.execute(
            sa.select(WindowException.id).where(
                WindowException.area_id == area.id,
                WindowException.day == data["day"],
                WindowException.start_time == data["start"],
            )
        ).first()
    )
    if taken:
        # The unique constraint's answer (``unique_or_conflict`` in ``add_exception``), given before
        # the insert meets it. A whole-day closure (no start) is never unique: NULLs differ.
        raise Conflict(
            "start: this window exception start is already taken",
            errors={"start": ["already taken"]},
            slug="window exception-start-taken",
        )
    return effect(area.id, data["day"], data["day"], add=data)


def preview_removal(actor, area_id, exception_id) -> tuple[WindowException, list[SlotChange]]:
    """What ``remove_exception`` would change on the exception's day."""
    area = area_for(actor, area_id)
    row = one_or_404(
        sa.select(WindowException).where(WindowException.id == exception_id, WindowException.area_id == area.id),
        "window exception",
    )
    return row, effect(area.id, row.day, row.day, remove_id=row.id)


def preview_calendar(actor, day: date, after: workdays.DayInfo) -> list[SlotChange]:
    """What declaring ``day`` (or withdrawing a declaration: ``after`` is then the published
    calendar's answer) would change in the windows of every area the actor may see. The calendar
    is the district's; the actor sees only the effect on their own station."""
    changes = []
    for area in db.session.execute(areas_visible_to(actor).where(Area.active.is_(True))).scalars():
        changes += effect(area.id, day, day, calendar={day: after})
    return changes
