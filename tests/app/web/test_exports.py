"""Exports: the kinds a clerk may download, a CSV that Excel opens with Chinese intact (a UTF-8
byte-order mark) and that the csv module reads back, an XLSX that opens as a workbook with a
Chinese header and real dates, rows only of the clerk's station with numbers masked, every
download audited with its format, and as many queries for many rows as for none."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from app.audit.models import AuditEvent
from app.extensions import db
from tests.app.web.helpers import log_in
from tests.fixtures.field import months_ago, person
from tests.queries import statements
from tests.spreadsheets import read_csv, read_xlsx

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _csv(resp) -> list[list[str]]:
    return read_csv(resp.get_data())


def _events(app) -> list[AuditEvent]:
    with app.app_context():
        return list(
            db.session.execute(
                sa.select(AuditEvent).where(AuditEvent.action == "export.download").order_by(AuditEvent.id)
            ).scalars()
        )


def test_visits_of_the_station_in_the_range_as_csv_and_audited(app, client, world, booker, windows):
    booker.as_staff(address="北山街道8号2单元301")
    day = windows.days[0].isoformat()
    log_in(client, world.staff[0])
    page = client.get("/console/exports/", query_string={"start": day, "end": day}).get_data(as_text=True)
    assert f"/console/exports/visits.csv?start={day}&amp;end={day}" in page
    assert f"/console/exports/visits.xlsx?start={day}&amp;end={day}" in page
    resp = client.get("/console/exports/visits.csv", query_string={"start": day, "end": day})
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    header, *rows = _csv(resp)
    assert header[0] == "日期" and len(rows) == 1 and rows[0][3] == "北山街道8号2单元301"
    assert rows[0][0] == day
    (event,) = _events(app)
    assert event.actor_id == world.staff[0].id and event.after["kind"] == "visits" and event.after["start"] == day
    assert event.after["format"] == "csv"

    other = app.test_client()
    log_in(other, world.staff[1])
    _, *theirs = _csv(other.get("/console/exports/visits.csv", query_string={"start": day, "end": day}))
    assert theirs == []


def test_visits_as_a_workbook_of_the_station_with_dates_as_dates(app, client, world, booker, windows):
    booker.as_staff(address="北山街道8号2单元301")
    day = windows.days[0]
    log_in(client, world.staff[0])
    resp = client.get("/console/exports/visits.xlsx", query_string={"start": day, "end": day})
    assert resp.status_code == 200 and resp.mimetype == XLSX
    disposition = resp.headers["Content-Disposition"]
    assert "attachment" in disposition and f"visits-{day}-{day}.xlsx" in disposition
    raw = resp.get_data()
    assert int(resp.headers["Content-Length"]) == len(raw)
    book = read_xlsx(raw)
    assert book.sheet_names == ["走访"]
    header, *rows = book.rows()
    assert header == ["日期", "时段", "社区/警务室", "地址", "状态", "民警"]
    (row,) = rows
    assert row[0] == day and isinstance(row[0], date)  # a date cell, not text
    assert row[3] == "北山街道8号2单元301"
    widths = book.column_widths()
    assert len(widths) == 6 and widths[3] > widths[0] > len("日期")  # the address column is the widest
    (event,) = _events(app)
    assert event.after == {"kind": "visits", "start": day.isoformat(), "end": day.isoformat(), "format": "xlsx"}
    assert event.station_id == world.stations[0].id

    other = app.test_client()
    log_in(other, world.staff[1])
    theirs = read_xlsx(other.get("/console/exports/visits.xlsx", query_string={"start": day, "end": day}).get_data())
    assert theirs.rows()[1:] == []


def test_registrations_are_masked_in_both_formats(client, world, field):
    body = person(name="张伟")
    resp = field.register(who=world.officer[0], area=world.areas[0][0], resident=body, start=months_ago(1))
    assert resp.status_code == 201, resp.json
    other = person(name="李娜")
    resp = field.register(who=world.officer[1], area=world.areas[1][0], resident=other, start=months_ago(1))
    assert resp.status_code == 201, resp.json
    log_in(client, world.staff[0])
    start = months_ago(2).isoformat()
    _, *rows = _csv(client.get("/console/exports/registrations.csv", query_string={"start": start}))
    (row,) = rows
    assert row[0] == "张伟" and body["identity_number"] not in row and "*" in row[1]
    assert row[4] == months_ago(1).isoformat()

    raw = client.get("/console/exports/registrations.xlsx", query_string={"start": start}).get_data()
    header, *rows = read_xlsx(raw).rows()
    assert header[:2] == ["姓名", "身份证号"]
    (row,) = rows
    assert row[0] == "张伟" and row[1] == row[1][:4] + "*" * 10 + row[1][-4:] and row[4] == months_ago(1)
    assert body["identity_number"].encode() not in raw and "李娜".encode() not in raw


def test_text_that_looks_like_a_formula_stays_text(client, world, booker, windows):
    booker.as_staff(address="=HYPERLINK(1)")
    day = windows.days[0].isoformat()
    log_in(client, world.staff[0])
    _, row = _csv(client.get("/console/exports/visits.csv", query_string={"start": day, "end": day}))
    assert row[3] == "'=HYPERLINK(1)"
    raw = client.get("/console/exports/visits.xlsx", query_string={"start": day, "end": day}).get_data()
    assert b"<f>" not in raw and read_xlsx(raw).rows()[1][3] == "=HYPERLINK(1)"


def test_the_number_of_queries_does_not_grow_with_the_rows(app, client, world, field):
    for name in ("王芳", "刘洋", "陈静"):
        resp = field.register(
            who=world.officer[0], area=world.areas[0][0], resident=person(name=name), start=months_ago(1)
        )
        assert resp.status_code == 201, resp.json
    log_in(client, world.staff[0])
    counts = {}
    for start in (months_ago(2), date.today() + timedelta(days=400)):  # three rows, then none
        for fmt in ("csv", "xlsx"):
            end = start + timedelta(days=200)
            with statements(app) as sent:
                resp = client.get(f"/console/exports/registrations.{fmt}", query_string={"start": start, "end": end})
                resp.get_data()
            counts[start, fmt] = len(sent)
    assert counts[months_ago(2), "csv"] == counts[date.today() + timedelta(days=400), "csv"]
    assert counts[months_ago(2), "xlsx"] == counts[date.today() + timedelta(days=400), "xlsx"]


def test_a_bad_range_is_named_and_nothing_is_exported(app, client, world):
    log_in(client, world.staff[0])
    for fmt in ("csv", "xlsx"):
        resp = client.get(f"/console/exports/visits.{fmt}", query_string={"start": "2026-12-04", "end": "2026-01-01"})
        assert resp.status_code == 422 and 'id="end-error"' in resp.get_data(as_text=True)
        assert client.get(f"/console/exports/nothing.{fmt}").status_code == 404
    assert _events(app) == []


def test_a_streamed_csv_reads_its_rows_without_the_write_lock(app, client, world, booker, windows):
    """The rows leave after the unit committed the audit event: reading them takes no write lock,
    however long the download takes."""
    booker.as_staff()
    day = windows.days[0].isoformat()
    log_in(client, world.staff[0])
    with statements(app) as sent:
        resp = client.get("/console/exports/visits.csv", query_string={"start": day, "end": day})
        assert len(_csv(resp)) == 2
    begins = [i for i, s in enumerate(sent) if s.startswith("BEGIN")]
    if begins:  # SQLite: the unit (a read upgraded by the audit event), then the stream's read
        assert sent[begins[-1]] == "BEGIN DEFERRED"
        assert any("FROM visit" in s for s in sent[begins[-1] :])
