"""The server passes the shared vectors: the same facts a tablet's tests check, checked here
against the server's own code paths (ID validation, Device-Proof verification, receipt signing
and verification, mutation input schemas, the field merge, refusal reasons read in Chinese)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import serialization

from app import pii
from app.auth import proof
from app.errors import Unprocessable
from doorstep_protocol.encoding import b32, b32_decode
from doorstep_protocol.testing import vectors
from field_api.delivery import receipt_token

IDS = vectors("identity_numbers")
TODAY = date.fromisoformat(IDS["today"])
PROOFS = vectors("device_proofs")
RECEIPTS = vectors("receipts")
MUTATIONS = vectors("mutations")
CONFLICTS = vectors("conflicts")
REASONS = vectors("reasons")


@pytest.mark.parametrize("case", IDS["valid"], ids=lambda c: c["canonical"])
def test_server_accepts_valid_identity_numbers(case):
    assert pii.normalize_identity(case["input"], today=TODAY) == case["canonical"]


@pytest.mark.parametrize("case", IDS["invalid"], ids=lambda c: f"{c['reason']}:{c['input']!r}")
def test_server_refuses_invalid_identity_numbers(case):
    with pytest.raises(pii.InvalidPII):
        pii.normalize_identity(case["input"], today=TODAY)


@pytest.mark.parametrize("case", PROOFS["cases"], ids=lambda c: c["target"])
def test_server_verifies_vector_device_proofs(case):
    args = {
        "jwk": PROOFS["public_jwk"],
        "method": case["method"],
        "target": case["target"],
        "access_token": case["access_token"],
        "now_seconds": case["seconds"] + 5,
        "max_age": 60,
    }
    proof.verify(case["header"], **args)
    with pytest.raises(proof.ProofError):
        proof.verify(case["header"], **{**args, "target": case["target"] + "/x"})
    with pytest.raises(proof.ProofError):
        proof.verify(case["header"], **{**args, "access_token": case["access_token"] + "x"})


@pytest.mark.parametrize("header", PROOFS["malformed_headers"])
def test_server_refuses_malformed_device_proofs(header):
    with pytest.raises(proof.ProofError):
        proof.verify(
            header,
            jwk=PROOFS["public_jwk"],
            method="POST",
            target="/api/v1/sync/push",
            access_token="t",
            now_seconds=1772433000,
            max_age=60,
        )


@pytest.mark.parametrize("case", RECEIPTS["cases"], ids=lambda c: c["inputs"]["permit_number"].strip())
def test_server_verifies_vector_receipts_and_signs_the_same_bytes(case):
    i = case["inputs"]
    at = datetime.fromtimestamp(i["iat"], tz=UTC)
    result = receipt_token.verify_receipt(case["token"], RECEIPTS["server_jwks"], now=at)
    assert result.valid, result.reasons
    assert result.claims["identity_hint"] == case["payload"]["ih"]
    assert receipt_token.hint_matches(result.claims, i["identity_number"])
    compact = receipt_token.verify_receipt(case["compact"]["token"], RECEIPTS["server_jwks"], now=at)
    assert compact.valid, compact.reasons
    assert compact.claims == result.claims  # one receipt, whichever format it travels in
    key = serialization.load_pem_private_key(RECEIPTS["device_private_key_pem"].encode(), password=None)
    token = receipt_token.sign_receipt(
        key,
        RECEIPTS["device_credential"],
        permit_number=i["permit_number"],
        recipient_name=i["recipient_name"],
        identity_number=i["identity_number"],
        seq=i["seq"],
        jti=bytes.fromhex(i["jti_hex"]),
        iat=i["iat"],
    )
    signed = b32_decode(token.removeprefix(RECEIPTS["compact_prefix"]))[:-64]
    assert signed.hex() == case["compact"]["signing_input_hex"]
    assert receipt_token.qr_version(token) <= receipt_token.QR_MAX_VERSION


def test_a_tampered_vector_receipt_is_refused():
    case = RECEIPTS["cases"][0]
    head, _payload, signature = case["token"].split(".")
    other = RECEIPTS["cases"][1]["token"].split(".")[1]
    result = receipt_token.verify_receipt(
        f"{head}.{other}.{signature}",
        RECEIPTS["server_jwks"],
        now=datetime.fromtimestamp(case["inputs"]["iat"], tz=UTC),
    )
    assert not result.valid and result.reasons == ["signature-invalid"]
    # the compact one: another case's claims under this case's credential and signature
    mine, theirs = (b32_decode(c["compact"]["token"][4:]) for c in RECEIPTS["cases"][:2])
    spliced = RECEIPTS["compact_prefix"] + b32(mine[:154] + theirs[154:-64] + mine[-64:])
    result = receipt_token.verify_receipt(spliced, RECEIPTS["server_jwks"])
    assert not result.valid and result.reasons == ["signature-invalid"]


def _schema(case):
    """The schema the server loads this (entity, op) with: the one its domain registered with sync."""
    from sync.registry import schema_of

    schema = schema_of(case["entity"], case["op"])
    assert schema is not None, f"no handler registered for {case['entity']}.{case['op']}"
    return schema


@pytest.mark.parametrize("case", MUTATIONS["valid"], ids=lambda c: f"{c['entity']}.{c['op']}")
def test_server_loads_vector_mutation_data(app, case):
    from sync.handling import load

    with app.test_request_context():
        load(_schema(case), case["data"])


@pytest.mark.parametrize("case", MUTATIONS["invalid"], ids=lambda c: f"{c['entity']}.{c['op']}:{c['field']}")
def test_server_refuses_vector_mutation_data_naming_the_field(app, case):
    from sync.handling import load

    with app.test_request_context(), pytest.raises(Unprocessable) as caught:
        load(_schema(case), case["data"])
    assert case["field"] in caught.value.errors


@pytest.mark.parametrize("case", CONFLICTS["cases"], ids=lambda c: c["name"])
def test_server_merge_follows_the_vectors(case):
    from sync.handling import merge

    record = SimpleNamespace(field_versions=case["field_versions"])
    assert merge(record, case["base_version"], case["data"], case["current"]) == (
        case["apply"],
        case["conflict_fields"],
    )


@pytest.mark.parametrize("case", REASONS["cases"], ids=lambda c: c["note"])
def test_server_reads_vector_reasons_in_chinese(app, case):
    from app.web.i18n import translate_reason

    with app.test_request_context("/api/v1/sync/push", headers={"Accept-Language": REASONS["accept_language"]}):
        assert translate_reason(case["reason"]) == case["expected"]


def test_the_reason_vectors_are_what_the_catalogue_makes_now():
    """A catalogue that words a reason otherwise, or drops its template, leaves the file stale:
    regenerate it (``python -m tests.doorstep_protocol.make_vectors``) and the tablet's test reads it."""
    from tests.doorstep_protocol.make_vectors import reasons

    assert reasons() == REASONS
