from __future__ import annotations

import sqlalchemy as sa

from app import unit_of_work
from app.extensions import db
from app.notify.models import Notification
from appointments.booking.reminders import enqueue_evening_reminders


def _reminders(app):
    with app.app_context():
        return db.session.execute(sa.select(Notification).where(Notification.kind == "visit_reminder")).scalars().all()


def test_one_reminder_per_open_visit_however_often_it_runs(app, client, make, world, booker, windows):
    kept = booker.as_citizen().json
    booker.as_staff(day=windows.days[1])  # another day
    cancelled = booker.as_staff().json
    client.post(f"/api/v1/bookings/{cancelled['id']}/cancel", json={"reason": "x"}, headers=make.auth(world.staff[0]))
    with app.app_context():
        assert unit_of_work.unit(lambda: enqueue_evening_reminders(windows.days[0])) == 1
        assert unit_of_work.unit(lambda: enqueue_evening_reminders(windows.days[0])) == 0
    [row] = _reminders(app)
    assert row.dedupe_key == f"visit-reminder:{kept['visit_id']}:{windows.days[0].isoformat()}"
    assert row.params["reference"].replace("-", "") == kept["reference_code"] and row.params["start"] == "09:00"
