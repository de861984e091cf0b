"""The preview's promise: what ``windows.effect`` says a change would do is what saving it does.
Each case previews a change, saves it through the API's service, and compares the preview with
the difference in the public availability before and after; the preview itself writes nothing."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from app.auth.actor import Actor
from app.errors import DomainError
from app.extensions import db
from app.workdays import DayInfo, day_info
from app.workdays import services as calendar
from appointments.windows import services as svc


def _offer(area_id, days: list[date]) -> dict[tuple[date, time], tuple[int, time]]:
    offer = {}
    for d in svc.availability(area_id, min(days), max(days)):
        if d["day"] in days:
            for w in d["windows"]:
                offer[(d["day"], w["start"])] = (w["capacity"], w["end"])
    return offer


def _applied(offer, changes: list[svc.SlotChange]):
    out = dict(offer)
    for c in changes:
        if c.after is None:
            del out[(c.day, c.start)]
        else:
            out[(c.day, c.start)] = (c.after, c.end_after)
    return out


def _staff(world) -> Actor:
    user = world.staff[0]
    return Actor(user_id=user.id, role="staff", station_id=user.station_id)


def _check(app, world, windows_fixture, days, preview, save):
    area = windows_fixture.area.id
    with app.app_context():
        actor = _staff(world)
        before = _offer(area, days)
        changes = preview(actor, area)
        assert not db.session.new and not db.session.dirty and not db.session.deleted  # the preview wrote nothing
        save(actor, area)
        db.session.flush()
        assert _applied(before, [c for c in changes if c.area_id == area and c.day in days]) == _offer(area, days)
        db.session.rollback()
    return changes


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "closed"},
        {"kind": "closed", "start": time(14)},
        {"kind": "open", "start": time(9), "end": time(11), "capacity": 1},
        {"kind": "open", "start": time(18), "end": time(20), "capacity": 4},
    ],
    ids=["close-day", "close-window", "resize", "open-extra"],
)
def test_an_exceptions_preview_is_what_adding_it_does(app, world, windows, data):
    day = windows.days[0]
    body = {"day": day, "note": "", **data}
    changes = _check(
        app,
        world,
        windows,
        [day],
        lambda actor, area: svc.preview_exception(actor, area, body),
        lambda actor, area: svc.add_exception(actor, area, body),
    )
    assert changes


def test_a_holidays_preview_names_the_bookings_left_and_is_what_declaring_it_does(app, world, booker, windows):
    assert booker.as_staff().status_code == 201
    day = windows.days[0]
    changes = _check(
        app,
        world,
        windows,
        [day],
        lambda actor, area: svc.preview_calendar(actor, day, DayInfo(day, False, "测试", "staff")),
        lambda actor, area: calendar.declare(actor, day, False, "测试"),
    )
    mine = {c.start: c for c in changes if c.area_id == windows.area.id}
    assert {c.kind for c in mine.values()} == {"disappears"}
    assert mine[time(9)].booked == 1 and mine[time(9)].strands_bookings
    assert not mine[time(14)].strands_bookings


def test_a_make_up_days_preview_is_what_declaring_it_does(app, world, windows):
    with app.app_context():
        day = next(d for d in (windows.days[0] + timedelta(n) for n in range(14)) if not day_info(d).is_workday)
    changes = _check(
        app,
        world,
        windows,
        [day],
        lambda actor, area: svc.preview_calendar(actor, day, DayInfo(day, True, "调休", "staff")),
        lambda actor, area: calendar.declare(actor, day, True, "调休"),
    )
    assert {c.kind for c in changes if c.area_id == windows.area.id} == {"appears"}


def test_a_weekly_templates_preview_is_what_replacing_it_does(app, world, booker, windows):
    assert booker.as_staff(start=windows.afternoon).status_code == 201
    template = [{"weekday": d, "start": time(9), "end": time(12), "capacity": 5} for d in range(7)] + [
        {"weekday": d, "start": time(14), "end": time(16), "capacity": 2} for d in range(5)
    ]
    changes = _check(
        app,
        world,
        windows,
        windows.days,
        lambda actor, area: svc.preview_template(actor, area, template),
        lambda actor, area: svc.replace_template(actor, area, template),
    )
    afternoon = next(c for c in changes if c.day == windows.days[0] and c.start == time(14))
    assert afternoon.end_after == time(16) and afternoon.strands_bookings  # its hours move


def test_a_withdrawals_preview_is_what_withdrawing_does(app, world, windows):
    day = windows.days[1]
    with app.app_context():
        row = svc.add_exception(_staff(world), windows.area.id, {"day": day, "kind": "closed", "note": ""})
        db.session.commit()
        row_id = row.id
    changes = _check(
        app,
        world,
        windows,
        [day],
        lambda actor, area: svc.preview_removal(actor, area, row_id)[1],
        lambda actor, area: svc.remove_exception(actor, area, row_id),
    )
    assert {c.kind for c in changes} == {"appears"}


def test_a_preview_runs_the_saves_checks(app, world, windows):
    with app.app_context():
        actor = _staff(world)
        past = {"day": windows.days[0] - timedelta(days=30), "kind": "closed", "note": ""}
        with pytest.raises(DomainError, match="day: is in the past"):
            svc.preview_exception(actor, windows.area.id, past)
        overlapping = [
            {"weekday": 0, "start": time(9), "end": time(12), "capacity": 1},
            {"weekday": 0, "start": time(11), "end": time(13), "capacity": 1},
        ]
        with pytest.raises(DomainError, match="overlap"):
            svc.preview_template(actor, windows.area.id, overlapping)
