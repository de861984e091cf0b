"""The protocol package reproduces its own vectors: the canonical bytes every side must build."""

from __future__ import annotations

from datetime import date

import pytest
from cryptography.hazmat.primitives import serialization

from doorstep_protocol import device_proof, identity, receipts
from doorstep_protocol.credentials import read_payload
from doorstep_protocol.encoding import b32, b32_decode, b64url, b64url_decode, json_bytes
from doorstep_protocol.merge import merge_fields
from doorstep_protocol.testing import receipt_claims, vectors

IDS = vectors("identity_numbers")
TODAY = date.fromisoformat(IDS["today"])
PROOFS = vectors("device_proofs")
RECEIPTS = vectors("receipts")
CONFLICTS = vectors("conflicts")


@pytest.mark.parametrize("case", IDS["valid"], ids=lambda c: c["canonical"])
def test_valid_identity_numbers_normalise(case):
    assert identity.validate(case["input"], today=TODAY) == case["canonical"]


@pytest.mark.parametrize("case", IDS["invalid"], ids=lambda c: f"{c['reason']}:{c['input']!r}")
def test_invalid_identity_numbers_name_their_reason(case):
    with pytest.raises(identity.InvalidIdentityNumber) as caught:
        identity.validate(case["input"], today=TODAY)
    assert caught.value.reason == case["reason"]


@pytest.mark.parametrize("case", IDS["hint_forms"], ids=lambda c: c["normalized"])
def test_hint_form(case):
    assert identity.normalize_for_hint(case["input"]) == case["normalized"]


@pytest.mark.parametrize("value", IDS["hint_form_invalid"])
def test_empty_hint_form_is_refused(value):
    with pytest.raises(ValueError):
        identity.normalize_for_hint(value)


@pytest.mark.parametrize("case", PROOFS["cases"], ids=lambda c: c["target"])
def test_device_proof_signing_input(case):
    assert device_proof.token_hash(case["access_token"]) == case["token_hash"]
    assert (
        device_proof.signing_input(
            case["method"], case["target"], case["seconds"], case["nonce"], case["access_token"]
        ).decode()
        == case["signing_input"]
    )
    seconds, nonce, signature = device_proof.parse_header(case["header"])
    assert (seconds, nonce, len(signature)) == (case["seconds"], case["nonce"], 64)
    assert device_proof.header_value(seconds, nonce, signature) == case["header"]


@pytest.mark.parametrize("header", PROOFS["malformed_headers"])
def test_malformed_device_proof_headers_do_not_parse(header):
    with pytest.raises(ValueError):
        device_proof.parse_header(header)


@pytest.mark.parametrize("case", RECEIPTS["cases"], ids=lambda c: c["inputs"]["permit_number"].strip())
def test_receipt_payload_and_signing_input(case):
    i = case["inputs"]
    payload = receipt_claims(i)
    assert payload == case["payload"]
    assert json_bytes(payload).decode("utf-8") == case["payload_json"]
    assert receipts.header(RECEIPTS["device_credential"]) == case["header"]
    assert receipts.signing_input(case["header"], json_bytes(payload)).decode() == case["signing_input"]
    assert case["token"].rsplit(".", 1)[0] == case["signing_input"]
    assert len(case["token"]) <= receipts.QR_CAPACITY
    compact = receipts.compact_signing_input(RECEIPTS["device_credential"], payload)
    assert compact.hex() == case["compact"]["signing_input_hex"]
    credential, claims, signed, _signature = receipts.read_compact(case["compact"]["token"])
    assert (credential, claims, signed) == (RECEIPTS["device_credential"], payload, compact)
    assert case["compact"]["token"].startswith(RECEIPTS["compact_prefix"])
    assert len(case["compact"]["token"]) <= RECEIPTS["qr_capacity"] == receipts.QR_CAPACITY


@pytest.mark.parametrize("case", RECEIPTS["compact_invalid"], ids=lambda c: c["error"])
def test_compact_receipt_refuses(case):
    i = {**RECEIPTS["cases"][0]["inputs"], **case["change"]}
    claims = receipt_claims(i)
    with pytest.raises(ValueError, match=case["error"]):
        receipts.compact_signing_input(RECEIPTS["device_credential"], claims)


@pytest.mark.parametrize(
    "text",
    ["", "DR2-", "DR2-a", "DR1-AAAA", "DR2-" + "A" * 400, "DR2-AI7QZGSSNMPEY7M2F4GU5C3MDIAXUHJOH5FVYT"],
)
def test_what_is_no_compact_receipt(text):
    with pytest.raises(ValueError):
        receipts.read_compact(text)


def test_a_compact_receipt_of_another_format_number_is_refused():
    token = RECEIPTS["cases"][0]["compact"]["token"]
    raw = b32_decode(token[len(receipts.COMPACT_PREFIX) :])
    with pytest.raises(ValueError, match="format"):
        receipts.read_compact(receipts.COMPACT_PREFIX + b32(b"\x03" + raw[1:]))


@pytest.mark.parametrize("case", RECEIPTS["invalid"], ids=lambda c: c["error"])
def test_receipt_payload_refuses(case):
    i = {**RECEIPTS["cases"][0]["inputs"], **case["change"]}
    with pytest.raises(ValueError, match=case["error"]):
        receipt_claims(i)


def test_the_credential_binds_the_vectors_device_key():
    key = serialization.load_pem_private_key(RECEIPTS["device_private_key_pem"].encode(), password=None)
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    fields = read_payload(b64url_decode(RECEIPTS["device_credential"].split(".")[1]))
    assert fields["public_key_point"] == point
    assert fields["device_id"] == "3f0c9a52-6b1e-4c7d-9a2f-0d4e8b6c1a01"


@pytest.mark.parametrize("case", CONFLICTS["cases"], ids=lambda c: c["name"])
def test_field_merge(case):
    apply, clashes = merge_fields(case["field_versions"], case["base_version"], case["data"], case["current"])
    assert (apply, clashes) == (case["apply"], case["conflict_fields"])


@pytest.mark.parametrize("text", ["a", "AAAA=", "A+/A", "AB", "AAB"])
def test_non_canonical_base64url_is_refused(text):
    with pytest.raises(ValueError):
        b64url_decode(text)


@pytest.mark.parametrize("text", ["", "AA", "AAA", "_-8"])
def test_canonical_base64url_round_trips(text):
    assert b64url(b64url_decode(text)) == text
