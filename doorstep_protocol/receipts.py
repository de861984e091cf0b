"""What a delivery receipt's signature covers (``field_api/delivery/receipt_token.py`` has the whole
story): a compact JWS whose header names the device credential and whose payload is

    {"jti":"<16 random bytes, b64url>","iat":<epoch s>,"pn":"<permit number>",
     "rn":"<masked name>","ih":"<identity hint>","sq":<device receipt seq>}

in that member order, encoded by ``encoding.json_bytes``. The tablet builds it offline at the
door; the server and any verifier rebuild the same bytes from the same facts.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from typing import TypedDict

from doorstep_protocol import identity
from doorstep_protocol.encoding import b64url, b64url_decode, json_bytes

ALGORITHM = "ES256"
RECEIPT_TYP = "dr"
JTI_BYTES = 16
HINT_HEX = 4  # 16 bits
QR_CAPACITY = 666  # bytes in byte mode of a version-20 QR symbol at level M
MAX_TOKEN_CHARS = 700  # a verifier refuses longer input before parsing it


class ReceiptHeader(TypedDict):
    alg: str
    typ: str
    dc: str  # the device credential


class ReceiptPayload(TypedDict):
    """The claims, in the order they are encoded."""

    jti: str
    iat: int
    pn: str  # permit number
    rn: str  # masked recipient name
    ih: str  # identity hint
    sq: int  # device receipt sequence


def mask_name(name: object) -> str:
    """The first character, then one ``*`` per remaining character: 张三丰 -> 张**."""
    if not isinstance(name, str):
        raise ValueError("the recipient's name must be a string")
    name = unicodedata.normalize("NFC", name).strip()
    if not name:
        raise ValueError("the recipient's name is empty")
    return name[0] + "*" * (len(name) - 1)


def jti_bytes(jti: bytes | str) -> bytes:
    raw = jti if isinstance(jti, bytes) else b64url_decode(jti)
    if len(raw) != JTI_BYTES:
        raise ValueError(f"a receipt jti is {JTI_BYTES} bytes")
    return raw


def identity_hint(jti: bytes | str, identity_number: str) -> str:
    """First 4 hex characters of HMAC-SHA256(key = the jti's 16 bytes, message = the identity
    number in its hint form). ``jti`` as bytes or as its base64url text.

    16 bits catch the wrong person at the door (a wrong number matches once in 65,536) and are far
    too few to recover a number: ~3,200 region codes x 36,500 birth dates x 1,000 serials make
    ~10^11 well-formed numbers, so ~1.8 million share each hint, and the per-receipt key (the jti)
    means nothing can be precomputed or linked across receipts. What it can do is confirm a guess:
    someone who already knows a person's region and birth date (14 of the 18 characters) can pick
    the serial out of 1,000 candidates. That is the check the hint exists for, and why a receipt is
    still the citizen's personal paper, not something to publish."""
    digest = hmac.new(
        jti_bytes(jti), identity.normalize_for_hint(identity_number).encode("utf-8"), hashlib.sha256
    ).hexdigest()
    return digest[:HINT_HEX]


def header(credential: str) -> ReceiptHeader:
    return {"alg": ALGORITHM, "typ": RECEIPT_TYP, "dc": credential}


def payload(
    *, jti: bytes | str, iat: object, permit_number: object, recipient_name: str, identity_number: str, seq: object
) -> ReceiptPayload:
    """The claims, validated; ValueError for input no receipt may carry."""
    if not isinstance(permit_number, str) or not permit_number.strip() or not permit_number.isprintable():
        raise ValueError("permit_number must be a non-empty printable string")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise ValueError("seq must be a non-negative integer")
    if not isinstance(iat, int) or isinstance(iat, bool) or iat <= 0:
        raise ValueError("iat must be epoch seconds")
    raw = jti_bytes(jti)
    return {
        "jti": b64url(raw),
        "iat": iat,
        "pn": permit_number.strip(),
        "rn": mask_name(recipient_name),
        "ih": identity_hint(raw, identity_number),
        "sq": seq,
    }


def signing_input(header_obj: ReceiptHeader, payload_bytes: bytes) -> bytes:
    """``b64url(header).b64url(payload)``: what the device key signs."""
    return f"{b64url(json_bytes(header_obj))}.{b64url(payload_bytes)}".encode("ascii")
