"""Door-to-door delivery: a permit goes out as a dispatched visit, the officer checks who takes
it, the tablet signs a receipt, the server accepts it once and countersigns, and anyone can
verify the QR."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from app import clock
from app.auth.credentials import jws_sign
from app.workdays import local_now
from doorstep_protocol import receipts as protocol
from doorstep_protocol.encoding import json_bytes
from field_api.delivery.receipt_token import decode_png, sign_receipt
from tests.factories import if_match, mobile
from tests.fixtures.field import materials, person

ALL = materials("identity_card", "rental_contract", "photo")


@dataclass
class Out:
    body: dict
    delivery: dict
    device: object
    tokens: dict
    citizen: object

    @property
    def headers(self):
        return {"Authorization": f"Bearer {self.tokens['access_token']}"}


def issue_permit(field, world, phone):
    body, _ = field.matured_resident(phone=phone)
    app_id = field.apply(world.staff[0], identity_number=body["identity_number"], materials=ALL).json["id"]
    field.act(world.staff[0], app_id, "review")
    approved = field.act(world.staff[0], app_id, "decision", decision="approve", code="OK").json
    return body, approved


@pytest.fixture
def out_for_delivery(field, client, make, world):
    """A permit out for delivery, assigned to station 0's officer, on the officer's tablet manifest."""
    phone = mobile()
    citizen = make.user("citizen", phone=phone)
    body, approved = issue_permit(field, world, phone)
    staff = make.auth(world.staff[0])
    day = local_now().date().isoformat()
    delivery = client.post(
        "/api/v1/deliveries",
        json={"permit_id": approved["permit_id"], "day": day, "window_start": "14:00", "window_end": "17:00"},
        headers=staff,
    )
    assert delivery.status_code == 201, delivery.json
    assign = client.post(
        f"/api/v1/visits/{delivery.json['visit_id']}/assign",
        json={"officer_id": str(world.officer[0].id)},
        headers=if_match(client, f"/api/v1/visits/{delivery.json['visit_id']}", staff),
    )
    assert assign.status_code == 200, assign.json
    device = make.device(world.stations[0])
    tokens = make.tokens(world.officer[0], device)
    assert tokens.get("device_credential")
    out = Out(body, delivery.json, device, tokens, citizen)
    manifest = client.get("/api/v1/deliveries/manifest", headers=out.headers)
    assert manifest.status_code == 200, manifest.json
    assert [e["permit_number"] for e in manifest.json] == [approved["permit_number"]]
    return out


def _receipt(out, seq=1, identity=None, key=None, credential=None, permit=None):
    return sign_receipt(
        key or out.device.private_key,
        credential or out.tokens["device_credential"],
        permit_number=permit or out.delivery["permit_number"],
        recipient_name=out.body["name"],
        identity_number=identity or out.body["identity_number"],
        seq=seq,
    )


def _handover(client, out, token, **overrides):
    body = {"recipient": "self", "identity_number": out.body["identity_number"], "receipt": token, **overrides}
    return client.post(f"/api/v1/deliveries/{out.delivery['id']}/handover", json=body, headers=out.headers)


def test_the_whole_way_to_the_door_and_back(client, make, world, out_for_delivery):
    out = out_for_delivery
    token = _receipt(out)
    resp = _handover(client, out, token)
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "delivered" and resp.json["recipient_name"].startswith("张")
    visit = client.get(f"/api/v1/visits/{out.delivery['visit_id']}", headers=make.auth(world.staff[0])).json
    assert visit["status"] == "completed"

    receipt = client.get(f"/api/v1/receipts/{resp.json['receipt_id']}", headers=make.auth(out.citizen))
    assert receipt.status_code == 200 and receipt.json["token"] == token
    png = client.get(f"/api/v1/receipts/{resp.json['receipt_id']}/qr.png", headers=make.auth(out.citizen))
    assert png.mimetype == "image/png"
    scanned = decode_png(png.data)
    assert scanned == receipt.json["countersignature"]
    verdict = client.post("/api/v1/receipts/verify", json={"token": scanned}).json
    assert verdict["valid"] is True and verdict["claims"]["permit_number"] == out.delivery["permit_number"]
    verdict = client.post("/api/v1/receipts/verify", json={"token": token}).json
    assert verdict["valid"] is True and verdict["claims"]["recorded"] is True
    assert "identity" not in str(verdict["claims"]).lower().replace("identity_hint", "")
    svg = client.get(f"/api/v1/receipts/{resp.json['receipt_id']}/qr.svg?of=receipt", headers=make.auth(out.citizen))
    assert svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    # the permit cannot be handed over twice
    assert _handover(client, out, _receipt(out, seq=2)).status_code == 409


def test_a_first_format_receipt_is_still_accepted_recorded_and_verified(client, out_for_delivery):
    """A tablet that signed before the compact format (decision 97) and syncs afterwards: its JWS
    receipt is accepted, and anyone can still verify it, recorded, as before."""
    out = out_for_delivery
    payload = protocol.payload(
        jti=os.urandom(16),
        iat=int(clock.timestamp()),
        permit_number=out.delivery["permit_number"],
        recipient_name=out.body["name"],
        identity_number=out.body["identity_number"],
        seq=1,
    )
    credential = out.tokens["device_credential"]
    token = jws_sign(dict(protocol.header(credential)), json_bytes(payload), out.device.private_key)
    assert token.startswith("eyJ") and _handover(client, out, token).status_code == 200
    verdict = client.post("/api/v1/receipts/verify", json={"token": token}).json
    assert (verdict["valid"], verdict["signature_valid"], verdict["recorded"]) == (True, True, True)
    assert verdict["claims"]["permit_number"] == out.delivery["permit_number"]


def test_the_wrong_person_does_not_get_the_permit(client, out_for_delivery):
    out = out_for_delivery
    stranger = person()["identity_number"]
    resp = _handover(client, out, _receipt(out, identity=stranger), identity_number=stranger)
    assert resp.status_code == 422 and "identity_number" in resp.json["errors"]


def test_a_proxy_with_relation_and_their_own_identity(client, out_for_delivery):
    out = out_for_delivery
    proxy = person(name="李娜")["identity_number"]
    missing = _handover(client, out, _receipt(out, identity=proxy), recipient="proxy", identity_number=proxy)
    assert missing.status_code == 422 and "proxy_name" in missing.json["errors"]
    resp = _handover(
        client,
        out,
        _receipt(out, seq=2, identity=proxy),
        recipient="proxy",
        identity_number=proxy,
        proxy_name="李娜",
        proxy_relation="配偶",
    )
    assert resp.status_code == 200 and resp.json["recipient_kind"] == "proxy" and resp.json["recipient_name"] == "李*"


def test_a_hint_for_someone_else_is_refused(client, out_for_delivery):
    out = out_for_delivery
    resp = _handover(client, out, _receipt(out, identity=person()["identity_number"]))
    assert resp.status_code == 422 and "identity-hint-mismatch" in resp.json["errors"]["receipt"]


def test_only_permits_on_this_devices_manifest(client, make, world, out_for_delivery):
    out = out_for_delivery
    other = make.device(world.stations[0])
    tokens = make.tokens(world.officer[0], other)
    token = sign_receipt(
        other.private_key,
        tokens["device_credential"],
        permit_number=out.delivery["permit_number"],
        recipient_name=out.body["name"],
        identity_number=out.body["identity_number"],
        seq=1,
    )
    resp = client.post(
        f"/api/v1/deliveries/{out.delivery['id']}/handover",
        json={"recipient": "self", "identity_number": out.body["identity_number"], "receipt": token},
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert resp.status_code == 422 and "not-on-manifest" in resp.json["errors"]["receipt"]


def test_another_permit_number_or_a_tampered_token(client, out_for_delivery):
    out = out_for_delivery
    resp = _handover(client, out, _receipt(out, permit="XX00-2026-999999"))
    assert resp.status_code == 422 and "permit-mismatch" in resp.json["errors"]["receipt"]
    token = _receipt(out)
    at = len(token) - 10  # a character of the device's signature
    tampered = token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1 :]
    resp = _handover(client, out, tampered)
    assert resp.status_code == 422 and resp.json["type"].endswith("/receipt-refused")
    assert client.post("/api/v1/receipts/verify", json={"token": tampered}).json["valid"] is False


def test_seq_and_jti_are_single_use(client, make, world, field, out_for_delivery):
    out = out_for_delivery
    first = _receipt(out, seq=7)
    assert _handover(client, out, first).status_code == 200
    # a second delivery for another resident, on the same device
    phone = mobile()
    body2, approved2 = issue_permit(field, world, phone)
    staff = make.auth(world.staff[0])
    d2 = client.post(
        "/api/v1/deliveries",
        json={
            "permit_id": approved2["permit_id"],
            "day": local_now().date().isoformat(),
            "window_start": "14:00",
            "window_end": "17:00",
        },
        headers=staff,
    ).json
    client.post(
        f"/api/v1/visits/{d2['visit_id']}/assign",
        json={"officer_id": str(world.officer[0].id)},
        headers=if_match(client, f"/api/v1/visits/{d2['visit_id']}", staff),
    )
    client.get("/api/v1/deliveries/manifest", headers=out.headers)
    reused_seq = sign_receipt(
        out.device.private_key,
        out.tokens["device_credential"],
        permit_number=d2["permit_number"],
        recipient_name=body2["name"],
        identity_number=body2["identity_number"],
        seq=7,
    )
    resp = client.post(
        f"/api/v1/deliveries/{d2['id']}/handover",
        headers=out.headers,
        json={"recipient": "self", "identity_number": body2["identity_number"], "receipt": reused_seq},
    )
    assert resp.status_code == 422 and resp.json["errors"]["receipt"] == ["seq-reused"]
    resp = client.post(
        f"/api/v1/deliveries/{d2['id']}/handover",
        headers=out.headers,
        json={"recipient": "self", "identity_number": body2["identity_number"], "receipt": first},
    )
    assert resp.status_code == 422 and "jti-reused" in resp.json["errors"]["receipt"]


def test_receipts_signed_after_revocation_are_refused(client, make, world, out_for_delivery):
    out = out_for_delivery
    client.post(f"/api/v1/devices/{out.device.id}/revoke", json={"mode": "retired"}, headers=make.auth(world.staff[0]))
    late = _receipt(out)
    # the officer hands it in from a desk login (the tablet itself is refused)
    desk = make.auth(world.officer[0])
    resp = client.post(
        f"/api/v1/deliveries/{out.delivery['id']}/handover",
        headers=desk,
        json={"recipient": "self", "identity_number": out.body["identity_number"], "receipt": late},
    )
    assert resp.status_code == 422 and "device-revoked" in resp.json["errors"]["receipt"]
    verdict = client.post("/api/v1/receipts/verify", json={"token": late}).json
    assert verdict["valid"] is False and "device-revoked" in verdict["reasons"]


def test_manifest_needs_a_device(client, make, world):
    resp = client.get("/api/v1/deliveries/manifest", headers=make.auth(world.officer[0]))
    assert resp.status_code == 403 and resp.json["type"].endswith("/device-required")


def test_the_tablet_gets_no_hash_of_the_identity_number(client, make, world, out_for_delivery):
    """A hash of ``<delivery id>:<identity number>`` falls to a search of the ID space: the tablet
    gets the masked form only, whether it asks for the manifest or pulls the delivery."""
    import hashlib

    out = out_for_delivery
    identity = out.body["identity_number"]
    [entry] = client.get("/api/v1/deliveries/manifest", headers=out.headers).json
    pulled = client.post("/api/v1/sync/pull", json={"protocol": 1}, headers=out.headers).json
    [doc] = [c["data"] for c in pulled["changes"] if c["entity"] == "delivery"]
    for shown in (entry, doc):
        assert shown["identity_masked"] == identity[:4] + "*" * 10 + identity[-4:]
        text = str(shown)
        assert hashlib.sha256(f"{out.delivery['id']}:{identity}".encode()).hexdigest() not in text
        assert identity not in text


def test_verify_tells_a_signature_from_a_recorded_handover(client, make, world, out_for_delivery):
    """A receipt the server never recorded (signed on a tablet, never handed in; or backdated)
    verifies as a signature, but is not a handover."""
    out = out_for_delivery
    unsent = _receipt(out, seq=7)
    verdict = client.post("/api/v1/receipts/verify", json={"token": unsent}).json
    assert (verdict["valid"], verdict["signature_valid"], verdict["recorded"], verdict["revoked"]) == (
        False,
        True,
        False,
        False,
    )
    assert "not-recorded" in verdict["reasons"]
    client.post(f"/api/v1/devices/{out.device.id}/revoke", json={"mode": "lost"}, headers=make.auth(world.staff[0]))
    late = client.post("/api/v1/receipts/verify", json={"token": _receipt(out, seq=8)}).json
    assert late["signature_valid"] is True and late["revoked"] is True and late["valid"] is False
