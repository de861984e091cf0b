"""The evening-before reminder as the scheduler runs it: from the configured local hour, every
tick queues what tomorrow's visits still lack, and nothing twice."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import sqlalchemy as sa

from app import unit_of_work
from app.extensions import db
from app.notify.models import Notification
from app.workdays import LOCAL_TZ
from appointments.jobs import evening_reminders


def at(day, hour, minute=0):
    return datetime.combine(day, time(hour, minute), LOCAL_TZ)


def tick(app, now):
    with app.app_context():  # one unit of work per job run, as the scheduler runs it
        return unit_of_work.unit(lambda: evening_reminders(now))


def reminders(app):
    with app.app_context():
        return (
            db.session.execute(sa.select(Notification.dedupe_key).where(Notification.kind == "visit_reminder"))
            .scalars()
            .all()
        )


def test_tomorrows_visits_are_reminded_from_the_evening_hour_once(app, booker, windows):
    tomorrow = windows.days[0]
    first = booker.as_citizen().json
    booker.as_staff(day=windows.days[1])  # a later day: not tomorrow's
    eve = tomorrow - timedelta(days=1)

    assert tick(app, at(eve, 17, 59)) is None
    assert tick(app, at(eve, 18, 0)) == {"visit_reminders": 1}
    assert tick(app, at(eve, 18, 1)) == {"visit_reminders": 0}
    second = booker.as_staff(start=windows.afternoon).json  # booked at 20:00 for tomorrow
    assert tick(app, at(eve, 20, 0)) == {"visit_reminders": 1}
    assert sorted(reminders(app)) == sorted(
        f"visit-reminder:{b['visit_id']}:{tomorrow.isoformat()}" for b in (first, second)
    )


def test_the_evening_hour_is_configurable(app, booker, windows, monkeypatch):
    booker.as_citizen()
    monkeypatch.setitem(app.config, "EVENING_REMINDER_HOUR", 20)
    eve = windows.days[0] - timedelta(days=1)
    assert tick(app, at(eve, 19, 30)) is None
    assert tick(app, at(eve, 20, 5)) == {"visit_reminders": 1}


def test_the_evening_is_local_not_utc(app, booker, windows):
    """18:00 UTC is 02:00 the next morning in Shanghai; 10:00 UTC is 18:00 there."""
    booker.as_citizen()
    eve = windows.days[0] - timedelta(days=1)
    assert tick(app, datetime.combine(eve - timedelta(days=1), time(18), UTC)) is None
    assert tick(app, datetime.combine(eve, time(10), UTC)) == {"visit_reminders": 1}
