"""The reference client passes the shared vectors (doorstep_protocol/vectors), as any client must."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from doorstep_client import keys, receipts
from doorstep_protocol import device_proof
from doorstep_protocol.encoding import b32_decode, b64url_decode
from doorstep_protocol.testing import vectors

PROOFS = vectors("device_proofs")
RECEIPTS = vectors("receipts")


def _verifies(jwk: dict, data: bytes, signature: bytes) -> bool:
    x, y = (int.from_bytes(b64url_decode(jwk[k]), "big") for k in ("x", "y"))
    key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        key.verify(der, data, ec.ECDSA(hashes.SHA256()))
    except Exception:
        return False
    return True


@pytest.mark.parametrize("case", PROOFS["cases"], ids=lambda c: c["target"])
def test_the_client_signs_device_proofs_over_the_vector_bytes(case):
    key = keys.load_private_key(PROOFS["private_key_pem"])
    assert keys.public_jwk(key) == PROOFS["public_jwk"]
    header = keys.proof_header(key, case["method"], case["target"], case["access_token"], case["seconds"])
    seconds, nonce, signature = device_proof.parse_header(header)
    assert seconds == case["seconds"]
    data = device_proof.signing_input(case["method"], case["target"], seconds, nonce, case["access_token"])
    assert _verifies(PROOFS["public_jwk"], data, signature)
    assert not _verifies(PROOFS["public_jwk"], data + b"x", signature)
    _, _, vector_signature = device_proof.parse_header(case["header"])
    assert _verifies(PROOFS["public_jwk"], case["signing_input"].encode(), vector_signature)


@pytest.mark.parametrize("case", RECEIPTS["cases"], ids=lambda c: c["inputs"]["permit_number"].strip())
def test_the_client_signs_receipts_over_the_vector_bytes(case):
    i = case["inputs"]
    key = keys.load_private_key(RECEIPTS["device_private_key_pem"])
    token = receipts.sign_receipt(
        key,
        RECEIPTS["device_credential"],
        permit_number=i["permit_number"],
        recipient_name=i["recipient_name"],
        identity_number=i["identity_number"],
        seq=i["seq"],
        jti=bytes.fromhex(i["jti_hex"]),
        iat=i["iat"],
    )
    raw = b32_decode(token.removeprefix(RECEIPTS["compact_prefix"]))
    signing_input, signature = raw[:-64], raw[-64:]
    assert token.startswith(RECEIPTS["compact_prefix"]) and signing_input.hex() == case["compact"]["signing_input_hex"]
    assert _verifies(RECEIPTS["device_public_jwk"], signing_input, signature)
    assert len(token) <= RECEIPTS["qr_capacity"]


def test_the_client_refuses_to_sign_with_another_devices_credential():
    i = RECEIPTS["cases"][0]["inputs"]
    other = keys.load_private_key(keys.new_private_key_pem())
    with pytest.raises(receipts.ReceiptError, match="another device key"):
        receipts.sign_receipt(
            other,
            RECEIPTS["device_credential"],
            permit_number=i["permit_number"],
            recipient_name=i["recipient_name"],
            identity_number=i["identity_number"],
            seq=i["seq"],
            jti=bytes.fromhex(i["jti_hex"]),
            iat=i["iat"],
        )


@pytest.mark.parametrize("case", RECEIPTS["invalid"], ids=lambda c: c["error"])
def test_the_client_refuses_receipt_input_no_receipt_may_carry(case):
    i = {**RECEIPTS["cases"][0]["inputs"], **case["change"]}
    key = keys.load_private_key(RECEIPTS["device_private_key_pem"])
    with pytest.raises(ValueError, match=case["error"]):
        receipts.sign_receipt(
            key,
            RECEIPTS["device_credential"],
            permit_number=i["permit_number"],
            recipient_name=i["recipient_name"],
            identity_number=i["identity_number"],
            seq=i["seq"],
            jti=bytes.fromhex(i["jti_hex"]),
            iat=i["iat"],
        )
