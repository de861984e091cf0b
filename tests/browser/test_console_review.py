"""The clerk's review day in a real browser: the review queue with a scanned material shown
inline, one application approved and one returned with a reason, the six-months page, a resident
unmasked for a stated reason. Screenshots at 1280×800."""

from __future__ import annotations

import hashlib
import re
import urllib.request

from dateutil.relativedelta import relativedelta

from app import clock
from doorstep_client.tablet import TabletClient
from field_api.delivery.receipt_token import render_png
from tests.browser.harness import log_in
from tests.browser.station_api import StationApi
from tests.factories import mobile, valid_identity

# An image's width once the browser has it: a scan's <img> is in the page before its bytes are,
# and naturalWidth is 0 until they arrive (or if they never do: "error" answers 0 at once).
LOADED_WIDTH = """img => img.complete ? img.naturalWidth : new Promise(done => {
  img.addEventListener("load", () => done(img.naturalWidth), {once: true});
  img.addEventListener("error", () => done(0), {once: true});
})"""


def _upload(api: StationApi, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    body = {"sha256": sha, "content_type": "image/png", "size": len(data), "kind": "material"}
    api.ok("demo.staff", "POST", "/api/v1/attachments", body)
    request = urllib.request.Request(
        f"{api.base}/api/v1/attachments/{sha}/content",
        data=data,
        method="PUT",
        headers={"Authorization": f"Bearer {api.tokens['demo.staff']}", "Content-Type": "image/png"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        assert resp.status == 200
    return sha


def _application(api: StationApi, name: str, phone: str) -> str:
    """A resident of seven months whose identity card scan and contract scan are real PNGs; the
    photo is owed. Accepted at the demo station's window."""
    today = clock.today()
    identity = valid_identity(region="110105", born="19900312", serial=None)
    area = api.officer_area()
    api.ok(
        "demo.officer",
        "POST",
        "/api/v1/registrations",
        {
            "area_id": area["id"],
            "address": "北山街道16号1单元502",
            "start_date": (today - relativedelta(months=7)).isoformat(),
            "reason": "work",
            "housing": "rented",
            "landlord_name": "陈房东",
            "landlord_phone": mobile(),
            "resident": {"name": name, "sex": "male", "identity_number": identity, "phone": phone},
        },
    )
    card = _upload(api, render_png(f"ID CARD SCAN {identity}", box_size=6))
    contract = _upload(api, render_png(f"RENTAL CONTRACT {identity}", box_size=6))
    application = api.ok(
        "demo.staff",
        "POST",
        "/api/v1/applications",
        {
            "identity_number": identity,
            "materials": [
                {"kind": "identity_card", "attachment_sha256": card},
                {"kind": "rental_contract", "attachment_sha256": contract},
            ],
        },
    )
    return application["reference"]


def test_review_return_six_months_and_unmask(console, server):
    from playwright.sync_api import expect  # imported where used, as the browser fixture does

    api = StationApi(server.base, server.passwords)
    first = _application(api, "韩立新", mobile())
    phone = mobile()
    second = _application(api, "曹文静", phone)

    page = console.page()
    log_in(page, server, "demo.staff")
    page.click("header.top nav >> text=审核")
    expect(page.locator("h1")).to_have_text("审核队列")
    expect(page.locator("table")).to_contain_text(first)
    expect(page.locator("table")).to_contain_text("剩余")  # the working-day countdown
    console.shot(page, "review-queue")

    # approve the first: start the review, then approve (its owed photo comes at the window first)
    page.click(f"text={first}")
    expect(page.locator("h1")).to_contain_text(first)
    expect(page.locator("img.scan")).to_have_count(2)
    assert page.locator("img.scan").first.evaluate(LOADED_WIDTH) > 0  # the scan loads
    console.shot(page, "review-application")
    page.click("button:has-text('退回补正')")  # no reason: said under the field, nothing changes
    expect(page.locator("#reason-error")).to_have_text("请写明申请人需要补正的内容。")
    console.shot(page, "review-return-needs-reason")
    page.fill("#reason", "租赁合同缺少房东签字，请补充后重新提交。")
    page.click("button:has-text('退回补正')")
    expect(page.locator(".flash.ok")).to_contain_text("已退回补正")
    console.shot(page, "review-returned")

    page.click(f"text={second}")
    page.click("button:has-text('开始审核')")
    expect(page.locator(".flash.ok")).to_contain_text("已开始审核")
    console.expect_status(409)
    page.click("button:has-text('批准并制发居住证')")  # the photo is still owed (容缺)
    expect(page.locator(".flash.error")).to_contain_text(re.compile("photo|照片"))
    console.shot(page, "review-approve-blocked")

    page.click("header.top nav >> text=满六个月")
    expect(page.locator("h1")).to_have_text("居住满六个月")
    console.shot(page, "maturity")

    page.click("header.top nav >> text=人口查询")
    page.fill("#q", phone)
    page.click("button:has-text('查询')")
    expect(page.locator("table")).to_contain_text("曹文静")
    assert phone not in page.content()
    console.shot(page, "residents-search")
    page.click("text=曹文静")
    console.expect_status(422)
    page.click("button:has-text('查看完整号码')")
    expect(page.locator("#reason-error")).to_be_visible()
    page.fill("#reason", "核对居住证申请人联系电话")
    page.click("button:has-text('查看完整号码')")
    expect(page.locator("strong.unmasked").filter(has_text=phone)).to_have_count(1)
    console.shot(page, "residents-unmasked")
    page.goto(page.url.removesuffix("/unmask"))  # opened again: masked (the numbers were in that one answer only)
    expect(page.locator("strong.unmasked")).to_have_count(0)
    assert phone not in page.content()


def test_a_receipt_is_printed_with_its_qr(console, server, tmp_path):
    """A permit handed over by the Python tablet client; the clerk opens its print view."""
    api = StationApi(server.base, server.passwords)
    delivery = api.permit_out_for_delivery(clock.today(), name="钱玉兰")
    tablet = TabletClient(str(tmp_path / "tablet.sqlite3"), sleep=lambda s: None)
    tablet.enroll(server.base, api.enrolment_code("打印回执用的平板"))
    tablet.login("demo.officer", server.passwords["demo.officer"])
    tablet.sync()
    tablet.handover(delivery["id"], "self", delivery["identity_number"])
    assert tablet.sync().applied == 1, tablet.rejections()
    tablet.close()

    page = console.page()
    log_in(page, server, "demo.staff")
    page.click("header.top nav >> text=送达回执")
    assert delivery["permit_number"] in page.locator("table").inner_text()
    page.click("text=打印页")
    assert page.locator("h1").inner_text() == "居住证送达回执"
    assert page.locator("figure.receipt-qr svg path").count() == 1
    console.shot(page, "receipt-print")
    page.emulate_media(media="print")
    assert not page.locator("header.top").is_visible()  # on paper: the receipt alone
    console.shot(page, "receipt-print-paper")
