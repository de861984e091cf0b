"""Journey 7, the receipt: the citizen sees their own permit's signed receipt and its QR; anyone
checks a receipt's code on /m/verify and sees the API's three facts (signature valid, recorded,
revoked) for a good, a forged and a revoked tablet's receipt."""

from __future__ import annotations

import re

from field_api.delivery.receipt_token import render_svg
from tests.citizen.test_login import log_in
from tests.factories import mobile
from tests.field_api.delivery.test_deliveries import _handover, _receipt, out_for_delivery  # noqa: F401
from tests.snapshots import changed_tables, database_state

ZH = {"Accept-Language": "zh-CN"}


def _csrf(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def _facts(html: str) -> tuple[str, str, str]:
    """The three answers, in the page's order: signature valid, recorded, revoked."""
    return tuple(re.findall(r'<li class="(?:yes|no)">[^<]*：<strong>([^<]+)</strong>', html))


def _check(client, code: str):
    page = client.get("/m/verify", headers=ZH)
    return client.post("/m/verify", data={"code": code, "csrf_token": _csrf(page)}, headers=ZH)


def test_the_citizen_sees_their_receipt_with_its_qr(client, make, world, sms, out_for_delivery):  # noqa: F811
    out = out_for_delivery
    handed = _handover(client, out, _receipt(out))
    assert handed.status_code == 200, handed.json
    receipt_id = handed.json["receipt_id"]
    log_in(client, sms, out.citizen.phone)
    listing = client.get("/m/receipts", headers=ZH).get_data(as_text=True)
    assert out.delivery["permit_number"] in listing and f"/m/receipts/{receipt_id}" in listing
    page = client.get(f"/m/receipts/{receipt_id}", headers=ZH)
    html = page.get_data(as_text=True)
    countersignature = client.get(f"/api/v1/receipts/{receipt_id}", headers=make.auth(out.citizen)).json[
        "countersignature"
    ]
    assert page.status_code == 200 and "送达回执" in html
    assert render_svg(countersignature) in html and countersignature in html
    assert out.body["name"] not in html and out.body["identity_number"] not in html
    # another citizen sees neither the receipt nor it in their list
    other = make.user("citizen", phone=mobile())
    stranger = client.application.test_client()
    log_in(stranger, sms, other.phone)
    assert stranger.get(f"/m/receipts/{receipt_id}", headers=ZH).status_code == 404
    assert out.delivery["permit_number"] not in stranger.get("/m/receipts", headers=ZH).get_data(as_text=True)


def test_verify_a_good_receipt_and_its_countersignature(client, make, out_for_delivery):  # noqa: F811
    out = out_for_delivery
    token = _receipt(out)
    handed = _handover(client, out, token)
    good = _check(client, token[:100] + "\n" + token[100:])  # a code pasted over two lines
    html = good.get_data(as_text=True)
    assert good.status_code == 200 and _facts(html) == ("是", "是", "否")
    assert "真实有效" in html and out.delivery["permit_number"] in html
    api = client.post("/api/v1/receipts/verify", json={"token": token}).json
    assert (api["signature_valid"], api["recorded"], api["revoked"]) == (True, True, False)
    countersigned = client.get(f"/api/v1/receipts/{handed.json['receipt_id']}", headers=make.auth(out.citizen))
    assert _facts(_check(client, countersigned.json["countersignature"]).get_data(as_text=True)) == ("是", "是", "否")


def test_verify_a_forged_receipt(app, client, out_for_delivery):  # noqa: F811
    out = out_for_delivery
    token = _receipt(out)
    _handover(client, out, token)
    at = len(token) - 10  # a character of the device's signature
    forged = token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1 :]
    before = database_state(app)
    html = _check(client, forged).get_data(as_text=True)
    assert _facts(html) == ("否", "否", "否") and "不能证明" in html
    assert out.delivery["permit_number"] not in html
    html = _check(client, "not-a-receipt").get_data(as_text=True)
    assert _facts(html) == ("否", "否", "否")
    assert changed_tables(before, database_state(app)) == []  # only the rate limit counted


def test_verify_a_receipt_signed_after_the_tablet_was_revoked(client, make, world, out_for_delivery):  # noqa: F811
    out = out_for_delivery
    client.post(f"/api/v1/devices/{out.device.id}/revoke", json={"mode": "lost"}, headers=make.auth(world.staff[0]))
    late = _receipt(out, seq=8)
    html = _check(client, late).get_data(as_text=True)
    assert _facts(html) == ("是", "否", "是") and "不能证明" in html
    api = client.post("/api/v1/receipts/verify", json={"token": late}).json
    assert (api["signature_valid"], api["recorded"], api["revoked"]) == (True, False, True)


def test_the_check_form_needs_its_token_and_a_code(app, client):
    before = database_state(app)
    assert client.post("/m/verify", data={"code": "x"}).status_code == 400
    page = client.get("/m/verify", headers=ZH)
    assert client.post("/m/verify", data={"code": "x", "csrf_token": "forged"}).status_code == 403
    empty = client.post("/m/verify", data={"code": "  ", "csrf_token": _csrf(page)}, headers=ZH)
    assert empty.status_code == 422 and 'id="code-error"' in empty.get_data(as_text=True)
    long = client.post("/m/verify", data={"code": "a" * 4001, "csrf_token": _csrf(page)}, headers=ZH)
    assert long.status_code == 422
    assert changed_tables(before, database_state(app)) == []


def test_the_check_is_rate_limited_as_the_apis(app, client):
    page = client.get("/m/verify", headers=ZH)
    token = _csrf(page)
    for _ in range(60):
        assert client.post("/m/verify", data={"code": "x.y.z", "csrf_token": token}, headers=ZH).status_code == 200
    refused = client.post("/m/verify", data={"code": "x.y.z", "csrf_token": token}, headers=ZH)
    assert refused.status_code == 429 and "分钟后再试" in refused.get_data(as_text=True)
    assert client.post("/api/v1/receipts/verify", json={"token": "x.y.z"}).status_code == 429
