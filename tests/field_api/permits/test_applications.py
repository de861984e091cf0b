"""Permit applications: eligibility, 容缺, routing between stations, the working-day deadline,
review and the permit."""

from __future__ import annotations

import re

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta

from app.extensions import db
from app.notify.models import Notification
from app.workdays import add_working_days, local_now
from tests.factories import if_match, mobile
from tests.fixtures.field import SHA, materials, person

ALL = materials("identity_card", "rental_contract", "photo")


def test_not_matured_is_refused_with_the_date(field, world):
    body = person()
    start = local_now().date() - relativedelta(months=2)
    reg = field.register(resident=body, start=start).json
    resp = field.apply(world.staff[0], resident_id=reg["resident_id"], materials=ALL)
    assert resp.status_code == 422 and resp.json["type"].endswith("/not-eligible")
    assert resp.json["matures_on"] == reg["maturity_date"]


def test_an_ended_registration_gives_no_right(field, client, make, world):
    _body, reg = field.matured_resident()
    client.post(
        f"/api/v1/registrations/{reg['id']}/end",
        json={"end_date": local_now().date().isoformat(), "reason": "moved_away"},
        headers=make.auth(world.staff[0]),
    )
    resp = field.apply(world.staff[0], resident_id=reg["resident_id"], materials=ALL)
    assert resp.status_code == 422 and "registration" in resp.json["errors"]


def test_window_acceptance_routes_to_the_competent_station_and_starts_the_deadline(app, field, client, make, world):
    body, _reg = field.matured_resident()
    resp = field.apply(
        world.staff[1], identity_number=body["identity_number"], materials=materials("identity_card", "rental_contract")
    )
    assert resp.status_code == 201, resp.json
    application = resp.json
    assert application["channel"] == "window" and application["status"] == "accepted"
    assert application["station_id"] == str(world.stations[0].id)
    assert application["accepting_station_id"] == str(world.stations[1].id)
    assert [e["action"] for e in application["timeline"]] == ["submitted", "routed", "accepted"]
    with app.app_context():
        assert application["review_deadline"] == add_working_days(local_now().date(), 15).isoformat()
    photo = next(m for m in application["materials"] if m["kind"] == "photo")
    assert photo["status"] == "owed" and photo["due_date"]
    # the accepting station still sees it; only the competent one may decide
    mine = client.get(f"/api/v1/applications/{application['id']}", headers=make.auth(world.staff[1]))
    assert mine.status_code == 200
    resp = field.act(world.staff[1], application["id"], "review")
    assert resp.status_code == 403 and resp.json["type"].endswith("/routed-elsewhere")
    owed = client.get(
        "/api/v1/applications", query_string={"owes_materials": "true"}, headers=make.auth(world.staff[0])
    ).json
    assert [a["id"] for a in owed] == [application["id"]]


def test_core_materials_cannot_be_owed(field, world):
    body, _ = field.matured_resident()
    resp = field.apply(world.staff[0], identity_number=body["identity_number"], materials=materials("photo"))
    assert resp.status_code == 422 and "identity_card" in resp.json["errors"]["materials"][0]
    resp = field.apply(
        world.staff[0],
        identity_number=body["identity_number"],
        materials=materials("identity_card", "property_certificate"),
    )
    assert resp.status_code == 422 and "property_certificate" in resp.json["errors"]["materials"][0]


def test_online_by_the_citizen_then_supplied_reviewed_and_issued(app, field, client, make, world):
    phone = mobile()
    citizen = make.user("citizen", phone=phone)
    body, _ = field.matured_resident(phone=phone)
    # someone else's phone cannot apply for this person
    resp = field.apply(world.citizen, identity_number=body["identity_number"], materials=ALL)
    assert resp.status_code == 422 and "identity_number" in resp.json["errors"]
    resp = field.apply(
        citizen, identity_number=body["identity_number"], materials=materials("identity_card", "rental_contract")
    )
    assert resp.status_code == 201 and resp.json["status"] == "submitted" and resp.json["channel"] == "online"
    app_id = resp.json["id"]
    again = field.apply(citizen, identity_number=body["identity_number"], materials=ALL)
    assert again.status_code == 422 and again.json["type"].endswith("/not-eligible")

    assert field.act(world.staff[0], app_id, "accept").json["status"] == "accepted"
    assert field.act(world.staff[0], app_id, "review").json["status"] == "under_review"
    blocked = field.act(world.staff[0], app_id, "decision", decision="approve", code="OK")
    assert blocked.status_code == 409 and blocked.json["type"].endswith("/materials-owed")

    supplied = client.put(
        f"/api/v1/applications/{app_id}/materials/photo",
        json={"attachment_sha256": SHA["photo"]},
        headers=if_match(client, f"/api/v1/applications/{app_id}", make.auth(citizen)),
    )
    assert supplied.status_code == 200
    assert all(m["status"] == "provided" for m in supplied.json["materials"])

    approved = field.act(world.staff[0], app_id, "decision", decision="approve", code="OK", text="材料齐全")
    assert approved.status_code == 200 and approved.json["status"] == "issued"
    assert re.match(rf"^{world.stations[0].code}-\d{{4}}-000001$", approved.json["permit_number"])
    timeline = client.get(f"/api/v1/applications/{app_id}", headers=make.auth(citizen)).json["timeline"]
    assert [e["action"] for e in timeline] == [
        "submitted",
        "accepted",
        "review_started",
        "material_supplied",
        "approved",
        "issued",
    ]
    with app.app_context():
        row = db.session.execute(sa.select(Notification).where(Notification.kind == "permit_ready")).scalar_one()
        assert row.dedupe_key == f"permit-ready:{app_id}" and approved.json["permit_number"] in row.params["number"]


def test_rejection_closes_the_application(field, world):
    body, reg = field.matured_resident()
    app_id = field.apply(world.staff[0], identity_number=body["identity_number"], materials=ALL).json["id"]
    field.act(world.staff[0], app_id, "review")
    resp = field.act(world.staff[0], app_id, "decision", decision="reject", code="FALSE_ADDRESS", text="地址不符")
    assert (
        resp.status_code == 200 and resp.json["status"] == "rejected" and resp.json["decision_code"] == "FALSE_ADDRESS"
    )
    assert field.act(world.staff[0], app_id, "review").status_code == 409
    # the person may apply again
    assert field.apply(world.staff[0], resident_id=reg["resident_id"], materials=ALL).status_code == 201


def test_an_officer_takes_an_application_at_a_visit(field, make, world):
    _body, reg = field.matured_resident()
    resp = field.apply(world.officer[0], resident_id=reg["resident_id"], materials=ALL)
    assert resp.status_code == 201 and resp.json["channel"] == "visit" and resp.json["status"] == "submitted"
    # an officer of another station does not see the resident
    resp = field.apply(world.officer[1], resident_id=reg["resident_id"], materials=ALL)
    assert resp.status_code == 404


def test_staff_see_what_is_due(app, field, client, make, world):
    body, _ = field.matured_resident()
    app_id = field.apply(world.staff[0], identity_number=body["identity_number"], materials=ALL).json["id"]
    with app.app_context():
        deadline = add_working_days(local_now().date(), 15)
    due = client.get(
        "/api/v1/applications", query_string={"due_by": deadline.isoformat()}, headers=make.auth(world.staff[0])
    ).json
    assert [a["id"] for a in due] == [app_id] and due[0]["review_deadline"] == deadline.isoformat()
    early = client.get(
        "/api/v1/applications",
        query_string={"due_by": local_now().date().isoformat()},
        headers=make.auth(world.staff[0]),
    ).json
    assert early == []


def test_unneeded_materials_are_named(field, world):
    body, _ = field.matured_resident()
    resp = field.apply(
        world.staff[0],
        identity_number=body["identity_number"],
        materials=materials("identity_card", "rental_contract", "employer_proof"),
    )
    assert resp.status_code == 422 and "employer_proof" in resp.json["errors"]["materials"][0]


def test_a_citizens_upload_becomes_readable_by_the_station_that_holds_the_case(app, field, client, make, world):
    """The citizen uploads the owed photo; the competent station's staff can then open it, and it
    shows as waiting until the bytes arrive."""
    import hashlib

    phone = mobile()
    citizen = make.user("citizen", phone=phone)
    body, _ = field.matured_resident(phone=phone)
    app_id = field.apply(
        citizen, identity_number=body["identity_number"], materials=materials("identity_card", "rental_contract")
    ).json["id"]
    png = b"\x89PNG\r\n\x1a\n" + b"photo-bytes" * 10
    sha = hashlib.sha256(png).hexdigest()
    declared = client.post(
        "/api/v1/attachments",
        json={"sha256": sha, "content_type": "image/png", "size": len(png), "kind": "material"},
        headers=make.auth(citizen),
    )
    assert declared.status_code == 201, declared.json
    supplied = client.put(
        f"/api/v1/applications/{app_id}/materials/photo",
        json={"attachment_sha256": sha},
        headers=if_match(client, f"/api/v1/applications/{app_id}", make.auth(citizen)),
    ).json
    photo = next(m for m in supplied["materials"] if m["kind"] == "photo")
    assert photo["status"] == "provided" and photo["attachment_stored"] is False
    upload = client.put(
        f"/api/v1/attachments/{sha}/content", data=png, content_type="image/png", headers=make.auth(citizen)
    )
    assert upload.status_code in (200, 201), upload.json
    staff = make.auth(world.staff[0])
    again = client.get(f"/api/v1/applications/{app_id}", headers=staff).json
    assert next(m for m in again["materials"] if m["kind"] == "photo")["attachment_stored"] is True
    assert client.get(f"/api/v1/attachments/{sha}/content", headers=staff).data == png
    assert client.get(f"/api/v1/attachments/{sha}/content", headers=make.auth(world.staff[1])).status_code == 404


def test_naming_a_digest_in_a_material_does_not_make_it_readable(field, client, make, world):
    """Access to an attachment goes through who declared it, never through knowing its digest."""
    import hashlib

    png = b"\x89PNG\r\n\x1a\n" + b"someone-else" * 10
    sha = hashlib.sha256(png).hexdigest()
    officer = make.auth(world.officer[1])  # another station's officer stores a photo
    assert (
        client.post(
            "/api/v1/attachments",
            json={"sha256": sha, "content_type": "image/png", "size": len(png), "kind": "photo"},
            headers=officer,
        ).status_code
        == 201
    )
    assert (
        client.put(
            f"/api/v1/attachments/{sha}/content", data=png, content_type="image/png", headers=officer
        ).status_code
        == 200
    )
    phone = mobile()
    citizen = make.user("citizen", phone=phone)
    body, _ = field.matured_resident(phone=phone)
    app_id = field.apply(
        citizen, identity_number=body["identity_number"], materials=materials("identity_card", "rental_contract")
    ).json["id"]
    supplied = client.put(
        f"/api/v1/applications/{app_id}/materials/photo",
        json={"attachment_sha256": sha},
        headers=if_match(client, f"/api/v1/applications/{app_id}", make.auth(citizen)),
    )
    assert supplied.status_code == 200
    for who in (citizen, world.staff[0]):
        assert client.get(f"/api/v1/attachments/{sha}/content", headers=make.auth(who)).status_code == 404


def test_returned_for_correction_the_citizen_is_told_and_resubmits(app, field, client, make, world):
    phone = mobile()
    citizen = make.user("citizen", phone=phone)
    body, _ = field.matured_resident(phone=phone)
    app_id = field.apply(citizen, identity_number=body["identity_number"], materials=ALL).json["id"]
    field.act(world.staff[0], app_id, "accept")
    # without a reason nothing changes
    resp = field.act(world.staff[0], app_id, "return", reason="")
    assert resp.status_code == 422 and "reason" in resp.json["errors"]
    # another station may not return it
    assert field.act(world.staff[1], app_id, "return", reason="照片不清晰").status_code in (403, 404)
    resp = field.act(world.staff[0], app_id, "return", reason="照片不清晰")
    assert resp.status_code == 200 and resp.json["status"] == "returned"
    assert resp.json["decision_text"] == "照片不清晰"
    assert field.act(world.staff[0], app_id, "decision", decision="approve", code="OK").status_code == 409
    with app.app_context():
        sms = db.session.execute(
            sa.select(Notification).where(Notification.kind == "application_returned")
        ).scalar_one()
        assert sms.params["reference"] and sms.station_id == world.stations[0].id
    resp = field.act(citizen, app_id, "resubmit")
    assert resp.status_code == 200 and resp.json["status"] == "submitted"
    assert [e["action"] for e in resp.json["timeline"]][-2:] == ["returned", "resubmitted"]
    assert field.act(citizen, app_id, "resubmit").status_code == 409
    assert field.act(world.staff[0], app_id, "accept").json["status"] == "accepted"
