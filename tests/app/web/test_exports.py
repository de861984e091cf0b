"""Exports: the kinds a clerk may download, a CSV that Excel opens with Chinese intact (a UTF-8
byte-order mark) and that the csv module reads back, rows only of the clerk's station with
numbers masked, and every download audited."""

from __future__ import annotations

import csv
import io

import sqlalchemy as sa

from app.audit.models import AuditEvent
from app.extensions import db
from tests.app.web.helpers import log_in
from tests.fixtures.field import months_ago, person


def _csv(resp) -> list[list[str]]:
    raw = resp.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def test_visits_of_the_station_in_the_range_as_csv_and_audited(app, client, world, booker, windows):
    booker.as_staff(address="北山街道8号2单元301")
    day = windows.days[0].isoformat()
    log_in(client, world.staff[0])
    page = client.get("/console/exports/", query_string={"start": day, "end": day}).get_data(as_text=True)
    assert f"/console/exports/visits.csv?start={day}&amp;end={day}" in page
    resp = client.get("/console/exports/visits.csv", query_string={"start": day, "end": day})
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    header, *rows = _csv(resp)
    assert header[0] == "日期" and len(rows) == 1 and rows[0][3] == "北山街道8号2单元301"
    with app.app_context():
        event = db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "export.download")).scalar_one()
    assert event.actor_id == world.staff[0].id and event.after["kind"] == "visits" and event.after["start"] == day

    other = app.test_client()
    log_in(other, world.staff[1])
    _, *theirs = _csv(other.get("/console/exports/visits.csv", query_string={"start": day, "end": day}))
    assert theirs == []


def test_registrations_are_masked(client, world, field):
    body = person(name="张伟")
    resp = field.register(who=world.officer[0], area=world.areas[0][0], resident=body, start=months_ago(1))
    assert resp.status_code == 201, resp.json
    log_in(client, world.staff[0])
    start = months_ago(2).isoformat()
    _, *rows = _csv(client.get("/console/exports/registrations.csv", query_string={"start": start}))
    (row,) = rows
    assert row[0] == "张伟" and body["identity_number"] not in row and "*" in row[1]


def test_a_bad_range_is_named_and_nothing_is_exported(app, client, world):
    log_in(client, world.staff[0])
    resp = client.get("/console/exports/visits.csv", query_string={"start": "2026-12-04", "end": "2026-01-01"})
    assert resp.status_code == 422 and 'id="end-error"' in resp.get_data(as_text=True)
    assert client.get("/console/exports/nothing.csv").status_code == 404
    with app.app_context():
        assert db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "export.download")).first() is None
