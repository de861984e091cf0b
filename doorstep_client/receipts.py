"""Signing a delivery receipt at the door, offline, in the compact format: the claims and the bytes
signed come from ``doorstep_protocol.receipts``; the device key signs them; the device credential
from log-in goes in with them so anyone can verify with the server's JWKS alone."""

from __future__ import annotations

import os
import time

from cryptography.hazmat.primitives.asymmetric import ec

from doorstep_client.keys import compressed_point, es256_sign
from doorstep_protocol import credentials, receipts
from doorstep_protocol.credentials import read_payload
from doorstep_protocol.encoding import b64url_decode


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
    """The compact receipt (``DR2-…``) for the citizen's QR code. ValueError for input no receipt
    may carry."""
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
        credentials.to_raw(credential)  # the compact layout carries it without its header
    except (ValueError, IndexError, AttributeError) as exc:
        raise ReceiptError(f"the device credential is unreadable: {exc}") from None
    if bound != compressed_point(key):
        raise ReceiptError("the device credential is for another device key: log in on this tablet again")
    signing_input = receipts.compact_signing_input(credential, payload)
    token = receipts.compact_token(signing_input, es256_sign(key, signing_input))
    if len(token) > receipts.QR_CAPACITY:
        raise ReceiptError(
            f"the receipt is {len(token)} characters; a QR code holds {receipts.QR_CAPACITY} "
            "(shorten the permit number)"
        )
    return token
