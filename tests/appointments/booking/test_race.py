"""Capacity under real concurrency: the database, not Python, keeps a window from overbooking.
On PostgreSQL the threads' transactions truly interleave; on SQLite they queue for the lock."""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa

from app.extensions import db
from appointments.booking.models import Booking
from appointments.windows.models import Slot, WindowTemplate
from tests.factories import mobile
from tests.fixtures.appointments import booking_body
from tests.threads import release_together


def test_fifty_callers_one_window_of_ten(app, make, world, windows):
    with app.app_context():
        db.session.execute(
            sa.update(WindowTemplate).where(WindowTemplate.area_id == windows.area.id).values(capacity=10)
        )
        db.session.commit()
    headers = make.auth(world.staff[0])

    def book(client, i):
        body = booking_body(windows.area, windows.days[0], caller_name="来电人", caller_phone=mobile())
        resp = client.post("/api/v1/bookings", json=body, headers={**headers, "Idempotency-Key": f"race-{i}"})
        return resp.status_code, (resp.json or {}).get("type", "")

    results = release_together(app, 50, book)
    assert Counter(status for status, _ in results) == {201: 10, 409: 40}
    assert all(kind.endswith("/slot-full") for status, kind in results if status == 409)
    with app.app_context():
        slot = db.session.execute(
            sa.select(Slot).where(Slot.area_id == windows.area.id, Slot.day == windows.days[0])
        ).scalar_one()
        assert (slot.booked, slot.capacity) == (10, 10)
        assert db.session.execute(sa.select(sa.func.count()).select_from(Booking)).scalar() == 10


def test_twenty_retries_of_one_request_make_one_booking(app, make, world, windows):
    headers = {**make.auth(world.citizen), "Idempotency-Key": "same-request"}
    body = booking_body(windows.area, windows.days[0])

    def book(client, _i):
        resp = client.post("/api/v1/bookings", json=body, headers=headers)
        return resp.status_code, (resp.json or {}).get("id")

    results = release_together(app, 20, book)
    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 1, 200: 19}, statuses
    assert len({booking_id for _, booking_id in results}) == 1
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Booking)).scalar() == 1
        assert db.session.execute(sa.select(Slot.booked)).scalar() == 1
