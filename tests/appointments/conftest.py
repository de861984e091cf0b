"""Fixtures for bookings and dispatch: an area with weekly windows and a booking helper."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import date, time, timedelta

import pytest

from app.extensions import db
from app.workdays import day_info, local_now
from appointments.windows.models import WindowTemplate
from tests.factories import mobile

_keys = itertools.count()


def upcoming_workdays(n: int = 3, *, skip: int = 1) -> list[date]:
    """Working days from ``skip`` days ahead, so no window is inside the booking cut-off."""
    out, day = [], local_now().date() + timedelta(days=skip)
    while len(out) < n:
        if day_info(day).is_workday:
            out.append(day)
        day += timedelta(days=1)
    return out


@dataclass
class Windows:
    area: object
    days: list
    morning: time = time(9, 0)
    afternoon: time = time(14, 0)


def set_template(app, area, *, morning_capacity=3, afternoon_capacity=2):
    with app.app_context():
        for weekday in range(7):
            db.session.add(
                WindowTemplate(
                    area_id=area.id, weekday=weekday, start_time=time(9), end_time=time(12), capacity=morning_capacity
                )
            )
            db.session.add(
                WindowTemplate(
                    area_id=area.id,
                    weekday=weekday,
                    start_time=time(14),
                    end_time=time(17, 30),
                    capacity=afternoon_capacity,
                )
            )
        db.session.commit()


@pytest.fixture
def windows(app, world):
    """Area 0 of station 0 takes 3 visits 09:00-12:00 and 2 visits 14:00-17:30 every working day."""
    with app.app_context():
        days = upcoming_workdays(3)
    set_template(app, world.areas[0][0])
    return Windows(world.areas[0][0], days)


def booking_body(area, day, start=time(9), **overrides) -> dict:
    body = {
        "purpose": "registration",
        "area_id": str(area.id),
        "day": day.isoformat(),
        "window_start": start if isinstance(start, str) else start.strftime("%H:%M"),
        "address": "北山街道12号3单元402",
        "contact_name": "李娜",
        "contact_phone": mobile(),
    }
    body.update(overrides)
    return body


class Booker:
    def __init__(self, client, make, world, windows):
        self.client, self.make, self.world, self.windows = client, make, world, windows

    def as_citizen(self, citizen=None, key=None, **overrides):
        citizen = citizen or self.world.citizen
        return self.post(self.make.auth(citizen), key, **overrides)

    def as_staff(self, staff=None, key=None, **overrides):
        overrides.setdefault("caller_name", "王先生")
        overrides.setdefault("caller_phone", mobile())
        return self.post(self.make.auth(staff or self.world.staff[0]), key, **overrides)

    def post(self, headers, key=None, **overrides):
        body = booking_body(
            self.windows.area,
            overrides.pop("day", self.windows.days[0]),
            overrides.pop("start", self.windows.morning),
            **overrides,
        )
        headers = {**headers, "Idempotency-Key": key or f"k-{next(_keys)}-{uuid.uuid4().hex[:6]}"}
        return self.client.post("/api/v1/bookings", json=body, headers=headers)


@pytest.fixture
def booker(client, make, world, windows):
    return Booker(client, make, world, windows)
