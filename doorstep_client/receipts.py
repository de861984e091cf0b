"""Signing a delivery receipt at the door, offline: the claims and the bytes signed come from
``doorstep_protocol.receipts``; the device key signs them; the device credential from log-in goes
in the header so anyone can verify with the server's JWKS alone."""

from __future__ import annotations

import os
import time

from cryptography.hazmat.primitives.asymmetric import ec

from doorstep_client.keys import compressed_point, es256_sign
from doorstep_protocol import receipts
from doorstep_protocol.credentials import read_payload
from doorstep_protocol.encoding import b64url, b64url_decode, json_bytes


class ReceiptError(ValueError):
    """The receipt cannot be signed: the credential is not this device's, or it would not fit."""


def sign_receipt(
    key: ec.EllipticCurvePrivateKey,
    credential: str,
    *,
    permit_number: str,
    recipient_name: str,
    identity_number: str,
    seq: int,
    jti: bytes | None = None,
    iat: int | None = None,
) -> str:
    """A compact JWS for the citizen's QR code. ValueError for input no receipt may carry."""
    payload = receipts.payload(
        jti=os.urandom(receipts.JTI_BYTES) if jti is None else jti,
        iat=int(time.time()) if iat is None else iat,
        permit_number=permit_number,
        recipient_name=recipient_name,
        identity_number=identity_number,
        seq=seq,
    )
    try:
        bound = read_payload(b64url_decode(credential.split(".")[1]))["public_key_point"]
    except (ValueError, IndexError, AttributeError) as exc:
        raise ReceiptError(f"the device credential is unreadable: {exc}") from None
    if bound != compressed_point(key):
        raise ReceiptError("the device credential is for another device key: log in on this tablet again")
    signing_input = receipts.signing_input(receipts.header(credential), json_bytes(payload))
    token = f"{signing_input.decode('ascii')}.{b64url(es256_sign(key, signing_input))}"
    if len(token) > receipts.QR_CAPACITY:
        raise ReceiptError(
            f"the receipt is {len(token)} characters; a QR code holds {receipts.QR_CAPACITY} "
            "(shorten the permit number or name)"
        )
    return token
