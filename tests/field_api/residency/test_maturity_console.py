"""The console's maturity page: the station's residents maturing soon, their reminders sent and
failed (masked), and a failed one resent through the outbox's retry, audited as the API's."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta

from app import clock, pii
from app.audit.models import AuditEvent
from app.extensions import db
from app.notify import outbox
from app.notify.models import Notification
from field_api.residency.maturity import maturity_key, prenotice_key
from tests.app.web.helpers import log_in, session_token
from tests.fixtures.field import person
from tests.snapshots import changed_tables, database_state

QUIET = frozenset({"throttle", "console_session"})


def _maturing(app, field, world, i: int, name: str, *, status: str) -> tuple[dict, str]:
    """A resident of station ``i`` maturing in five days, with a pre-notice in ``status``."""
    body = person(name=name)
    start = clock.today() + relativedelta(days=5) - relativedelta(months=6)
    resp = field.register(who=world.officer[i], area=world.areas[i][0], resident=body, start=start)
    assert resp.status_code == 201, resp.json
    with app.app_context():
        row = outbox.enqueue(
            "maturity_soon",
            "maturity_soon",
            {"station": "x", "day": resp.json["maturity_date"]},
            phone=body["phone"],
            station_id=world.stations[i].id,
            dedupe_key=prenotice_key(uuid.UUID(resp.json["id"])),
        )
        row.status = status
        notification_id = str(row.id)
        db.session.commit()
    return body, notification_id


def test_the_station_sees_its_residents_and_their_reminders_masked(app, client, field, world):
    mine, _ = _maturing(app, field, world, 0, "周建国", status="sent")
    _maturing(app, field, world, 1, "吴建华", status="dead")
    log_in(client, world.staff[0])
    html = client.get("/console/maturity/?days=7").get_data(as_text=True)
    assert "周建国" in html and "吴建华" not in html
    assert mine["phone"] not in html and pii.mask_phone(mine["phone"]) in html
    assert "已发送" in html and "重发" not in html  # a sent reminder is not resent


def test_a_failed_reminder_is_resent_audited_as_the_outbox_retry(app, client, field, world):
    _, notification_id = _maturing(app, field, world, 0, "郑丽娟", status="dead")
    log_in(client, world.staff[0])
    html = client.get("/console/maturity/").get_data(as_text=True)
    assert "失败" in html and f"/console/maturity/reminders/{notification_id}/resend" in html
    resp = client.post(
        f"/console/maturity/reminders/{notification_id}/resend", data={"csrf_token": session_token(client)}
    )
    assert resp.status_code == 303
    with app.app_context():
        row = db.session.get(Notification, uuid.UUID(notification_id))
        assert row.status == "pending" and row.attempts == 0
        actions = db.session.execute(
            sa.select(AuditEvent.action).where(AuditEvent.entity_id == notification_id)
        ).scalars()
        assert list(actions) == ["outbox.retry"]


def test_resend_is_refused_without_the_token_and_across_stations(app, client, field, world):
    _, notification_id = _maturing(app, field, world, 1, "冯志强", status="dead")
    log_in(client, world.staff[0])
    before = database_state(app, exclude=QUIET)
    url = f"/console/maturity/reminders/{notification_id}/resend"
    assert client.post(url).status_code == 400
    assert client.post(url, data={"csrf_token": "forged"}).status_code == 403
    assert client.post(url, data={"csrf_token": session_token(client)}).status_code == 404
    assert changed_tables(before, database_state(app, exclude=QUIET)) == []


def test_only_maturity_reminders_are_resent_here(app, client, world):
    with app.app_context():
        row = outbox.enqueue(
            "booking_confirmed", "booking_confirmed", {}, phone="13900001111", station_id=world.stations[0].id
        )
        row.status = "dead"
        notification_id = str(row.id)
        db.session.commit()
    log_in(client, world.staff[0])
    url = f"/console/maturity/reminders/{notification_id}/resend"
    assert client.post(url, data={"csrf_token": session_token(client)}).status_code == 404
    assert maturity_key  # both reminder kinds are the scheduler's keys
