"""The console's phone booking: the area's windows with seats left, a booking for the caller made
by the API's schema and service (the same SMS, the same audit event), booked once however often
the form is sent, and every refusal next to its field with nothing booked."""

from __future__ import annotations

import re

import sqlalchemy as sa

from app.audit.models import AuditEvent
from app.extensions import db
from app.notify.models import Notification
from appointments.booking import console, reference
from appointments.booking.models import Booking
from tests.app.web.helpers import log_in, session_token
from tests.factories import mobile
from tests.locks import held, transactions
from tests.snapshots import changed_tables, database_state

QUIET = frozenset({"throttle", "console_session"})
KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


def _form(client, windows) -> tuple[str, dict]:
    html = client.get("/console/booking/", query_string={"area_id": str(windows.area.id)}).get_data(as_text=True)
    slot = f"{windows.days[0].isoformat()}|09:00"
    data = {
        "csrf_token": session_token(client),
        "idempotency_key": KEY.search(html).group(1),
        "area_id": str(windows.area.id),
        "slot": slot,
        "caller_name": "王先生",
        "caller_phone": mobile(),
        "contact_name": "李娜",
        "contact_phone": "13912345678",
        "address": "北山街道12号3单元402",
        "purpose": "registration",
        "notes": "",
    }
    return html, data


def _bookings(app) -> list[Booking]:
    with app.app_context():
        return list(db.session.execute(sa.select(Booking)).scalars())


def test_the_form_shows_the_areas_windows_with_seats_left(client, world, windows):
    log_in(client, world.staff[0])
    html, data = _form(client, windows)
    assert f'value="{data["slot"]}"' in html and "剩余 3 个名额" in html


def test_a_phone_booking_is_the_apis_booking_and_is_made_once(app, client, world, windows):
    log_in(client, world.staff[0])
    _, data = _form(client, windows)
    resp = client.post("/console/booking/", data=data)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    (booking,) = _bookings(app)
    assert reference.display(booking.reference) in resp.get_data(as_text=True) and booking.channel == "phone"
    assert "139****5678" in resp.get_data(as_text=True) and "13912345678" not in resp.get_data(as_text=True)
    again = client.post("/console/booking/", data=data)  # a reload of the result page
    assert again.status_code == 201 and len(_bookings(app)) == 1
    with app.app_context():
        kinds = db.session.execute(sa.select(Notification.kind)).scalars().all()
        actions = db.session.execute(sa.select(AuditEvent.action)).scalars().all()
    assert kinds == ["booking_confirmed"]
    assert any(a.startswith("booking.") for a in actions)


def test_the_result_page_is_rendered_after_the_booking_commits(app, client, world, windows, monkeypatch):
    """No write lock while the page renders (issue 21's lock-scope rule): the view commits first."""
    log_in(client, world.staff[0])
    _, data = _form(client, windows)
    seen: list[dict[str, object]] = []
    page = console.render_template

    def spy(template, **context):
        seen.append(held())
        return page(template, **context)

    monkeypatch.setattr(console, "render_template", spy)
    assert client.post("/console/booking/", data=data).status_code == 201
    assert seen and not any(any(state.values()) for state in seen), seen
    assert len(_bookings(app)) == 1


def test_refusals_are_shown_next_to_their_fields_and_book_nothing(app, client, world, windows):
    log_in(client, world.staff[0])
    _, data = _form(client, windows)
    before = database_state(app, exclude=QUIET)
    bad_phone = client.post("/console/booking/", data={**data, "contact_phone": "12345"})
    assert bad_phone.status_code == 422 and 'id="contact_phone-error"' in bad_phone.get_data(as_text=True)
    no_slot = client.post("/console/booking/", data={**data, "slot": ""})
    assert no_slot.status_code == 422 and 'id="slot-error"' in no_slot.get_data(as_text=True)
    assert client.post("/console/booking/", data={**data, "csrf_token": ""}).status_code == 400
    assert changed_tables(before, database_state(app, exclude=QUIET)) == []


def test_another_stations_area_cannot_be_booked_from_this_desk(app, client, world, windows):
    log_in(client, world.staff[1])
    _, data = _form(client, windows)
    resp = client.post("/console/booking/", data=data)
    assert resp.status_code in (403, 404, 422) and _bookings(app) == []


def test_a_phone_booking_reads_before_it_takes_the_write_lock(app, client, world, windows):
    """The page's reads (session, CSRF, area, windows) take no write lock; the service's write
    section does (decision 92). On PostgreSQL the same work is one transaction."""
    log_in(client, world.staff[0])
    _, data = _form(client, windows)
    with transactions(app) as seen:
        assert client.post("/console/booking/", data=data).status_code == 201
    begins = [s for s in seen if s.startswith("BEGIN")]
    if begins:  # SQLite
        assert begins[:2] == ["BEGIN DEFERRED", "BEGIN IMMEDIATE"] and begins.count("BEGIN IMMEDIATE") == 1
        immediate = seen.index("BEGIN IMMEDIATE")
        committed = seen.index("commit", immediate)
        # the windows are read (or their versions, when the reference cache holds them: decisions
        # 93 and 98) before the lock, and not again under it
        windows_read = ("FROM window_template", "FROM window_exception", "FROM calendar_day")
        assert any(w in s for s in seen[:immediate] for w in (*windows_read, "FROM reference_version"))
        assert not any(w in s for s in seen[immediate:] for w in (*windows_read, "FROM reference_version"))
        assert all(
            not s.startswith(("INSERT", "UPDATE", "DELETE")) for s in seen[:immediate] if "console_session" not in s
        )
        # the page is rendered after the commit: what it still reads takes no write lock
        assert not any(s.startswith(("INSERT", "UPDATE", "DELETE")) for s in seen[committed:])
    assert seen[-1] == "commit"
