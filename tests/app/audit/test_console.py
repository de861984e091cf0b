"""The console's audit page: the station's events through the API's scoped query, filtered by who,
what and when (dates are the station's days), and the whole chain verified on request — intact,
then broken where an event was edited behind the application's back."""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from tests.app.web.helpers import log_in, session_token


def _row(user) -> str:
    """How the page shows an event's record id (the people list holds ids too)."""
    return f'<small class="muted">{user.id}</small>'


def _rename(client, make, staff, officer, name: str) -> None:
    resp = client.patch(f"/api/v1/users/{officer.id}", json={"display_name": name}, headers=make.auth(staff))
    assert resp.status_code == 200


def test_the_stations_events_filtered_by_who_and_what(app, client, make, world):
    _rename(client, make, world.staff[0], world.officer[0], "张伟")
    _rename(client, make, world.staff[1], world.officer[1], "赵强")
    log_in(client, world.staff[0])
    html = client.get("/console/audit/", query_string={"action": "user.update"}).get_data(as_text=True)
    assert _row(world.officer[0]) in html and _row(world.officer[1]) not in html
    mine = client.get("/console/audit/", query_string={"actor_id": str(world.staff[0].id), "action": "user.update"})
    assert _row(world.officer[0]) in mine.get_data(as_text=True)
    nobody = client.get("/console/audit/", query_string={"action": "user.update", "until": "2000-01-01"})
    assert _row(world.officer[0]) not in nobody.get_data(as_text=True)


def test_a_bad_date_is_named_next_to_its_field(client, world):
    log_in(client, world.staff[0])
    resp = client.get("/console/audit/", query_string={"since": "yesterday"})
    assert resp.status_code == 422 and 'id="since-error"' in resp.get_data(as_text=True)


def test_verifying_the_chain_finds_an_edited_event(app, client, make, world):
    _rename(client, make, world.staff[0], world.officer[0], "张伟")
    log_in(client, world.staff[0])
    assert client.post("/console/audit/verify").status_code == 400  # no CSRF token
    intact = client.post("/console/audit/verify", data={"csrf_token": session_token(client)})
    assert intact.status_code == 200 and "完整" in intact.get_data(as_text=True)
    with app.app_context():
        first = db.session.execute(sa.text("SELECT min(id) FROM audit_event")).scalar_one()
        db.session.execute(sa.text("UPDATE audit_event SET action = 'forged' WHERE id = :id"), {"id": first})
        db.session.commit()
    broken = client.post("/console/audit/verify", data={"csrf_token": session_token(client)})
    assert broken.status_code == 200 and f"第 {first} 条" in broken.get_data(as_text=True)
