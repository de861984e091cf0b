"""Booking a visit: by citizens and by staff on the phone; idempotent, one open booking per
purpose, cancel and reschedule with capacity moving atomically, and the progress timeline."""

from __future__ import annotations

import re

import sqlalchemy as sa

from app.extensions import db
from app.notify.models import Notification
from appointments.windows.models import Slot
from tests.factories import if_match, mobile

REFERENCE = re.compile(r"^[2-9A-HJ-NP-Z]{8}$")


def _booked(app, area, day, start):
    with app.app_context():
        return db.session.execute(
            sa.select(Slot.booked).where(Slot.area_id == area.id, Slot.day == day, Slot.start_time == start)
        ).scalar()


def test_a_citizen_books_and_follows_progress(client, make, world, booker, windows):
    resp = booker.as_citizen()
    assert resp.status_code == 201, resp.json
    booking = resp.json
    assert REFERENCE.match(booking["reference"])
    assert booking["channel"] == "mini_program" and booking["status"] == "confirmed"
    assert re.match(r"^138\*{4}\d{4}$", booking["contact_phone"])
    assert booking["visit_status"] == "requested"
    assert [e["action"] for e in booking["timeline"]] == ["booked"]
    mine = client.get("/api/v1/bookings", headers=make.auth(world.citizen)).json
    assert [b["id"] for b in mine] == [booking["id"]]


def test_a_retry_with_the_same_key_returns_the_same_booking(app, make, world, booker, windows):
    first = booker.as_citizen(key="retry-1", contact_phone="13800001111")
    again = booker.as_citizen(key="retry-1", contact_phone="13800001111")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["id"] == first.json["id"]
    assert _booked(app, windows.area, windows.days[0], windows.morning) == 1
    other = booker.as_citizen(key="retry-1", contact_phone="13800002222")
    assert other.status_code == 422 and other.json["type"].endswith("/idempotency-key-reused")


def test_the_key_is_required(client, make, world, windows):
    """A missing header is a malformed request (400), not an invalid field of the body (422)."""
    from tests.fixtures.appointments import booking_body

    resp = client.post(
        "/api/v1/bookings", json=booking_body(windows.area, windows.days[0]), headers=make.auth(world.citizen)
    )
    assert resp.status_code == 400 and "Idempotency-Key" in resp.json["errors"]
    assert resp.mimetype == "application/problem+json"


def test_a_window_start_with_an_offset_is_refused_naming_the_field(booker, windows):
    """Windows are local wall-clock times; "09:00Z" names another moment and used to be a 500."""
    resp = booker.as_staff(start="09:00Z")
    assert resp.status_code == 422 and "window_start" in resp.json["errors"]


def test_one_open_booking_per_purpose(booker, windows):
    assert booker.as_citizen().status_code == 201
    second = booker.as_citizen(start=windows.afternoon)
    assert second.status_code == 409 and second.json["type"].endswith("/active-booking-exists")
    assert booker.as_citizen(start=windows.afternoon, purpose="other").status_code == 201


def test_a_reference_drawn_twice_is_drawn_again_with_one_seat_taken(app, booker, windows, monkeypatch):
    """The booking's INSERT skips a row whose unique key is taken (no savepoint to roll back):
    a reference already in use is drawn again, and the seat stays taken once."""
    from appointments.booking import services

    first = booker.as_staff()
    assert first.status_code == 201
    draws = iter([first.json["reference"], first.json["reference"], "ZZZZ2222"])
    monkeypatch.setattr(services, "new_reference", lambda: next(draws))
    second = booker.as_staff()
    assert second.status_code == 201, second.json
    assert second.json["reference"] == "ZZZZ2222"
    assert _booked(app, windows.area, windows.days[0], windows.morning) == 2


def test_a_full_window_answers_slot_full(app, booker, windows):
    for _ in range(3):
        assert booker.as_staff().status_code == 201
    resp = booker.as_staff()
    assert resp.status_code == 409 and resp.json["type"].endswith("/slot-full")
    assert _booked(app, windows.area, windows.days[0], windows.morning) == 3


def test_phone_bookings_record_the_caller(client, make, world, booker):
    resp = booker.as_staff(caller_name="王先生", caller_phone="13912345678")
    assert resp.status_code == 201
    assert resp.json["channel"] == "phone" and resp.json["caller_phone"] == "139****5678"
    missing = booker.as_staff(caller_name=None)
    assert missing.status_code == 422 and "caller_name" in missing.json["errors"]
    citizen = booker.as_citizen(caller_name="x", caller_phone=mobile())
    assert citizen.status_code == 422 and "caller_name" in citizen.json["errors"]


def test_staff_book_only_in_their_station(booker, world):
    resp = booker.as_staff(staff=world.staff[1])
    assert resp.status_code == 422 and "area_id" in resp.json["errors"]


def test_bad_windows_and_numbers_are_named(booker, windows):
    resp = booker.as_citizen(start=windows.morning.replace(hour=10))
    assert resp.status_code == 422 and "window_start" in resp.json["errors"]
    resp = booker.as_citizen(contact_phone="12345")
    assert resp.status_code == 422 and "contact_phone" in resp.json["errors"]
    resp = booker.as_citizen(purpose="party")
    assert resp.status_code == 422 and "purpose" in resp.json["errors"]


def test_cancel_releases_the_seat(app, client, make, world, booker, windows):
    booking = booker.as_citizen().json
    resp = client.post(f"/api/v1/bookings/{booking['id']}/cancel", json={}, headers=make.auth(world.citizen))
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "cancelled" and resp.json["visit_status"] == "cancelled"
    assert _booked(app, windows.area, windows.days[0], windows.morning) == 0
    again = client.post(f"/api/v1/bookings/{booking['id']}/cancel", json={}, headers=make.auth(world.citizen))
    assert again.status_code == 409
    # the purpose is free again
    assert booker.as_citizen().status_code == 201


def test_staff_give_a_reason(client, make, world, booker):
    booking = booker.as_citizen().json
    url = f"/api/v1/bookings/{booking['id']}/cancel"
    resp = client.post(url, json={}, headers=make.auth(world.staff[0]))
    assert resp.status_code == 422 and "reason" in resp.json["errors"]
    resp = client.post(url, json={"reason": "居民来电取消"}, headers=make.auth(world.staff[0]))
    assert resp.status_code == 200
    assert resp.json["timeline"][-1]["detail"]["reason"] == "居民来电取消"


def test_citizens_cannot_change_inside_the_cutoff(app, client, make, world, booker):
    booking = booker.as_citizen().json
    app.config["BOOKING_CUTOFF_HOURS"] = 24 * 60
    try:
        resp = client.post(f"/api/v1/bookings/{booking['id']}/cancel", json={}, headers=make.auth(world.citizen))
        assert resp.status_code == 403 and resp.json["type"].endswith("/past-cutoff")
        staff = client.post(
            f"/api/v1/bookings/{booking['id']}/cancel", json={"reason": "来电"}, headers=make.auth(world.staff[0])
        )
        assert staff.status_code == 200
    finally:
        app.config["BOOKING_CUTOFF_HOURS"] = 2


def test_reschedule_moves_the_seat_or_leaves_everything_as_it_was(app, client, make, world, booker, windows):
    booking = booker.as_citizen().json
    d0, d1 = windows.days[0], windows.days[1]
    url = f"/api/v1/bookings/{booking['id']}/reschedule"
    resp = client.post(url, json={"day": d1.isoformat(), "window_start": "14:00"}, headers=make.auth(world.citizen))
    assert resp.status_code == 200, resp.json
    assert (resp.json["day"], resp.json["window_start"]) == (d1.isoformat(), "14:00")
    assert resp.json["visit_status"] == "rescheduled"
    assert _booked(app, windows.area, d0, windows.morning) == 0
    assert _booked(app, windows.area, d1, windows.afternoon) == 1
    # fill d0 morning, then try to move there: refused, and nothing moves
    for _ in range(3):
        booker.as_staff(day=d0)
    full = client.post(url, json={"day": d0.isoformat(), "window_start": "09:00"}, headers=make.auth(world.citizen))
    assert full.status_code == 409 and full.json["type"].endswith("/slot-full")
    assert _booked(app, windows.area, d1, windows.afternoon) == 1
    got = client.get(f"/api/v1/bookings/{booking['id']}", headers=make.auth(world.citizen)).json
    assert got["day"] == d1.isoformat()
    assert [e["action"] for e in got["timeline"]] == ["booked", "visit_rescheduled"]


def test_staff_find_a_booking_by_reference_and_others_see_nothing(client, make, world, booker):
    booking = booker.as_citizen().json
    found = client.get(
        "/api/v1/bookings", query_string={"reference": booking["reference"].lower()}, headers=make.auth(world.staff[0])
    ).json
    assert [b["id"] for b in found] == [booking["id"]]
    assert (
        client.get(
            "/api/v1/bookings", query_string={"reference": booking["reference"]}, headers=make.auth(world.staff[1])
        ).json
        == []
    )
    stranger = make.user("citizen", phone=mobile())
    assert client.get(f"/api/v1/bookings/{booking['id']}", headers=make.auth(stranger)).status_code == 404


def test_confirmation_goes_to_the_outbox_without_plaintext_numbers(app, booker):
    booking = booker.as_citizen(contact_phone="13711112222").json
    with app.app_context():
        row = db.session.execute(
            sa.select(Notification).where(Notification.dedupe_key == f"booking-confirmed:{booking['id']}")
        ).scalar_one()
        assert row.status == "pending" and row.template == "booking_confirmed"
        assert row.params["reference"].replace("-", "") == booking["reference_code"]
        assert "13711112222" not in str(row.params) and "13711112222" not in row.recipient_phone_enc
        from app.notify.templates import render

        text = render(row.template, row.locale, row.params)
        assert row.params["reference"] in text and len(text) <= 140


def test_a_renamed_station_signs_the_next_confirmation(app, client, make, world, booker):
    """The station's name comes from the process's reference cache; a rename replaces its version."""

    def signed(booking):
        with app.app_context():
            return db.session.execute(
                sa.select(Notification.params).where(Notification.dedupe_key == f"booking-confirmed:{booking['id']}")
            ).scalar_one()["station"]

    url = f"/api/v1/stations/{world.stations[0].id}"
    headers = if_match(client, url, make.auth(world.admin))
    assert signed(booker.as_citizen().json) == client.get(url, headers=headers).json["name"]
    assert client.patch(url, json={"name": "西湖派出所（新址）"}, headers=headers).status_code == 200
    assert signed(booker.as_staff().json) == "西湖派出所（新址）"


def test_unmasked_contact_is_audited(client, make, world, booker):
    booking = booker.as_citizen(contact_phone="13711113333").json
    resp = client.get(f"/api/v1/bookings/{booking['id']}/pii", headers=make.auth(world.staff[0]))
    assert resp.status_code == 200 and resp.json["contact_phone"] == "13711113333"
    events = client.get(
        "/api/v1/audit-events",
        query_string={"action": "pii.read", "entity": "booking"},
        headers=make.auth(world.staff[0]),
    ).json
    assert events[0]["entity_id"] == booking["id"] and events[0]["actor_id"] == str(world.staff[0].id)
    assert client.get(f"/api/v1/bookings/{booking['id']}/pii", headers=make.auth(world.citizen)).status_code == 403


def test_a_window_start_with_an_offset_is_a_422_naming_it(booker):
    resp = booker.as_citizen(window_start="09:00:00+08:00")
    assert resp.status_code == 422 and "window_start" in resp.json["errors"]
    assert resp.mimetype == "application/problem+json"


def test_a_citizen_cannot_loop_booking_and_cancelling(app, client, make, world, booker):
    """Each booking sends an SMS: a day's bookings per citizen account are capped, cancelled ones included."""
    saved = app.config["BOOKING_DAILY_MAX"]
    app.config["BOOKING_DAILY_MAX"] = 2
    try:
        for _ in range(2):
            booking = booker.as_citizen()
            assert booking.status_code == 201, booking.json
            assert (
                client.post(
                    f"/api/v1/bookings/{booking.json['id']}/cancel", json={}, headers=make.auth(world.citizen)
                ).status_code
                == 200
            )
        third = booker.as_citizen()
        assert third.status_code == 409 and third.json["type"].endswith("/quota-exceeded")
        assert "purpose" in third.json["errors"]
        assert booker.as_staff().status_code == 201  # phone bookings by staff are not this account's
    finally:
        app.config["BOOKING_DAILY_MAX"] = saved


def test_a_phone_booking_appears_in_the_callers_own_list(client, make, world, booker):
    """A caller with a citizen account finds the booking staff took for them among their own, and
    the one-open-booking-per-purpose rule holds across both channels."""
    phone = mobile()
    caller = make.user("citizen", phone=phone)
    resp = booker.as_staff(caller_name="王先生", caller_phone=phone)
    assert resp.status_code == 201, resp.json
    mine = client.get("/api/v1/bookings", headers=make.auth(caller)).json
    assert [b["id"] for b in mine] == [resp.json["id"]]
    again = booker.as_staff(caller_name="王先生", caller_phone=phone)
    assert again.status_code == 409 and again.json["type"].endswith("/active-booking-exists")
    stranger = booker.as_staff(caller_name="李女士", caller_phone=mobile())
    assert stranger.status_code == 201
    assert [b["id"] for b in client.get("/api/v1/bookings", headers=make.auth(caller)).json] == [resp.json["id"]]
