"""The six-months export: the station's residents whose six months mature in the range, numbers
masked, with what became of each reminder — and no query per row."""

from __future__ import annotations

import uuid
from datetime import timedelta

from dateutil.relativedelta import relativedelta

from app import clock, pii
from app.extensions import db
from app.notify import outbox
from field_api.residency.maturity import prenotice_key
from tests.app.web.helpers import log_in
from tests.fixtures.field import person
from tests.queries import statements
from tests.spreadsheets import read_csv, read_xlsx


def _maturing(app, field, world, i: int, name: str, *, days: int, reminder: str | None) -> dict:
    body = person(name=name)
    start = clock.today() + relativedelta(days=days) - relativedelta(months=6)
    resp = field.register(who=world.officer[i], area=world.areas[i][0], resident=body, start=start)
    assert resp.status_code == 201, resp.json
    if reminder:
        with app.app_context():
            row = outbox.enqueue(
                "maturity_soon",
                "maturity_soon",
                {"station": "x", "day": resp.json["maturity_date"]},
                phone=body["phone"],
                station_id=world.stations[i].id,
                dedupe_key=prenotice_key(uuid.UUID(resp.json["id"])),
            )
            row.status = reminder
            db.session.commit()
    return body


def test_the_stations_maturing_residents_masked_with_their_reminders(app, client, field, world):
    mine = _maturing(app, field, world, 0, "周建国", days=5, reminder="sent")
    _maturing(app, field, world, 1, "吴建华", days=5, reminder="dead")
    _maturing(app, field, world, 0, "孙丽", days=40, reminder=None)  # after the range
    today = clock.today()
    span = {"start": today, "end": today + timedelta(days=10)}
    log_in(client, world.staff[0])
    page = client.get("/console/exports/").get_data(as_text=True)
    assert "/console/exports/maturity.csv" in page and "/console/exports/maturity.xlsx" in page
    header, *rows = read_csv(client.get("/console/exports/maturity.csv", query_string=span).get_data())
    assert header[:2] == ["满六个月日期", "姓名"] and header[-2:] == ["即将满六个月", "居住满六个月"]
    (row,) = rows
    assert row[0] == (today + timedelta(days=5)).isoformat() and row[1] == "周建国"
    assert mine["identity_number"] not in row and row[2].count("*") == 10
    assert mine["phone"] not in row and row[3] == pii.mask_phone(mine["phone"])
    assert row[7] == "已发送" and row[8] == "无提醒"

    raw = client.get("/console/exports/maturity.xlsx", query_string=span).get_data()
    _, *rows = read_xlsx(raw).rows()
    (row,) = rows
    assert row[0] == today + timedelta(days=5) and row[1] == "周建国" and row[7] == "已发送"
    assert mine["phone"].encode() not in raw and "吴建华".encode() not in raw


def test_the_rows_cost_no_queries(app, client, field, world):
    for name, days in (("周建国", 5), ("郑丽娟", 6)):
        _maturing(app, field, world, 0, name, days=days, reminder="sent")
    today = clock.today()
    log_in(client, world.staff[0])
    counts = []
    for start in (today, today + timedelta(days=100)):  # two rows, then none
        with statements(app) as sent:
            raw = client.get(
                "/console/exports/maturity.csv", query_string={"start": start, "end": start + timedelta(days=10)}
            ).get_data()
        counts.append((len(read_csv(raw)) - 1, len(sent)))
    assert counts[0][0] == 2 and counts[1][0] == 0 and counts[0][1] == counts[1][1]
