"""The staff outbox: masked, scoped to the station, retry of what died; and SMS opt-outs."""

from __future__ import annotations

import sqlalchemy as sa

from app import pii
from app.audit.models import AuditEvent
from app.extensions import db
from app.notify.dispatcher import dispatch_due
from app.notify.models import SmsOptOut
from tests.factories import mobile
from tests.fixtures.outbox import NOON, local, row, set_status

PHONE = "13912345678"


def test_the_list_masks_the_recipient_and_the_personal_values(app, client, make, world, queue):
    row_id = queue(
        PHONE,
        kind="visit_assigned",
        station_id=world.stations[0].id,
        params={
            "station": "北山街派出所",
            "day": "2026-10-08",
            "start": "09:00",
            "end": "12:00",
            "officer": "王建国",
            "reference": "ABCD2345",
        },
    )
    resp = client.get("/api/v1/outbox", headers=make.auth(world.staff[0]))
    assert resp.status_code == 200
    (item,) = resp.json
    assert item["id"] == str(row_id) and item["status"] == "pending" and item["kind"] == "visit_assigned"
    assert item["recipient"] == "139****5678"
    assert item["text"] == "【北山街派出所】您2026-10-08 09:00-12:00的上门服务由王*国负责，预约编号A******5。"
    body = resp.get_data(as_text=True)
    for secret in (PHONE, "ABCD2345", "王建国", "recipient_phone_enc", "params"):
        assert secret not in body
    assert resp.headers["X-Pagination"]


def test_one_time_codes_are_listed_without_their_code(app, client, make, world):
    assert client.post("/api/v1/auth/otp", json={"phone": PHONE}).status_code == 202
    resp = client.get("/api/v1/outbox?kind=otp", headers=make.auth(world.admin))
    (item,) = resp.json
    assert item["text"] == "【Doorstep】您的验证码是******，5分钟内有效，请勿告诉他人。"
    assert item["recipient"] == "139****5678"
    assert client.get("/api/v1/outbox", headers=make.auth(world.staff[0])).json == []  # no station


def test_staff_see_only_their_station_and_admins_see_all(app, client, make, world, queue):
    mine = queue(mobile(), station_id=world.stations[0].id)
    theirs = queue(mobile(), station_id=world.stations[1].id)
    for staff, expected in ((world.staff[0], mine), (world.staff[1], theirs)):
        listed = client.get("/api/v1/outbox", headers=make.auth(staff)).json
        assert [i["id"] for i in listed] == [str(expected)]
    admin = client.get("/api/v1/outbox", headers=make.auth(world.admin)).json
    assert {i["id"] for i in admin} == {str(mine), str(theirs)}
    other = make.auth(world.staff[1])
    set_status(app, mine, "dead")
    assert client.post(f"/api/v1/outbox/{mine}/retry", headers=other).status_code == 404
    stats = client.get("/api/v1/outbox/stats", headers=other).json
    assert stats["total"] == 1 and stats["by_status"]["dead"] == 0


def test_filters_and_stats(app, client, make, world, queue):
    station = world.stations[0].id
    a, b = (
        queue(mobile(), station_id=station),
        queue(
            mobile(),
            station_id=station,
            kind="visit_moved",
            params={"station": "s", "reference": "R", "day": "d", "start": "s", "end": "e"},
        ),
    )
    queue(mobile(), station_id=station)
    set_status(app, a, "dead")
    set_status(app, b, "sent")
    staff = make.auth(world.staff[0])
    assert [i["id"] for i in client.get("/api/v1/outbox?status=dead", headers=staff).json] == [str(a)]
    assert [i["id"] for i in client.get("/api/v1/outbox?kind=visit_moved", headers=staff).json] == [str(b)]
    assert client.get("/api/v1/outbox?status=lost", headers=staff).status_code == 422
    assert client.get("/api/v1/outbox?colour=red", headers=staff).status_code == 422
    stats = client.get("/api/v1/outbox/stats", headers=staff).json
    assert stats["total"] == 3
    assert stats["by_status"] == {
        "pending": 1,
        "sending": 0,
        "sent": 1,
        "failed": 0,
        "dead": 1,
        "unknown": 0,
        "skipped": 0,
    }
    assert stats["by_kind"] == {"visit_cancelled": {"dead": 1, "pending": 1}, "visit_moved": {"sent": 1}}


def test_retry_of_a_dead_message_sends_it_again_and_is_audited(app, client, make, world, queue, sms, time_machine):
    time_machine.move_to(NOON)  # the retry is due at once; in quiet hours it would wait (next test)
    row_id = queue(mobile(), station_id=world.stations[0].id)
    set_status(app, row_id, "dead", attempts=6, last_error="gateway busy")
    staff = make.auth(world.staff[0])
    resp = client.post(f"/api/v1/outbox/{row_id}/retry", headers=staff)
    assert resp.status_code == 200
    assert (resp.json["status"], resp.json["attempts"]) == ("pending", 0)
    with app.app_context():
        event = db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "outbox.retry")).scalar_one()
        assert event.entity_id == str(row_id) and event.actor_id == world.staff[0].id
        assert event.before["status"] == "dead" and event.after == {"status": "pending", "attempts": 0}
    assert row(app, row_id).next_attempt_at >= NOON
    with app.app_context():
        assert dispatch_due()["sent"] == 1
    assert row(app, row_id).status == "sent"
    again = client.post(f"/api/v1/outbox/{row_id}/retry", headers=staff)
    assert again.status_code == 409 and again.json["type"].endswith("/message-not-retryable")


def test_a_message_retried_in_the_quiet_hours_goes_at_eight(app, client, make, world, queue, sms, time_machine):
    """Staff may press retry late in the evening; the citizen still gets no SMS at night."""
    time_machine.move_to(local(23, 30))
    row_id = queue(mobile(), station_id=world.stations[0].id)
    set_status(app, row_id, "dead", attempts=6, last_error="gateway busy")
    assert client.post(f"/api/v1/outbox/{row_id}/retry", headers=make.auth(world.staff[0])).status_code == 200
    with app.app_context():
        assert dispatch_due()["deferred_quiet"] == 1
    assert sms.calls == [] and row(app, row_id).next_attempt_at == local(8, day=24)
    time_machine.move_to(local(8, day=24))
    with app.app_context():
        assert dispatch_due()["sent"] == 1
    assert len(sms.calls) == 1


def test_unknown_can_be_retried_but_a_one_time_code_never(app, client, make, world, queue):
    unknown = queue(mobile(), station_id=world.stations[0].id)
    set_status(app, unknown, "unknown")
    assert client.post(f"/api/v1/outbox/{unknown}/retry", headers=make.auth(world.staff[0])).status_code == 200
    otp = queue(mobile(), kind="otp", params={"minutes": 5}, station_id=None)
    set_status(app, otp, "dead")
    resp = client.post(f"/api/v1/outbox/{otp}/retry", headers=make.auth(world.admin))
    assert resp.status_code == 409 and "one-time" in resp.json["detail"]


def test_staff_record_an_opt_out_and_no_notice_reaches_the_number(app, client, make, world, queue, sms):
    staff = make.auth(world.staff[0])
    first = client.post("/api/v1/sms-opt-outs", json={"phone": "139-1234-5678"}, headers=staff)
    assert first.status_code == 201
    assert first.json["phone"] == "139****5678" and first.json["source"] == "staff" and first.json["opted_out"]
    assert client.post("/api/v1/sms-opt-outs", json={"phone": PHONE}, headers=staff).status_code == 200
    assert client.post("/api/v1/sms-opt-outs", json={"phone": "12345"}, headers=staff).status_code == 422
    with app.app_context():
        events = (
            db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "sms_opt_out.create")).scalars().all()
        )
        assert len(events) == 1 and events[0].after == {"phone": "139****5678", "source": "staff"}
    row_id = queue(PHONE, station_id=world.stations[1].id)  # any station's notices
    with app.app_context():
        dispatch_due(now=NOON)
    assert sms.calls == [] and (row(app, row_id).status, row(app, row_id).skip_reason) == ("skipped", "opted-out")
    listed = client.get("/api/v1/outbox?status=skipped", headers=make.auth(world.staff[1])).json
    assert listed[0]["skip_reason"] == "opted-out"
    assert listed[0]["last_error"] == "the recipient opted out of SMS notices"


def test_a_citizen_opts_out_and_back_in(app, client, make, world, queue, sms):
    me = make.auth(world.citizen)
    assert client.get("/api/v1/me/sms-opt-out", headers=me).json["opted_out"] is False
    resp = client.post("/api/v1/me/sms-opt-out", headers=me)
    assert resp.status_code == 201 and resp.json["source"] == "citizen"
    assert resp.json["phone"] == pii.mask_phone(world.citizen.phone)
    assert client.post("/api/v1/me/sms-opt-out", headers=me).status_code == 200
    assert client.get("/api/v1/me/sms-opt-out", headers=me).json["opted_out"] is True
    skipped = queue(world.citizen.phone)
    with app.app_context():
        dispatch_due(now=NOON)
    assert row(app, skipped).status == "skipped"
    assert client.delete("/api/v1/me/sms-opt-out", headers=me).status_code == 204
    assert client.get("/api/v1/me/sms-opt-out", headers=me).json["opted_out"] is False
    sent = queue(world.citizen.phone)
    with app.app_context():
        dispatch_due(now=NOON)
        actions = (
            db.session.execute(
                sa.select(AuditEvent.action).where(AuditEvent.entity == "sms_opt_out").order_by(AuditEvent.id)
            )
            .scalars()
            .all()
        )
        assert db.session.execute(sa.select(sa.func.count()).select_from(SmsOptOut)).scalar() == 0
    assert row(app, sent).status == "sent"
    assert actions == ["sms_opt_out.create", "sms_opt_out.delete"]


def test_a_citizen_without_a_phone_cannot_opt_out(client, make):
    citizen = make.user("citizen")
    resp = client.post("/api/v1/me/sms-opt-out", headers=make.auth(citizen))
    assert resp.status_code == 422 and "phone" in resp.json["errors"]
