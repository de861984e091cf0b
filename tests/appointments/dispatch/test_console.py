"""The console's dispatch board: the station's visits of a day with the officers who could take
each and why the others cannot (the assignment rule itself), assigning through the API's service
(audited, the citizen told), refusals and a missing CSRF token changing nothing, and the printable
route sheet of one officer."""

from __future__ import annotations

import sqlalchemy as sa

from app.audit.models import AuditEvent
from app.extensions import db
from app.notify.models import Notification
from tests.app.web.helpers import log_in, session_token
from tests.snapshots import changed_tables, database_state

QUIET = frozenset({"throttle", "console_session"})


def _board(client, day) -> str:
    return client.get("/console/dispatch/", query_string={"day": day.isoformat()}).get_data(as_text=True)


def test_the_board_shows_the_days_visits_and_why_an_officer_cannot_take_one(app, client, world, booker, windows):
    visit_id = booker.as_staff(address="北山街道8号2单元301").json["visit_id"]
    log_in(client, world.staff[0])
    html = _board(client, windows.days[0])
    assert "北山街道8号2单元301" in html and f"/console/dispatch/{visit_id}/assign" in html
    # the officer of the area may take it; the auxiliary officer works another area: shown, disabled
    officer, auxiliary = world.officer[0], world.auxiliary[0]
    assert f'<option value="{officer.id}">' in html
    assert f'<option value="{auxiliary.id}" disabled>' in html and "不负责该片区" in html
    other = app.test_client()
    log_in(other, world.staff[1])
    assert "北山街道8号2单元301" not in _board(other, windows.days[0])


def test_assigning_is_the_apis_assignment(app, client, world, booker, windows):
    visit_id = booker.as_staff().json["visit_id"]
    log_in(client, world.staff[0])
    day = windows.days[0].isoformat()
    data = {"csrf_token": session_token(client), "officer_id": str(world.officer[0].id), "day": day}
    resp = client.post(f"/console/dispatch/{visit_id}/assign", data=data)
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/console/dispatch/?day={day}")
    with app.app_context():
        event = db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "visit.assigned")).scalar_one()
        assert event.entity_id == visit_id and event.actor_id == world.staff[0].id
        kinds = db.session.execute(sa.select(Notification.kind)).scalars().all()
        assert "visit_assigned" in kinds
    sheet = client.get("/console/dispatch/route", query_string={"officer_id": str(world.officer[0].id), "day": day})
    assert sheet.status_code == 200 and "北山街道" in sheet.get_data(as_text=True)


def test_a_refused_assignment_says_why_and_changes_nothing(app, client, world, booker, windows):
    visit_id = booker.as_staff().json["visit_id"]
    log_in(client, world.staff[0])
    day = windows.days[0].isoformat()
    before = database_state(app, exclude=QUIET)
    data = {"csrf_token": session_token(client), "officer_id": str(world.auxiliary[0].id), "day": day}
    refused = client.post(f"/console/dispatch/{visit_id}/assign", data=data)
    assert refused.status_code == 422 and "不负责该片区" in refused.get_data(as_text=True)
    assert client.post(f"/console/dispatch/{visit_id}/assign", data={**data, "csrf_token": ""}).status_code == 400
    assert changed_tables(before, database_state(app, exclude=QUIET)) == []


def test_another_stations_officer_has_no_route_sheet(client, world, windows):
    log_in(client, world.staff[0])
    resp = client.get("/console/dispatch/route", query_string={"officer_id": str(world.officer[1].id)})
    assert resp.status_code == 404
