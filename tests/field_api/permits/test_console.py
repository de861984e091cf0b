"""The console's review queue: scoped to the station, masked, each action the API's own (audited
the same way), CSRF on every form, a missing reason said next to its field."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from app import pii
from app.audit.models import AuditEvent
from app.extensions import db
from app.notify.models import Notification
from field_api.permits.models import PermitApplication
from tests.app.attachments.helpers import pdf, png, stored_attachment
from tests.app.web.helpers import log_in, session_token
from tests.factories import if_match
from tests.snapshots import changed_tables, database_state


def _application(app, field, world, i: int = 0) -> tuple[str, dict]:
    """An application accepted at station ``i``'s window, its identity card a PNG and its
    contract a PDF, the photo owed (容缺)."""
    staff = world.staff[i]
    with app.app_context():
        card = stored_attachment(staff, png(), kind="material")
        contract = stored_attachment(staff, pdf(), "application/pdf", kind="material")
        db.session.commit()
    area = world.areas[i][0]
    reg = field.register(who=world.officer[i], area=area)
    assert reg.status_code == 201, reg.json
    body = field.client.get(
        f"/api/v1/residents/{reg.json['resident_id']}", headers=field.make.auth(world.staff[i])
    ).json
    resp = field.apply(
        staff,
        resident_id=reg.json["resident_id"],
        materials=[
            {"kind": "identity_card", "attachment_sha256": card},
            {"kind": "rental_contract", "attachment_sha256": contract},
        ],
    )
    assert resp.status_code == 201 and resp.json["status"] == "accepted", resp.json
    return resp.json["id"], {"card": card, "contract": contract, "resident": body}


def _identity(app, application_id: str) -> str:
    with app.app_context():
        application = db.session.get(PermitApplication, uuid.UUID(application_id))
        return pii.decrypt(pii.IDENTITY, application.resident.identity_enc)


def test_the_queue_shows_the_station_its_applications_masked_with_the_deadline(app, client, field, world):
    mine, _ = _application(app, field, world, 0)
    theirs, _ = _application(app, field, world, 1)
    log_in(client, world.staff[0])
    page = client.get("/console/review/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    with app.app_context():
        ours = db.session.get(PermitApplication, uuid.UUID(mine))
        other = db.session.get(PermitApplication, uuid.UUID(theirs))
        assert ours.reference in html and other.reference not in html
    identity = _identity(app, mine)
    assert identity not in html and pii.mask_identity(identity) in html
    assert "个工作日" in html  # the countdown, in working days
    assert "照片" in html  # the photo is owed (容缺)
    # station A's staff cannot open B's application nor its files
    assert client.get(f"/console/review/{theirs}").status_code == 404


def test_files_are_shown_inline_within_the_staffs_scope(app, client, field, world):
    app_id, files = _application(app, field, world, 0)
    log_in(client, world.staff[0])
    html = client.get(f"/console/review/{app_id}").get_data(as_text=True)
    assert f'<img src="/console/review/files/{files["card"]}"' in html
    assert f'<iframe src="/console/review/files/{files["contract"]}"' in html
    img = client.get(f"/console/review/files/{files['card']}")
    assert img.status_code == 200 and img.mimetype == "image/png"
    assert img.headers["Content-Disposition"].startswith("inline")
    framed = client.get(f"/console/review/files/{files['contract']}")
    assert framed.mimetype == "application/pdf" and framed.headers["X-Frame-Options"] == "SAMEORIGIN"
    client.post("/console/logout", data={"csrf_token": session_token(client)})
    log_in(client, world.staff[1])
    assert client.get(f"/console/review/files/{files['card']}").status_code == 404


def _audit(app, application_id: str) -> list[str]:
    with app.app_context():
        return list(
            db.session.execute(
                sa.select(AuditEvent.action).where(AuditEvent.entity_id == application_id).order_by(AuditEvent.id)
            ).scalars()
        )


def test_review_then_approve_issues_the_permit_audited_as_the_api(app, client, field, world):
    app_id, files = _application(app, field, world, 0)
    field.client.put(  # the owed photo arrives, so it may be approved
        f"/api/v1/applications/{app_id}/materials/photo",
        json={"attachment_sha256": files["card"]},
        headers=if_match(field.client, f"/api/v1/applications/{app_id}", field.make.auth(world.staff[0])),
    )
    log_in(client, world.staff[0])
    token = session_token(client)
    resp = client.post(f"/console/review/{app_id}/review", data={"csrf_token": token})
    assert resp.status_code == 303
    resp = client.post(f"/console/review/{app_id}/approve", data={"csrf_token": token}, follow_redirects=True)
    assert resp.status_code == 200 and "居住证已制发" in resp.get_data(as_text=True)
    assert _audit(app, app_id)[-3:] == ["application.review_started", "application.approved", "application.issued"]
    with app.app_context():
        assert db.session.get(PermitApplication, uuid.UUID(app_id)).status == "issued"


def test_return_needs_a_reason_said_next_to_the_field(app, client, field, world):
    app_id, _ = _application(app, field, world, 0)
    log_in(client, world.staff[0])
    token = session_token(client)
    before = database_state(app)
    resp = client.post(f"/console/review/{app_id}/return", data={"csrf_token": token, "reason": "  "})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and 'aria-invalid="true"' in html and 'id="reason-error"' in html
    assert changed_tables(before, database_state(app)) == []
    resp = client.post(f"/console/review/{app_id}/return", data={"csrf_token": token, "reason": "身份证照片不清晰"})
    assert resp.status_code == 303
    assert _audit(app, app_id)[-1] == "application.returned"
    with app.app_context():
        application = db.session.get(PermitApplication, uuid.UUID(app_id))
        assert application.status == "returned" and application.decision_text == "身份证照片不清晰"
        sms = db.session.execute(sa.select(Notification).where(Notification.kind == "application_returned"))
        assert sms.scalar_one().params["reference"] == application.reference


def test_reject_needs_a_code_and_an_explanation(app, client, field, world):
    app_id, _ = _application(app, field, world, 0)
    log_in(client, world.staff[0])
    token = session_token(client)
    resp = client.post(f"/console/review/{app_id}/reject", data={"csrf_token": token})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and 'id="code-error"' in html and 'id="text-error"' in html
    resp = client.post(
        f"/console/review/{app_id}/reject", data={"csrf_token": token, "code": "FALSE_ADDRESS", "text": "地址不符"}
    )
    assert resp.status_code == 303 and _audit(app, app_id)[-1] == "application.rejected"


def test_a_step_the_state_does_not_allow_is_said_on_the_page(app, client, field, world):
    app_id, _ = _application(app, field, world, 0)
    log_in(client, world.staff[0])
    resp = client.post(f"/console/review/{app_id}/approve", data={"csrf_token": session_token(client)})
    assert resp.status_code == 409 and 'class="flash error"' in resp.get_data(as_text=True)


def test_without_the_token_nothing_changes(app, client, field, world):
    app_id, _ = _application(app, field, world, 0)
    log_in(client, world.staff[0])
    before = database_state(app, exclude=frozenset({"throttle", "console_session"}))
    for action in ("review", "return", "reject"):
        assert client.post(f"/console/review/{app_id}/{action}", data={"reason": "x"}).status_code == 400
        wrong = {"reason": "x", "csrf_token": "forged"}
        assert client.post(f"/console/review/{app_id}/{action}", data=wrong).status_code == 403
    assert changed_tables(before, database_state(app, exclude=frozenset({"throttle", "console_session"}))) == []


def test_another_station_cannot_act_and_nothing_changes(app, client, field, world):
    app_id, _ = _application(app, field, world, 0)
    log_in(client, world.staff[1])
    token = session_token(client)
    before = database_state(app, exclude=frozenset({"throttle", "console_session"}))
    resp = client.post(f"/console/review/{app_id}/return", data={"csrf_token": token, "reason": "x"})
    assert resp.status_code in (403, 404)
    assert changed_tables(before, database_state(app, exclude=frozenset({"throttle", "console_session"}))) == []


def test_the_queue_is_not_for_anonymous_callers(client):
    resp = client.get("/console/review/")
    assert resp.status_code == 302 and "/console/login" in resp.headers["Location"]


def test_the_residents_page_lists_their_applications_through_residencys_hook(app, client, field, world):
    """Residency does not import permits: permits register the section (field_api.residency.hooks)."""
    application_id, files = _application(app, field, world, 0)
    with app.app_context():
        reference = db.session.get(PermitApplication, uuid.UUID(application_id)).reference
    other = field.register(who=world.officer[0], area=world.areas[0][0])
    assert other.status_code == 201, other.json
    log_in(client, world.staff[0])
    html = client.get(f"/console/residents/{files['resident']['id']}").get_data(as_text=True)
    assert reference in html and html.count("<h2>") == 2  # registrations, then the applications
    html = client.get(f"/console/residents/{other.json['resident_id']}").get_data(as_text=True)
    assert reference not in html and html.count("<h2>") == 2 and 'class="empty"' in html
