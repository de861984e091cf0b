"""The officer's tablet (/tablet) in Chromium against a real server: installable, works with the
network off, speaks the sync protocol like the reference client (the shared vectors run in the
page), and a day's work done offline reaches the server once it is back online.
Screenshots go to ``build/screenshots/tablet/``."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from app import clock
from doorstep_protocol.encoding import P256_ORDER, b32_decode, b64url_decode
from doorstep_protocol.receipts import read_compact
from doorstep_protocol.testing import vectors
from field_api.delivery.receipt_token import qr_version, verify_receipt
from tests.browser.harness import ROOT, Watched
from tests.browser.station_api import StationApi
from tests.factories import valid_identity

SHOTS = ROOT / "build" / "screenshots" / "tablet"
LANDSCAPE = {"width": 1280, "height": 800}
PORTRAIT = {"width": 800, "height": 1280}
# A 1×1 PNG: a photo of a document as far as the tablet and the server are concerned.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC")


def shot(page, name: str, size: dict) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(size)
    path = SHOTS / f"{name}-{size['width']}x{size['height']}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def tablet(browser, server):
    """A fresh tablet browser (no storage, no service worker yet), in Chinese, landscape."""
    context = browser.new_context(
        locale="zh-CN",
        timezone_id="Asia/Shanghai",  # a station's tablet keeps Beijing time
        viewport=LANDSCAPE,
        service_workers="allow",
        extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"},
    )
    watched = Watched(context, server.base)
    yield watched
    context.close()
    assert watched.foreign == [], f"requests left 127.0.0.1: {watched.foreign}"
    assert watched.unexpected_errors() == [], f"console errors: {watched.errors}"


@pytest.fixture(scope="module")
def station(server):
    return StationApi(server.base, server.passwords)


def open_tablet(watched, server):
    page = watched.page()
    page.goto(f"{server.base}/tablet/")
    page.wait_for_selector("body[data-ready='1']")
    # The worker controls the page once it has cached the shell (clients.claim on activation).
    page.evaluate(
        """async () => {
          await navigator.serviceWorker.ready;
          if (!navigator.serviceWorker.controller) {
            await new Promise(r => navigator.serviceWorker.addEventListener('controllerchange', r, {once: true}));
          }
        }"""
    )
    return page


def today() -> date:
    return clock.now().astimezone(clock.LOCAL_TZ).date()


# -- the shell ---------------------------------------------------------------------------------


def test_the_shell_is_an_installable_app_that_opens_with_the_network_off(tablet, server):
    page = open_tablet(tablet, server)
    manifest = page.evaluate("fetch('/tablet/manifest.webmanifest').then(r => r.json())")
    assert manifest["start_url"] == "/tablet/" and manifest["display"] == "standalone"
    assert {i["sizes"] for i in manifest["icons"]} == {"192x192", "512x512"}
    assert page.evaluate("navigator.serviceWorker.controller.scriptURL").endswith("/tablet/sw.js")
    tablet.context.set_offline(True)
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("h1").inner_text() == "启用平板"
    assert page.locator("#network").inner_text() == "离线"
    shot(page, "enrol-offline", LANDSCAPE)
    tablet.context.set_offline(False)


# -- the shared vectors, in the page ---------------------------------------------------------------


def run_module(page, module: str, script: str, arg):
    return page.evaluate(
        f"async (arg) => {{ const m = await import('/tablet/static/js/{module}.js'); {script} }}",
        arg,
    )


def test_identity_numbers_are_judged_as_the_protocol_vectors_say(tablet, server):
    page = open_tablet(tablet, server)
    v = vectors("identity_numbers")
    got = run_module(
        page,
        "identity",
        "return { valid: arg.valid.map(c => m.validate(c.input, arg.today)), "
        "invalid: arg.invalid.map(c => m.validate(c.input, arg.today)), "
        "hints: arg.hint_forms.map(c => m.normalizeForHint(c.input)), "
        "hintInvalid: arg.hint_form_invalid.map(x => { try { m.normalizeForHint(x); return 'accepted'; } "
        "catch { return 'refused'; } }) };",
        v,
    )
    assert [g.get("canonical") for g in got["valid"]] == [c["canonical"] for c in v["valid"]]
    assert [g.get("reason") for g in got["invalid"]] == [c["reason"] for c in v["invalid"]]
    assert all(g["message"] and not g["message"].isascii() for g in got["invalid"])  # said in Chinese
    assert got["hints"] == [c["normalized"] for c in v["hint_forms"]]
    assert got["hintInvalid"] == ["refused"] * len(v["hint_form_invalid"])


def test_the_servers_reasons_read_in_chinese_as_the_vectors_say(tablet, server):
    """The tablet reads a refused mutation's English reasons in the catalogue's Chinese, those
    with values in them too, as the server words its own problem details (the same vectors run
    through the server's ``translate_reason`` in tests/doorstep_protocol/test_server_agrees.py)."""
    page = open_tablet(tablet, server)
    v = vectors("reasons")
    said = run_module(
        page,
        "reasons",
        "const zh = m.translator(await (await fetch('/tablet/messages.json')).json(), {'seq-reused': '序号重复'});"
        " return { cases: arg.map(c => zh(c.reason)), code: zh('seq-reused') };",
        v["cases"],
    )
    wrong = [(c["note"], got) for c, got in zip(v["cases"], said["cases"], strict=True) if got != c["expected"]]
    assert wrong == []
    assert said["code"] == "序号重复"  # the protocol's codes are the tablet's own: no server reason


def test_mutations_are_checked_before_queueing_as_the_vectors_say(tablet, server):
    page = open_tablet(tablet, server)
    v = vectors("mutations")
    got = run_module(
        page,
        "validate",
        "const today = '2026-03-02';"
        "return { valid: arg.valid.map(c => m.checkMutation(c.entity, c.op, c.data, today)), "
        "invalid: arg.invalid.map(c => m.checkMutation(c.entity, c.op, c.data, today)) };",
        v,
    )
    assert got["valid"] == [{}] * len(v["valid"])
    for case, errors in zip(v["invalid"], got["invalid"], strict=True):
        assert case["field"] in errors, (case, errors)


def _verify(jwk: dict, data: bytes, signature: bytes) -> None:
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(b64url_decode(jwk["x"]), "big"), int.from_bytes(b64url_decode(jwk["y"]), "big"), ec.SECP256R1()
    )
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    assert s <= P256_ORDER // 2, "high S"
    numbers.public_key().verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))


def _pkcs8_b64(pem: str) -> str:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return base64.b64encode(der).decode()


def test_device_proofs_and_receipts_are_signed_as_the_vectors_say(tablet, server):
    page = open_tablet(tablet, server)
    proofs = vectors("device_proofs")
    got = page.evaluate(
        """async (v) => {
          const keys = await import('/tablet/static/js/keys.js');
          const der = Uint8Array.from(atob(v.pkcs8), c => c.charCodeAt(0));
          const ec = {name: 'ECDSA', namedCurve: 'P-256'};
          const key = await crypto.subtle.importKey('pkcs8', der, ec, false, ['sign']);
          const out = [];
          for (const c of v.cases) {
            const bytes = await keys.proofSigningInput(c.method, c.target, c.seconds, c.nonce, c.access_token);
            const input = new TextDecoder().decode(bytes);
            const header = await keys.proofHeader(key, c.method, c.target, c.access_token, c.seconds);
            out.push({hash: await keys.tokenHash(c.access_token), input, header});
          }
          return out;
        }""",
        {**proofs, "pkcs8": _pkcs8_b64(proofs["private_key_pem"])},
    )
    for case, mine in zip(proofs["cases"], got, strict=True):
        assert mine["hash"] == case["token_hash"] and mine["input"] == case["signing_input"]
        seconds, nonce, signature = mine["header"].split(".")
        assert seconds == str(case["seconds"]) and 8 <= len(nonce) <= 64
        signed = "\n".join([case["method"].upper(), case["target"], seconds, nonce, case["token_hash"]]).encode()
        _verify(proofs["public_jwk"], signed, b64url_decode(signature))

    receipts = vectors("receipts")
    got = page.evaluate(
        """async (v) => {
          const r = await import('/tablet/static/js/receipts.js');
          const enc = await import('/tablet/static/js/encoding.js');
          const der = Uint8Array.from(atob(v.pkcs8), c => c.charCodeAt(0));
          const ec = {name: 'ECDSA', namedCurve: 'P-256'};
          const privateKey = await crypto.subtle.importKey('pkcs8', der, ec, false, ['sign']);
          const jwk = {...v.device_public_jwk, ext: true};
          const publicKey = await crypto.subtle.importKey('jwk', jwk, ec, true, ['verify']);
          const facts = (i) => ({jti: enc.fromHex(i.jti_hex), iat: i.iat, permitNumber: i.permit_number,
                                 recipientName: i.recipient_name, identityNumber: i.identity_number, seq: i.seq});
          const cases = [];
          for (const c of v.cases) {
            const payload = await r.payload(facts(c.inputs));
            const token = await r.sign({privateKey, publicKey}, v.device_credential, facts(c.inputs));
            const input = enc.hex(r.compactSigningInput(v.device_credential, payload));
            cases.push({payload_json: JSON.stringify(payload), signing_input_hex: input, token});
          }
          const invalid = [];
          for (const bad of v.invalid) {
            try { await r.payload(facts({...v.cases[0].inputs, ...bad.change})); invalid.push('accepted'); }
            catch (e) { invalid.push(e.message); }
          }
          const compactInvalid = [];
          for (const bad of v.compact_invalid) {
            try {
              const claims = await r.payload(facts({...v.cases[0].inputs, ...bad.change}));
              r.compactSigningInput(v.device_credential, claims);
              compactInvalid.push('accepted');
            } catch (e) { compactInvalid.push(e.message); }
          }
          return {cases, invalid, compactInvalid};
        }""",
        {**receipts, "pkcs8": _pkcs8_b64(receipts["device_private_key_pem"])},
    )
    for case, mine in zip(receipts["cases"], got["cases"], strict=True):
        assert mine["payload_json"] == case["payload_json"]
        assert mine["signing_input_hex"] == case["compact"]["signing_input_hex"]
        token = mine["token"]
        assert token.startswith(receipts["compact_prefix"]) and len(token) <= receipts["qr_capacity"]
        signed = b32_decode(token.removeprefix(receipts["compact_prefix"]))
        assert signed[:-64].hex() == case["compact"]["signing_input_hex"]
        _verify(receipts["device_public_jwk"], signed[:-64], signed[-64:])
        # and the server's verifier reads what the tablet signed as it reads the vector's token
        at = datetime.fromtimestamp(case["inputs"]["iat"], tz=UTC)
        theirs = verify_receipt(token, receipts["server_jwks"], now=at)
        vector = verify_receipt(case["compact"]["token"], receipts["server_jwks"], now=at)
        assert theirs.valid and vector.valid and theirs.claims == vector.claims
    for bad, message in zip(receipts["invalid"], got["invalid"], strict=True):
        assert bad["error"] in message, (bad, message)
    for bad, message in zip(receipts["compact_invalid"], got["compactInvalid"], strict=True):
        assert bad["error"] in message, (bad, message)


# -- a day's work --------------------------------------------------------------------------------


def enrol_and_log_in(page, station, label: str) -> None:
    page.fill("#f-enrollment_code", station.enrolment_code(label))
    page.click("#enroll button[type=submit]")
    page.wait_for_selector("#login")
    page.fill("#f-username", "demo.officer")
    page.fill("#f-password", station.passwords["demo.officer"])
    page.click("#login button[type=submit]")
    page.wait_for_selector("main h1:has-text('今日走访'), #login .notice")
    assert page.locator("#login").count() == 0, page.locator("main").inner_text()
    # The first pull's requests run on after the day is shown; a walk that takes the network away
    # while one is in flight gets Chromium's ERR_INTERNET_DISCONNECTED in the console.
    page.wait_for_load_state("networkidle")


def test_a_day_offline_reaches_the_server_once_back_online(tablet, server, station):
    delivery = station.permit_out_for_delivery(today())
    page = open_tablet(tablet, server)
    shot(page, "enrol", PORTRAIT)
    page.set_viewport_size(LANDSCAPE)
    enrol_and_log_in(page, station, "王建国的平板")
    shot(page, "today", LANDSCAPE)
    assert page.locator(f"[data-visit='{delivery['visit_id']}']").count() == 1
    shot(page, "today", PORTRAIT)
    page.set_viewport_size(LANDSCAPE)

    # The network goes; the app reloads from its cache and its store.
    tablet.context.set_offline(True)
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#network").inner_text() == "离线"
    visit_id = page.locator(".visit").first.get_attribute("data-visit")
    page.click(f"[data-visit='{visit_id}']")
    page.wait_for_selector("#register")

    # A bad identity number is refused on the tablet, in Chinese; a good one is queued.
    page.fill("#f-name", "刘晓峰")
    page.select_option("#f-sex", "male")
    page.fill("#f-identity_number", "110105199003070050")
    page.fill("#f-phone", "13912345678")
    page.set_input_files("#f-photo", {"name": "身份证.png", "mimeType": "image/png", "buffer": PNG})
    page.select_option("#f-reason", "work")
    page.select_option("#f-housing", "rented")
    page.click("#register button[type=submit]")
    assert page.locator("[data-field='landlord_name'] .error").inner_text() == "租住的须填写房东姓名"
    error = page.locator("[data-field='identity_number'] .error")
    assert error.inner_text() == "身份证号码校验位不正确，请核对"
    shot(page, "visit-bad-id", LANDSCAPE)
    page.fill("#f-landlord_name", "陈房东")
    good = valid_identity(region="110105", born="19900307", serial=secrets.randbelow(1000))
    page.fill("#f-identity_number", good)
    page.click("#register button[type=submit]")
    page.wait_for_selector("#residents >> text=刘晓峰")
    assert page.locator("#pending-count").inner_text() == "待上传：2 条"
    shot(page, "visit-registered", LANDSCAPE)
    shot(page, "visit-registered", PORTRAIT)
    page.set_viewport_size(LANDSCAPE)

    # The service worker is killed and the page reloaded, still offline: nothing is lost.
    cdp = tablet.context.new_cdp_session(page)
    cdp.send("ServiceWorker.enable")
    cdp.send("ServiceWorker.stopAllWorkers")
    cdp.detach()
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#pending-count").inner_text() == "待上传：2 条"
    page.click(f"[data-visit='{visit_id}']")
    page.wait_for_selector("#residents >> text=刘晓峰")

    # The permit is handed over at the door: the receipt is signed offline and shown as a QR code.
    page.click("button:has-text('今日走访')")
    page.click(f"[data-visit='{delivery['visit_id']}']")
    page.click(f"[data-delivery='{delivery['id']}'] button")
    page.select_option("#f-recipient", "self")
    page.fill("#f-identity_number", "110105199003070050")
    page.click("#handover button[type=submit]")
    # At the door the card is compared with the permit holder's, not judged (doorstep_protocol).
    assert page.locator("[data-field='identity_number'] .error").inner_text() == "身份证号码与持证人不符"
    page.fill("#f-identity_number", delivery["identity_number"])
    page.click("#handover button[type=submit]")
    page.wait_for_selector("#receipt-qr")
    receipt = page.locator("#receipt-token").text_content()
    assert page.evaluate("document.getElementById('receipt-qr').width") > 0
    # The symbol the server renders for this receipt: alphanumeric mode, level M, the same version
    # (field_api/delivery/receipt_token.py; the encoders may pick different masks).
    drawn = run_module(page, "qr", "return m.matrix(arg);", receipt)
    assert len(drawn) == 17 + 4 * qr_version(receipt) and qr_version(receipt) <= 18
    shot(page, "receipt", LANDSCAPE)
    shot(page, "receipt", PORTRAIT)
    page.set_viewport_size(LANDSCAPE)

    # Meanwhile staff correct the permit holder's phone in the console; the officer, offline,
    # changes it too: both sides changed one field, which is a conflict the server settles.
    holder = station.ok("demo.staff", "GET", f"/api/v1/residents?identity_number={delivery['identity_number']}")[0]
    url = f"/api/v1/residents/{holder['id']}"
    station.ok("demo.staff", "PATCH", url, {"phone": "13700000001"}, {"If-Match": station.etag("demo.staff", url)})
    page.click("#receipt-done")
    page.click(f"[data-resident='{holder['id']}'] button")
    page.fill("#edit-resident #f-phone", "13911112222")
    page.click("#edit-resident button[type=submit]")
    page.wait_for_selector(f"[data-resident='{holder['id']}'] >> text=139****2222")
    assert page.locator("#pending-count").inner_text() == "待上传：4 条"
    shot(page, "visit-offline-edit", LANDSCAPE)

    # Back online: one sync settles everything, and the server has it.
    pushes: list[dict] = []
    page.on("request", lambda r: pushes.append(r.all_headers()) if r.url.endswith("/api/v1/sync/push") else None)
    tablet.context.set_offline(False)  # the tablet syncs by itself when the network returns
    page.wait_for_selector("#pending-count >> text=待上传：0 条")
    page.click("button:has-text('同步')")
    page.wait_for_selector("#sync-result .notice")
    assert "上次同步" in page.locator("#sync-result").inner_text(), page.locator("#sync-result").inner_text()
    assert page.locator("#pending-count").inner_text() == "待上传：0 条"
    shot(page, "synced", LANDSCAPE)
    shot(page, "synced", PORTRAIT)
    assert page.locator("#rejections").count() == 0, page.locator("#rejections").inner_text()
    assert "冲突 1" in page.locator("#sync-result").inner_text()
    assert pushes and pushes[0].get("content-encoding") == "gzip"  # a day's push is compressed
    assert (
        "手机号码：所内为「137****0001」，平板为「139****2222」，以所内为准" in page.locator("#conflicts").inner_text()
    )
    assert station.ok("demo.staff", "GET", url)["phone"].endswith("0001")  # the staff's value stands
    flagged = station.ok("demo.staff", "GET", "/api/v1/sync/conflicts")
    # one conflict on this resident (the demo's own conflict, if not settled yet, is on another)
    assert [c["record_id"] for c in flagged if c["record_id"] == holder["id"]] == [holder["id"]]

    found = station.ok("demo.officer", "GET", f"/api/v1/residents?identity_number={good}")
    assert [r["name"] for r in found] == ["刘晓峰"]
    assert found[0]["photo_sha256"]
    photo = station.ok("demo.officer", "GET", f"/api/v1/attachments/{found[0]['photo_sha256']}")
    assert photo["status"] == "stored"
    on_server = station.ok("demo.staff", "GET", f"/api/v1/deliveries/{delivery['id']}")
    assert on_server["status"] == "delivered" and on_server["receipt_id"]
    recorded = station.ok("demo.staff", "GET", f"/api/v1/receipts/{on_server['receipt_id']}")
    assert recorded["token"] == receipt and recorded["seq"] == 1
    _, payload, _, _ = read_compact(receipt)
    assert payload["pn"] == delivery["permit_number"] and payload["rn"] == "周**"


def test_a_lost_tablet_wipes_its_store_at_the_next_contact(tablet, server, station):
    page = open_tablet(tablet, server)
    enrol_and_log_in(page, station, "将丢失的平板")
    device_id = page.evaluate(
        "import('/tablet/static/js/client.js').then(async m => (await m.Tablet.open()).meta('device_id'))"
    )
    station.ok("demo.staff", "POST", f"/api/v1/devices/{device_id}/revoke", {"mode": "lost"})
    tablet.expect_status(401)
    page.click("button:has-text('同步')")
    page.click("#sync-now")
    page.wait_for_selector("#enroll")
    assert "此平板已被停用，本地数据已清除" in page.locator("main").inner_text()
    left = page.evaluate(
        "import('/tablet/static/js/client.js').then(async m => { const t = await m.Tablet.open();"
        " return [await t.meta('device_id'), await t.meta('access_token'), (await t.records('visit')).length]; })"
    )
    assert left == [None, None, 0]
    shot(page, "wiped", LANDSCAPE)


def test_a_full_day_offline_settles_every_mutation_once(tablet, server, station):
    """Five permits to hand over, thirty people registered with photos of three documents, the
    day's visits closed, all offline; one sync afterwards settles each mutation once."""
    deliveries = [station.permit_out_for_delivery(today(), name=f"送达{n}号") for n in range(5)]
    page = open_tablet(tablet, server)
    enrol_and_log_in(page, station, "整日离线的平板")
    tablet.context.set_offline(True)
    people = [valid_identity(region="110105", born="19920101", serial=secrets.randbelow(1000)) for _ in range(30)]
    people = list(dict.fromkeys(people))
    uploads: list[str] = []
    page.on("request", lambda r: uploads.append(r.url) if r.method == "PUT" and "/attachments/" in r.url else None)
    done = page.evaluate(
        """async ({people, deliveries, png}) => {
          const {Tablet} = await import('/tablet/static/js/client.js');
          const t = await Tablet.open();
          const today = await t.today();
          const visit = await t.record('visit', deliveries[0].visit_id);
          const bytes = Uint8Array.from(atob(png), c => c.charCodeAt(0));
          const photos = [];
          for (let i = 0; i < 3; i++) {
            // three documents: the same picture bytes with a different trailing comment chunk
            const file = new File([bytes, new Uint8Array([i])], `doc${i}.png`, {type: 'image/png'});
            photos.push(await t.addPhoto(file));
          }
          for (const [i, id] of people.entries()) {
            const resident = await t.registerResident({name: `住户${i}`, sex: i % 2 ? 'female' : 'male',
              identity_number: id, phone: `139${String(10000000 + i)}`, photo_sha256: photos[i % 3]});
            await t.registerResidence({resident_id: resident, area_id: visit.data.area_id,
              address: `北山街道${i}号`, start_date: today, reason: 'work', housing: 'rented',
              landlord_name: '陈房东'});
          }
          for (const d of deliveries) {
            await t.handover(d.id, {recipient: 'self', identity_number: d.identity_number});
          }
          for (const v of await t.records('visit')) {
            if (v.data.day === today && ['assigned', 'en_route'].includes(v.data.status)) {
              await t.recordOutcome(v.id, 'completed', '');
            }
          }
          return (await t.pending()).length;
        }""",
        {"people": people, "deliveries": deliveries, "png": base64.b64encode(PNG).decode()},
    )
    assert done >= 2 * len(people) + len(deliveries)
    page.reload()  # still offline: the day is in the store
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#pending-count").inner_text() == f"待上传：{done} 条"

    tablet.context.set_offline(False)
    page.wait_for_selector("#pending-count >> text=待上传：0 条", timeout=60_000)
    page.click("button:has-text('同步')")
    page.wait_for_selector("#sync-result .notice")
    result = page.locator("#sync-result").inner_text()
    assert f"上传 {done} 条（成功 {done}，冲突 0，被拒 0）" in result, result
    assert len(uploads) == 3  # thirty people, three documents: each stored once
    for identity in people:
        assert len(station.ok("demo.officer", "GET", f"/api/v1/residents?identity_number={identity}")) == 1
    seqs = []
    for d in deliveries:
        on_server = station.ok("demo.staff", "GET", f"/api/v1/deliveries/{d['id']}")
        assert on_server["status"] == "delivered"
        seqs.append(station.ok("demo.staff", "GET", f"/api/v1/receipts/{on_server['receipt_id']}")["seq"])
    assert sorted(seqs) == [1, 2, 3, 4, 5]
    # Syncing again sends nothing and changes nothing.
    page.click("#sync-now")
    page.wait_for_selector("#sync-result .notice >> text=上传 0 条")


def test_a_refused_registration_is_shown_and_rolled_back(tablet, server, station):
    """The officer registers someone in an area that is not theirs: the tablet cannot know, the
    server refuses that mutation alone, the tablet shows why and drops what it had assumed."""
    page = open_tablet(tablet, server)
    enrol_and_log_in(page, station, "登记被拒的平板")
    mine = station.officer_area()["id"]
    other = page.evaluate(
        "async (mine) => { const {Tablet} = await import('/tablet/static/js/client.js');"
        " const t = await Tablet.open(); return (await t.records('area')).map(a => a.id).find(id => id !== mine); }",
        mine,
    )
    assert other, "the demo station has a second area"
    tablet.context.set_offline(True)
    page.locator(".visit").first.click()
    page.fill("#f-name", "错区登记")
    page.select_option("#f-sex", "female")
    page.fill("#f-identity_number", valid_identity(region="110105", born="19950505", serial=secrets.randbelow(1000)))
    page.select_option("#f-area_id", other)
    page.select_option("#f-reason", "family")
    page.select_option("#f-housing", "owned")
    page.click("#register button[type=submit]")
    page.wait_for_selector("#residents >> text=错区登记")
    tablet.context.set_offline(False)
    page.wait_for_selector("#pending-count >> text=待上传：0 条")
    page.click("button:has-text('同步')")
    page.wait_for_selector("#sync-result .notice")
    assert "被拒 1" in page.locator("#sync-result").inner_text()
    assert "居住登记 · 新增" in page.locator("#rejections").inner_text()
    assert "责任区：不在负责登记的责任区内" in page.locator("#rejections").inner_text()
    shot(page, "rejected", LANDSCAPE)
    refused = station.ok("demo.staff", "GET", "/api/v1/sync/rejections")
    assert any(r["entity"] == "registration" for r in refused)


def test_a_change_of_areas_resets_the_tablet_to_its_new_scope(tablet, server, station):
    """Staff move the officer to another area: the next pull is a reset, the tablet pulls afresh
    and keeps only what the new scope holds."""
    page = open_tablet(tablet, server)
    enrol_and_log_in(page, station, "换片区的平板")
    held = (
        "import('/tablet/static/js/client.js').then(async m => { const t = await m.Tablet.open();"
        " return (await t.records('registration')).map(r => r.data.area_id); })"
    )
    north = station.officer_area()["id"]
    assert set(page.evaluate(held)) == {north}
    areas = page.evaluate(
        "import('/tablet/static/js/client.js').then(async m => (await (await m.Tablet.open()).records('area'))"
        ".map(a => a.id))"
    )
    east = next(a for a in areas if a != north)
    officer = station.ok("demo.officer", "GET", "/api/v1/me")
    url = f"/api/v1/users/{officer['id']}"
    station.ok("demo.admin", "PATCH", url, {"area_ids": [east]})
    try:
        page.click("button:has-text('同步')")
        page.click("#sync-now")
        page.wait_for_selector("#sync-result .notice >> text=同步完成")
        assert set(page.evaluate(held)) <= {east}
    finally:
        station.ok("demo.admin", "PATCH", url, {"area_ids": [north]})
