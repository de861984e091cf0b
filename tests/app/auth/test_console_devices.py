"""The console's tablets page: the station's devices only; registering shows the one-time code
once, in words and as a QR code, and the tablet enrols with it; revoking is the API's revocation
(audited); without the CSRF token nothing changes."""

from __future__ import annotations

import re

import sqlalchemy as sa

from app.audit.models import AuditEvent
from app.auth.models import Device
from app.extensions import db
from tests.app.web.helpers import log_in, session_token
from tests.snapshots import changed_tables, database_state

QUIET = frozenset({"throttle", "console_session"})
CODE = re.compile(r'<p class="code"><strong>([A-Z0-9-]+)</strong>')


def _devices(app) -> list[Device]:
    with app.app_context():
        return list(db.session.execute(sa.select(Device)).scalars())


def test_registering_shows_the_code_once_and_revoking_is_audited(app, client, world):
    log_in(client, world.staff[0])
    resp = client.post("/console/devices/", data={"csrf_token": session_token(client), "label": "北山社区-1"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 201 and "<svg" in html
    code = CODE.search(html).group(1)
    (device,) = _devices(app)
    assert device.status == "pending" and device.station_id == world.stations[0].id
    listed = client.get("/console/devices/").get_data(as_text=True)
    assert "北山社区-1" in listed and code not in listed  # shown once, never again

    done = client.post(
        f"/console/devices/{device.id}/revoke", data={"csrf_token": session_token(client), "mode": "retired"}
    )
    assert done.status_code == 303
    with app.app_context():
        actions = db.session.execute(sa.select(AuditEvent.action).order_by(AuditEvent.id)).scalars().all()
    assert actions[-2:] == ["device.register", "device.revoke_retired"]
    assert _devices(app)[0].status == "retired"


def test_another_stations_tablets_are_not_shown_or_revocable(app, client, world):
    other = app.test_client()
    log_in(other, world.staff[1])
    other.post("/console/devices/", data={"csrf_token": session_token(other), "label": "南湖-9"})
    (theirs,) = _devices(app)
    log_in(client, world.staff[0])
    assert "南湖-9" not in client.get("/console/devices/").get_data(as_text=True)
    token = session_token(client)
    assert (
        client.post(f"/console/devices/{theirs.id}/revoke", data={"csrf_token": token, "mode": "lost"}).status_code
        == 404
    )


def test_without_the_token_or_a_name_nothing_changes(app, client, world):
    log_in(client, world.staff[0])
    before = database_state(app, exclude=QUIET)
    assert client.post("/console/devices/", data={"label": "x"}).status_code == 400
    unnamed = client.post("/console/devices/", data={"csrf_token": session_token(client), "label": " "})
    assert unnamed.status_code == 422 and 'id="label-error"' in unnamed.get_data(as_text=True)
    assert changed_tables(before, database_state(app, exclude=QUIET)) == []
