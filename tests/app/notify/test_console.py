"""The console's messages page: the station's outbox masked as the API masks it, the dead letters
by filter, and a retry that is the API's own (same service, same audit event), refused without the
CSRF token and for a message that may not be sent again."""

from __future__ import annotations

import sqlalchemy as sa

from app.audit.models import AuditEvent
from app.extensions import db
from tests.app.web.helpers import log_in, session_token
from tests.factories import mobile
from tests.fixtures.outbox import NOON, row, set_status
from tests.snapshots import changed_tables, database_state

QUIET = frozenset({"throttle", "console_session"})
PARAMS = {"station": "北山街派出所", "reference": "ABCD2345"}


def _retries(app) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "outbox.retry")).scalars())


def test_the_outbox_is_masked_and_scoped_to_the_station(app, client, world, queue):
    mine = queue("13912345678", station_id=world.stations[0].id, params=PARAMS)
    theirs = queue("13787654321", station_id=world.stations[1].id, params=PARAMS)
    log_in(client, world.staff[0])
    html = client.get("/console/messages/").get_data(as_text=True)
    assert "139****5678" in html and "13912345678" not in html
    assert "ABCD2345" not in html and "A******5" in html  # the reference masked as in the API
    assert "137****4321" not in html
    assert (
        client.post(f"/console/messages/{theirs}/retry", data={"csrf_token": session_token(client)}).status_code == 404
    )
    assert row(app, mine).status == "pending"


def test_the_dead_letters_filter_and_a_retry_is_audited_like_the_api(app, client, world, queue, time_machine):
    time_machine.move_to(NOON)
    dead = queue(mobile(), station_id=world.stations[0].id, params=PARAMS)
    sent = queue(mobile(), station_id=world.stations[0].id, params=PARAMS)
    set_status(app, dead, "dead", attempts=6, last_error="gateway busy")
    set_status(app, sent, "sent")
    log_in(client, world.staff[0])
    html = client.get("/console/messages/?status=dead").get_data(as_text=True)
    assert "gateway busy" in html and html.count('action="/console/messages/') == 1

    resp = client.post(f"/console/messages/{dead}/retry", data={"csrf_token": session_token(client), "status": "dead"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/console/messages/?status=dead")
    assert (row(app, dead).status, row(app, dead).attempts) == ("pending", 0)
    (event,) = _retries(app)
    assert event.entity_id == str(dead) and event.actor_id == world.staff[0].id
    assert event.before["status"] == "dead" and event.after == {"status": "pending", "attempts": 0}

    refused = client.post(f"/console/messages/{sent}/retry", data={"csrf_token": session_token(client)})
    assert refused.status_code == 409 and "只有发送失败或送达情况不明的短信可以重发" in refused.get_data(as_text=True)
    assert row(app, sent).status == "sent" and len(_retries(app)) == 1


def test_a_retry_without_the_token_changes_nothing(app, client, world, queue):
    dead = queue(mobile(), station_id=world.stations[0].id, params=PARAMS)
    set_status(app, dead, "dead", attempts=6)
    log_in(client, world.staff[0], **{"Accept-Language": "en"})
    before = database_state(app, exclude=QUIET)
    assert client.post(f"/console/messages/{dead}/retry").status_code == 400
    assert client.post(f"/console/messages/{dead}/retry", data={"csrf_token": "forged"}).status_code == 403
    assert changed_tables(before, database_state(app, exclude=QUIET)) == []


def test_officers_have_no_messages_page(client, world):
    log_in(client, world.officer[0])
    assert client.get("/console/messages/").status_code in (302, 303)
