"""The console's residents: search through the blind indexes, scoped to the station, masked by
default; unmasking is a POST with a reason, audited as the API's unmasked read."""

from __future__ import annotations

import sqlalchemy as sa

from app import pii
from app.audit.models import AuditEvent
from app.extensions import db
from tests.app.web.helpers import log_in, session_token
from tests.fixtures.field import person
from tests.snapshots import changed_tables, database_state

QUIET = frozenset({"throttle", "console_session"})


def _resident(field, world, i: int = 0, **kw) -> tuple[dict, str]:
    body = person(**kw)
    resp = field.register(who=world.officer[i], area=world.areas[i][0], resident=body)
    assert resp.status_code == 201, resp.json
    return body, resp.json["resident_id"]


def test_search_by_name_identity_or_phone_masked_and_scoped(client, field, world):
    mine, mine_id = _resident(field, world, 0, name="林秀英")
    theirs, _ = _resident(field, world, 1, name="林秀兰")
    log_in(client, world.staff[0])
    token = session_token(client)
    for q in ("林秀", mine["identity_number"], mine["phone"]):
        html = client.post("/console/residents/", data={"q": q, "csrf_token": token}).get_data(as_text=True)
        assert "林秀英" in html and mine_id in html, q
        assert "林秀兰" not in html  # station B's resident
        assert mine["identity_number"] not in html and mine["phone"] not in html
        assert pii.mask_identity(mine["identity_number"]) in html
    # B's resident by its exact number: nothing
    html = client.post("/console/residents/", data={"q": theirs["identity_number"], "csrf_token": token}).get_data(
        as_text=True
    )
    assert "林秀兰" not in html and "没有" in html
    detail = client.get(f"/console/residents/{mine_id}").get_data(as_text=True)
    assert "林秀英" in detail and mine["identity_number"] not in detail and pii.mask_phone(mine["phone"]) in detail


def test_another_stations_resident_is_not_found(client, field, world):
    _, theirs_id = _resident(field, world, 1)
    log_in(client, world.staff[0])
    assert client.get(f"/console/residents/{theirs_id}").status_code == 404
    token = session_token(client)
    resp = client.post(f"/console/residents/{theirs_id}/unmask", data={"csrf_token": token, "reason": "核对"})
    assert resp.status_code == 404


def _reads(app, resident_id: str) -> list[dict]:
    with app.app_context():
        return list(
            db.session.execute(
                sa.select(AuditEvent.after).where(AuditEvent.action == "pii.read", AuditEvent.entity_id == resident_id)
            ).scalars()
        )


def test_unmask_needs_a_reason_shows_once_and_is_audited(app, client, field, world):
    body, resident_id = _resident(field, world, 0)
    log_in(client, world.staff[0])
    token = session_token(client)
    before = database_state(app, exclude=QUIET)
    resp = client.post(f"/console/residents/{resident_id}/unmask", data={"csrf_token": token, "reason": ""})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and 'id="reason-error"' in html and body["identity_number"] not in html
    assert changed_tables(before, database_state(app, exclude=QUIET)) == []
    resp = client.post(f"/console/residents/{resident_id}/unmask", data={"csrf_token": token, "reason": "办理户籍核对"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and body["identity_number"] in html and body["phone"] in html
    assert resp.headers["Cache-Control"] == "no-store"
    assert _reads(app, resident_id) == [{"fields": ["identity_number", "phone"], "reason": "办理户籍核对"}]
    # shown once: the page itself stays masked
    assert body["identity_number"] not in client.get(f"/console/residents/{resident_id}").get_data(as_text=True)


def test_unmask_without_the_token_changes_nothing(app, client, field, world):
    body, resident_id = _resident(field, world, 0)
    log_in(client, world.staff[0])
    before = database_state(app, exclude=QUIET)
    resp = client.post(f"/console/residents/{resident_id}/unmask", data={"reason": "核对"})
    assert resp.status_code == 400 and body["identity_number"] not in resp.get_data(as_text=True)
    forged = client.post(f"/console/residents/{resident_id}/unmask", data={"reason": "核对", "csrf_token": "x"})
    assert forged.status_code == 403
    assert changed_tables(before, database_state(app, exclude=QUIET)) == []
    assert _reads(app, resident_id) == []
