"""The deliveries export: the permits handed over in the range, of the clerk's station only, the
holder's number and the taker's name masked, the officer and the receipt — and no query per row."""

from __future__ import annotations

from datetime import timedelta

from app.workdays import local_now
from tests.app.web.helpers import log_in
from tests.field_api.delivery.test_deliveries import _handover, _receipt, out_for_delivery  # noqa: F401
from tests.queries import statements
from tests.spreadsheets import read_csv, read_xlsx


def test_the_stations_handovers_masked_with_officer_and_receipt(app, client, world, out_for_delivery):  # noqa: F811
    out = out_for_delivery
    receipt_id = _handover(client, out, _receipt(out)).json["receipt_id"]
    today = local_now().date()
    log_in(client, world.staff[0])
    page = client.get("/console/exports/").get_data(as_text=True)
    assert "/console/exports/deliveries.csv" in page and "/console/exports/deliveries.xlsx" in page
    header, *rows = read_csv(client.get("/console/exports/deliveries.csv", query_string={"end": today}).get_data())
    assert header[:3] == ["送达时间", "居住证", "持证人"]
    (row,) = rows
    assert row[1] == out.delivery["permit_number"] and row[2] == out.body["name"]
    assert out.body["identity_number"] not in row and row[3].count("*") == 10
    assert row[4] == out.body["name"][0] + "*" * (len(out.body["name"]) - 1) and row[5] == "本人"
    assert row[6] == "officer" and row[7] == receipt_id and row[8] == "回执已记录"
    assert row[0].startswith(today.isoformat())

    raw = client.get("/console/exports/deliveries.xlsx", query_string={"end": today}).get_data()
    header, *rows = read_xlsx(raw).rows()
    (row,) = rows
    assert row[0].date() == today and row[1] == out.delivery["permit_number"] and row[7] == receipt_id
    assert out.body["identity_number"].encode() not in raw

    other = app.test_client()
    log_in(other, world.staff[1])
    _, *theirs = read_csv(other.get("/console/exports/deliveries.csv", query_string={"end": today}).get_data())
    assert theirs == []


def test_pending_deliveries_and_other_days_are_left_out_and_rows_cost_no_queries(app, client, world, out_for_delivery):  # noqa: F811
    out = out_for_delivery
    today = local_now().date()
    log_in(client, world.staff[0])
    _, *rows = read_csv(client.get("/console/exports/deliveries.csv", query_string={"end": today}).get_data())
    assert rows == []  # out for delivery, not handed over yet
    with statements(app) as none:
        client.get("/console/exports/deliveries.csv", query_string={"end": today}).get_data()
    _handover(client, out, _receipt(out))
    yesterday = today - timedelta(days=1)
    _, *rows = read_csv(client.get("/console/exports/deliveries.csv", query_string={"end": yesterday}).get_data())
    assert rows == []
    with statements(app) as one:
        _, *rows = read_csv(client.get("/console/exports/deliveries.csv", query_string={"end": today}).get_data())
    assert len(rows) == 1 and len(one) == len(none)
