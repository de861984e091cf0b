"""Make the receipt test vectors: run once, commit the output, never regenerate casually.
``receipt.txt`` is a receipt of the first format (a compact JWS), ``receipt_compact.txt`` the same
receipt in the compact format tablets sign today; both verify to ``claims.json``.

    .venv/bin/python tests/field_api/delivery/vectors/make_vectors.py          # writes only what is missing
    .venv/bin/python tests/field_api/delivery/vectors/make_vectors.py --force  # new tokens, same keys

Keys (server_key.pem, device_key.pem) are generated only when absent. ECDSA signatures are
randomised, so tokens differ between runs; their header and payload segments do not, and
test_receipt_token.py checks that today's code still produces exactly those segments.
Everything here is fictitious: the ids, the person, the identity number.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[3]))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

SERVER_KID = "vector-server-2026"
INPUTS = {
    "device_id": "3f0c9a52-6b1e-4c7d-9a2f-0d4e8b6c1a01",
    "officer_id": "7a1d2e3f-4b5c-4d6e-8f90-a1b2c3d4e5f6",
    "station_id": "c0ffee00-1234-4abc-8def-0123456789ab",
    "credential_iat": "2026-03-02T00:00:00+00:00",
    "credential_exp": "2026-03-03T00:00:00+00:00",
    "receipt_iat": "2026-03-02T06:30:00+00:00",
    "jti_hex": "00112233445566778899aabbccddeeff",
    "permit_number": "XH01-2026-000123",
    "recipient_name": "张三丰",
    "identity_number": "11010519900307005X",
    "seq": 42,
}


def _key(name: str) -> ec.EllipticCurvePrivateKey:
    path = HERE / name
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def server_key():
    return _key("server_key.pem")


def device_key():
    return _key("device_key.pem")


def credential(server, device) -> str:
    from app.auth.credentials import encode_device_credential

    return encode_device_credential(
        server,
        device_id=INPUTS["device_id"],
        officer_id=INPUTS["officer_id"],
        station_id=INPUTS["station_id"],
        device_public_key=device.public_key(),
        iat=datetime.fromisoformat(INPUTS["credential_iat"]),
        exp=datetime.fromisoformat(INPUTS["credential_exp"]),
    )


def receipt(device, cred: str) -> str:
    """The receipt as tablets sign it today: the compact format."""
    from field_api.delivery.receipt_token import sign_receipt

    return sign_receipt(
        device,
        cred,
        permit_number=INPUTS["permit_number"],
        recipient_name=INPUTS["recipient_name"],
        identity_number=INPUTS["identity_number"],
        seq=INPUTS["seq"],
        jti=bytes.fromhex(INPUTS["jti_hex"]),
        iat=datetime.fromisoformat(INPUTS["receipt_iat"]),
    )


def legacy_receipt(device, cred: str) -> str:
    """The same receipt in the first format (a compact JWS), which tablets signed until decision 97
    and verifiers must still read."""
    from app.auth.credentials import jws_sign
    from doorstep_protocol import receipts
    from doorstep_protocol.encoding import json_bytes

    payload = receipts.payload(
        jti=bytes.fromhex(INPUTS["jti_hex"]),
        iat=int(datetime.fromisoformat(INPUTS["receipt_iat"]).timestamp()),
        permit_number=INPUTS["permit_number"],
        recipient_name=INPUTS["recipient_name"],
        identity_number=INPUTS["identity_number"],
        seq=INPUTS["seq"],
    )
    return jws_sign(dict(receipts.header(cred)), json_bytes(payload), device)


def main(force: bool) -> None:
    from app.auth.keys import public_jwk
    from field_api.delivery.receipt_token import qr_version, verify_receipt

    server, device = server_key(), device_key()
    (HERE / "server_jwks.json").write_text(
        json.dumps({"keys": [public_jwk(server.public_key(), SERVER_KID)]}, indent=2) + "\n"
    )
    (HERE / "inputs.json").write_text(json.dumps(INPUTS, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if force or not (HERE / "credential.txt").exists():
        (HERE / "credential.txt").write_text(credential(server, device) + "\n")
    cred = (HERE / "credential.txt").read_text().strip()
    for name, make in (("receipt.txt", legacy_receipt), ("receipt_compact.txt", receipt)):
        if force or not (HERE / name).exists():
            (HERE / name).write_text(make(device, cred) + "\n")
    jwks = json.loads((HERE / "server_jwks.json").read_text())
    claims = []
    for name in ("receipt.txt", "receipt_compact.txt"):
        token = (HERE / name).read_text().strip()
        result = verify_receipt(token, jwks, now=datetime.fromisoformat(INPUTS["receipt_iat"]) + timedelta(days=1))
        assert result.valid, result
        claims.append(result.claims)
        print(f"{name}: {len(token)} characters, QR version {qr_version(token)}")
    assert claims[0] == claims[1], claims  # both formats carry the same claims
    (HERE / "claims.json").write_text(json.dumps(claims[0], indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"credential: {len(cred)} characters")


if __name__ == "__main__":
    main("--force" in sys.argv[1:])
