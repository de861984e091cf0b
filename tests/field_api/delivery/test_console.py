"""The console's receipts and their print view: the station's own, the QR as inline SVG drawn on
the server from the countersignature, nothing loaded from elsewhere."""

from __future__ import annotations

from tests.app.web.helpers import log_in, session_token
from tests.field_api.delivery.test_deliveries import _handover, _receipt, out_for_delivery  # noqa: F401


def test_the_print_view_carries_the_countersignature_as_inline_svg(client, make, world, out_for_delivery):  # noqa: F811
    out = out_for_delivery
    receipt_id = _handover(client, out, _receipt(out)).json["receipt_id"]
    log_in(client, world.staff[0])
    listing = client.get("/console/receipts/").get_data(as_text=True)
    assert out.delivery["permit_number"] in listing and f"/console/receipts/{receipt_id}/print" in listing
    resp = client.get(f"/console/receipts/{receipt_id}/print")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "居住证送达回执" in html
    assert '<svg width="' in html and "<path d=" in html and "http://www.w3.org/2000/svg" in html
    assert out.delivery["permit_number"] in html
    assert out.body["identity_number"] not in html  # no full identity number on paper
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    api = client.get(f"/api/v1/receipts/{receipt_id}/qr.svg", headers=make.auth(world.staff[0]))
    assert api.get_data(as_text=True) in html  # the API's own SVG


def test_another_station_sees_no_receipt(client, world, out_for_delivery):  # noqa: F811
    out = out_for_delivery
    receipt_id = _handover(client, out, _receipt(out)).json["receipt_id"]
    log_in(client, world.staff[1])
    assert out.delivery["permit_number"] not in client.get("/console/receipts/").get_data(as_text=True)
    assert client.get(f"/console/receipts/{receipt_id}/print").status_code == 404
    assert session_token(client)
