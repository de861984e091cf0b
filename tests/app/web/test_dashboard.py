"""The "today" dashboard: the features' panels, each scoped as the API scopes it (a station's staff
see nothing of another station), with personal numbers masked."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from app import clock, pii
from app.extensions import db
from tests.app.web.helpers import log_in
from tests.factories import mobile, valid_identity


def _station_day(app, world, i: int, *, address: str, resident: str, phone: str):
    """Station ``i``'s day: an unassigned visit today, an assigned one, a review three days late,
    a residence maturing in two days, and an SMS the provider refused for good."""
    from app.notify.models import Notification
    from appointments.dispatch.models import Visit
    from field_api.permits.models import PermitApplication
    from field_api.residency.models import Registration, Resident

    today = clock.today()
    station, area = world.stations[i], world.areas[i][0]
    with app.app_context():
        db.session.add_all(
            [
                Visit(
                    kind="follow_up",
                    station_id=station.id,
                    area_id=area.id,
                    day=today,
                    window_start=time(9),
                    window_end=time(12),
                    address=address,
                    status="requested",
                ),
                Visit(
                    kind="follow_up",
                    station_id=station.id,
                    area_id=area.id,
                    day=today,
                    window_start=time(14),
                    window_end=time(17),
                    address=address + "B",
                    status="assigned",
                    officer_id=world.officer[i].id,
                ),
            ]
        )
        identity = valid_identity(serial=100 + i)
        person = Resident(
            name=resident,
            sex="male",
            identity_enc=pii.encrypt(pii.IDENTITY, identity),
            identity_bidx=pii.blind_index(pii.IDENTITY, identity),
        )
        db.session.add(person)
        db.session.flush()
        start = today - timedelta(days=200)  # the maturity date below is what the panel reads
        registration = Registration(
            resident_id=person.id,
            station_id=station.id,
            area_id=area.id,
            address=address,
            start_date=start,
            maturity_date=today + timedelta(days=2),
            reason="work",
            housing="owned",
            status="active",
            active_key=f"{person.id}:{station.id}",
        )
        db.session.add(registration)
        db.session.flush()
        db.session.add(
            PermitApplication(
                reference=f"LATE000{i}",
                resident_id=person.id,
                registration_id=registration.id,
                channel="window",
                accepting_station_id=station.id,
                station_id=station.id,
                status="under_review",
                open_key=str(person.id),
                review_deadline=today - timedelta(days=3),
                created_by_id=world.staff[i].id,
            )
        )
        db.session.add(
            Notification(
                kind="notice",
                station_id=station.id,
                template="booking_confirmed",
                recipient_phone_enc=pii.encrypt(pii.PHONE, phone),
                params={},
                status="dead",
                attempts=6,
                last_error=f"refused {address}",
            )
        )
        db.session.commit()


@pytest.fixture
def two_days(app, world):
    a = {"address": "甲站路1号", "resident": "甲居民", "phone": mobile()}
    b = {"address": "乙站路2号", "resident": "乙居民", "phone": mobile()}
    _station_day(app, world, 0, **a)
    _station_day(app, world, 1, **b)
    return a, b


def _panel(html: str, name: str) -> str:
    start = html.index(f'id="panel-{name}"')
    return html[start : html.index("</article>", start)]


def test_staff_see_their_station_and_nothing_of_another(client, world, two_days):
    mine, theirs = two_days
    log_in(client, world.staff[0])
    html = client.get("/console/").get_data(as_text=True)
    for value in mine.values():
        assert (pii.mask_phone(value) if value.isdigit() else value) in html
    for value in theirs.values():
        assert value not in html and pii.mask_phone(value) not in html
    assert "LATE0000" in html and "LATE0001" not in html
    counts = _panel(html, "visits_today")
    assert '<span class="n">1</span><span class="label">待派单</span>' in counts
    assert '<span class="n">1</span><span class="label">已派单</span>' in counts
    assert "今日共 2 次上门" in counts
    load = _panel(html, "officer_load")
    assert "officer" in load and load.count("<tr>") == 3  # the header, station 0's officer and auxiliary


def test_an_administrator_sees_every_station(client, world, two_days):
    log_in(client, world.admin)
    html = client.get("/console/").get_data(as_text=True)
    assert "LATE0000" in html and "LATE0001" in html
    assert "今日共 4 次上门" in html
    assert "分局（全部派出所）" in html


def test_phone_numbers_are_masked_as_the_api_masks_them(client, world, two_days):
    mine, _theirs = two_days
    log_in(client, world.staff[0])
    html = client.get("/console/").get_data(as_text=True)
    assert mine["phone"] not in html
    assert pii.mask_phone(mine["phone"]) in _panel(html, "sms_failures")


def test_every_registered_panel_is_drawn_in_order(client, world):
    from app.web.panels import registered

    log_in(client, world.staff[0])
    html = client.get("/console/").get_data(as_text=True)
    assert registered() == sorted(
        [
            "visits_today",
            "unassigned",
            "officer_load",
            "overdue_reviews",
            "maturity_due",
            "sms_failures",
            "ratings",
            "bookings_chart",
            "on_time_chart",
        ]
    )
    positions = [
        html.index(f'id="panel-{n}"')
        for n in (
            "visits_today",
            "unassigned",
            "officer_load",
            "overdue_reviews",
            "maturity_due",
            "sms_failures",
            "ratings",
            "bookings_chart",
            "on_time_chart",
        )
    ]
    assert positions == sorted(positions)
    assert html.count('<svg class="chart"') == 2
    assert "每日预约" in html and "按时完成率" in html


def test_a_panel_name_cannot_be_taken_twice():
    from app.web.panels import register_panel

    with pytest.raises(ValueError, match="already registered"):
        register_panel("visits_today", 1, lambda actor: "", title="x")


def test_the_page_loads_nothing_from_another_host(client, world):
    log_in(client, world.staff[0])
    resp = client.get("/console/")
    html = resp.get_data(as_text=True)
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Frame-Options"] == "DENY" and resp.headers["Cache-Control"] == "no-store"
    for asset in (
        "/static/vendor/pico-2.1.1/pico.classless.min.css",
        "/static/vendor/htmx-2.0.11/htmx.min.js",
        "/static/console/console.css",
    ):
        assert asset in html and client.get(asset).status_code == 200
