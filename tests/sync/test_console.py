"""The console's sync pages: conflicts side by side with a choice per field, resolved through the
API's service and audited as the API's; rejected mutations masked, with the reason in words, and
unmasked only by a POST with a reason, audited as the API's read. Another station sees nothing, a
form without its token changes nothing."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from app import pii
from app.audit.models import AuditEvent
from app.auth.models import Device
from app.extensions import db
from app.org.models import User
from field_api.residency.models import Resident
from sync.models import SyncConflict, SyncMutation
from tests.app.web.helpers import log_in, session_token
from tests.fixtures.field import months_ago, person
from tests.fixtures.tablets import field_conflict
from tests.snapshots import changed_tables, database_state

QUIET = frozenset({"throttle", "console_session"})


def _events(app, action: str, entity_id: str) -> list[dict]:
    with app.app_context():
        return list(
            db.session.execute(
                sa.select(AuditEvent.after).where(AuditEvent.action == action, AuditEvent.entity_id == entity_id)
            ).scalars()
        )


def _resident(app, resident_id: str) -> tuple[str, str, str]:
    with app.app_context():
        r = db.session.get(Resident, uuid.UUID(resident_id))
        return r.name, r.hukou_address, pii.decrypt(pii.PHONE, r.phone_enc)


# --- conflicts --------------------------------------------------------------------------------


def test_conflicts_side_by_side_for_the_station_only(client, make, world, tablet):
    made = field_conflict(tablet, client, make, world)
    conflict_id = made["conflict"]["id"]
    log_in(client, world.staff[0])
    listing = client.get("/console/sync/conflicts/").get_data(as_text=True)
    assert conflict_id in listing and "居民" in listing and "姓名" in listing
    page = client.get(f"/console/sync/conflicts/{conflict_id}").get_data(as_text=True)
    for side in ("server", "device"):
        assert made[side]["name"] in page and made[side]["hukou_address"] in page
        assert pii.mask_phone(made[side]["phone"]) in page and made[side]["phone"] not in page
    assert 'name="side-name" value="device"' in page and 'name="side-phone" value="server"' in page
    client.post("/console/logout", data={"csrf_token": session_token(client)})
    log_in(client, world.staff[1])
    assert conflict_id not in client.get("/console/sync/conflicts/").get_data(as_text=True)
    assert client.get(f"/console/sync/conflicts/{conflict_id}").status_code == 404
    resp = client.post(
        f"/console/sync/conflicts/{conflict_id}/resolve",
        data={
            "csrf_token": session_token(client),
            "side-name": "device",
            "side-hukou_address": "device",
            "side-phone": "device",
        },
    )
    assert resp.status_code == 404


def test_resolving_applies_the_chosen_fields_and_is_audited_as_the_api(app, client, make, world, tablet):
    made = field_conflict(tablet, client, make, world)
    conflict_id = made["conflict"]["id"]
    log_in(client, world.staff[0])
    token = session_token(client)
    choices = {"side-name": "device", "side-hukou_address": "server", "side-phone": "device"}
    before = database_state(app, exclude=QUIET)
    assert client.post(f"/console/sync/conflicts/{conflict_id}/resolve", data=choices).status_code == 400  # no token
    assert changed_tables(before, database_state(app, exclude=QUIET)) == []
    resp = client.post(
        f"/console/sync/conflicts/{conflict_id}/resolve", data={**choices, "csrf_token": token, "note": "电话核实"}
    )
    assert resp.status_code == 303
    assert _resident(app, made["resident_id"]) == (
        made["device"]["name"],
        made["server"]["hukou_address"],
        made["device"]["phone"],
    )
    [after] = _events(app, "sync.conflict_resolved", conflict_id)
    assert after["fields"] == {"name": "device", "hukou_address": "server", "phone": "device"}
    assert after["choice"] == "mixed" and after["note"] == "电话核实"
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "已处理" in page and 'type="radio"' not in page
    listing = client.get("/console/sync/conflicts/").get_data(as_text=True)
    assert "逐项选择" in listing  # settled, field by field


def test_a_field_without_a_choice_is_named_and_nothing_changes(app, client, make, world, tablet):
    made = field_conflict(tablet, client, make, world)
    log_in(client, world.staff[0])
    token = session_token(client)
    before = database_state(app, exclude=QUIET)
    resp = client.post(
        f"/console/sync/conflicts/{made['conflict']['id']}/resolve", data={"csrf_token": token, "side-name": "device"}
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert 'id="side-phone-error"' in html and 'id="side-hukou_address-error"' in html
    assert 'id="side-name-error"' not in html and 'value="device" required checked' in html
    assert changed_tables(before, database_state(app, exclude=QUIET)) == []


# --- rejected mutations -----------------------------------------------------------------------


def _rejected(tablet, world) -> tuple[dict, str]:
    """A registration in an area not the officer's, with its resident inline: refused and kept."""
    body = person()
    data = {
        "resident_id": None,
        "resident": body,
        "area_id": str(world.areas[1][0].id),
        "address": "北山街道1号",
        "start_date": months_ago(7).isoformat(),
        "reason": "work",
        "housing": "rented",
        "landlord_name": "李房东",
        "landlord_phone": "13912345678",
    }
    [result] = tablet.push(tablet.mutation("registration", "create", uuid.uuid4(), data))["results"]
    assert result["status"] == "rejected", result
    return body, result["mutation_id"]


def _names(app, tablet) -> tuple[str, str]:
    with app.app_context():
        return (
            db.session.get(Device, tablet.device.id).label,
            db.session.get(User, tablet.officer.id).display_name,
        )


def test_rejections_masked_with_the_reason_device_and_officer(app, client, world, tablet):
    body, mutation_id = _rejected(tablet, world)
    device, officer = _names(app, tablet)
    assert device and officer
    log_in(client, world.staff[0])
    for url in ("/console/sync/rejections/", f"/console/sync/rejections/{mutation_id}"):
        html = client.get(url).get_data(as_text=True)
        assert mutation_id in html
        assert device in html and officer in html
        assert "平板上传的部分内容未被采用" in html and "社区/警务室" in html  # the reason, in words
        assert "居住登记" in html  # the change, in words
        assert body["identity_number"] not in html and body["phone"] not in html and "13912345678" not in html
    detail = client.get(f"/console/sync/rejections/{mutation_id}").get_data(as_text=True)
    assert pii.mask_phone(body["phone"]) in detail and pii.mask_identity(body["identity_number"]) in detail
    assert "李房东" in detail and "租住" in detail and "测试社区" in detail  # in words
    started = months_ago(7)
    assert f"{started.year}年{started.month}月{started.day}日" in detail  # a day as the console writes days


def test_another_station_sees_no_rejection(client, world, tablet):
    _body, mutation_id = _rejected(tablet, world)
    log_in(client, world.staff[1])
    token = session_token(client)
    assert mutation_id not in client.get("/console/sync/rejections/").get_data(as_text=True)
    assert client.get(f"/console/sync/rejections/{mutation_id}").status_code == 404
    assert (
        client.post(
            f"/console/sync/rejections/{mutation_id}/unmask", data={"csrf_token": token, "reason": "核对"}
        ).status_code
        == 404
    )
    resp = client.post(
        f"/console/sync/rejections/{mutation_id}/resolve", data={"csrf_token": token, "resolution": "dismissed"}
    )
    assert resp.status_code == 404


def test_unmask_needs_a_reason_shows_once_and_is_audited(app, client, world, tablet):
    body, mutation_id = _rejected(tablet, world)
    log_in(client, world.staff[0])
    token = session_token(client)
    url = f"/console/sync/rejections/{mutation_id}/unmask"
    before = database_state(app, exclude=QUIET)
    assert client.post(url, data={"reason": "补录登记"}).status_code == 400  # no token
    resp = client.post(url, data={"csrf_token": token, "reason": ""})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and 'id="reason-error"' in html and body["identity_number"] not in html
    assert changed_tables(before, database_state(app, exclude=QUIET)) == []
    resp = client.post(url, data={"csrf_token": token, "reason": "补录登记"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    assert body["identity_number"] in html and body["phone"] in html and "13912345678" in html
    assert html.count('class="unmasked"') == 3  # what the unmask revealed is marked, nothing else
    assert _events(app, "pii.read", mutation_id) == [{"entity": "registration", "op": "create", "reason": "补录登记"}]
    assert body["identity_number"] not in client.get(f"/console/sync/rejections/{mutation_id}").get_data(as_text=True)


def test_closing_a_rejection_is_the_apis_and_audited(app, client, world, tablet):
    _body, mutation_id = _rejected(tablet, world)
    log_in(client, world.staff[0])
    token = session_token(client)
    url = f"/console/sync/rejections/{mutation_id}/resolve"
    resp = client.post(url, data={"csrf_token": token, "resolution": "applied-manually", "note": "已在系统补录"})
    assert resp.status_code == 303
    assert _events(app, "sync.rejection_resolved", mutation_id) == [
        {"resolution": "applied-manually", "note": "已在系统补录", "entity": "registration", "op": "create"}
    ]
    assert mutation_id not in client.get("/console/sync/rejections/").get_data(as_text=True)
    closed = client.get("/console/sync/rejections/?status=resolved").get_data(as_text=True)
    assert mutation_id in closed


def test_the_demo_leaves_a_conflict_and_a_rejected_change_to_settle(app, client):
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        statuses = db.session.execute(sa.select(SyncMutation.status).order_by(SyncMutation.seq)).scalars().all()
        [conflict] = db.session.execute(sa.select(SyncConflict)).scalars().all()
        rejected = db.session.execute(sa.select(SyncMutation).where(SyncMutation.status == "rejected")).scalar_one()
        assert statuses == ["conflict", "rejected"]
        assert set(conflict.fields) == {"name", "hukou_address", "phone"}
        assert "area_id" in rejected.result["errors"]


def test_a_late_fact_is_shown_and_acknowledged_as_the_api_does(app, client, make, world, tablet, new_tablet):
    from tests.factories import if_match, mobile
    from tests.fixtures.appointments import booking_body, set_template, upcoming_workdays

    with app.app_context():
        day = upcoming_workdays(1)[0]
    set_template(app, world.areas[0][0])
    staff = make.auth(world.staff[0])
    visit_id = client.post(
        "/api/v1/bookings",
        json=booking_body(world.areas[0][0], day, caller_name="来电", caller_phone=mobile()),
        headers={**staff, "Idempotency-Key": "late-fact"},
    ).json["visit_id"]
    url = f"/api/v1/visits/{visit_id}"
    client.post(f"{url}/assign", json={"officer_id": str(world.officer[0].id)}, headers=if_match(client, url, staff))
    tablet.pull_all()
    second = make.user("officer", world.stations[0], [world.areas[0][0]])
    client.post(f"{url}/assign", json={"officer_id": str(second.id)}, headers=if_match(client, url, staff))
    [result] = tablet.push(tablet.mutation("visit", "outcome", visit_id, {"outcome": "completed", "note": "已办"}))[
        "results"
    ]
    assert result["conflict"]["kind"] == "fact-after-change"
    [flagged] = client.get("/api/v1/sync/conflicts", headers=staff).json
    log_in(client, world.staff[0])
    page = client.get(f"/console/sync/conflicts/{flagged['id']}").get_data(as_text=True)
    assert "上门" in page and "已完成" in page and 'type="radio"' not in page
    resp = client.post(
        f"/console/sync/conflicts/{flagged['id']}/resolve", data={"csrf_token": session_token(client), "note": "已核对"}
    )
    assert resp.status_code == 303
    assert _events(app, "sync.conflict_resolved", flagged["id"]) == [
        {"choice": "acknowledge", "note": "已核对", "entity": "visit", "record_id": visit_id}
    ]
