"""What a delivery receipt's signature covers (``field_api/delivery/receipt_token.py`` has the whole
story). The claims are

    {"jti":"<16 random bytes, b64url>","iat":<epoch s>,"pn":"<permit number>",
     "rn":"<masked name>","ih":"<identity hint>","sq":<device receipt seq>}

and a receipt travels in one of two formats. The tablet builds it offline at the door; the server
and any verifier rebuild the same bytes from the same facts.

**Format 2, compact** (what every client signs; decision 97): ``DR2-`` and the canonical unpadded
upper-case base32 of these bytes, all of them inside a QR code's alphanumeric mode::

    offset  size  field
         0     1  format, 2 (signed: a token cannot be passed off as another format)
         1   153  the device credential: its 89-byte payload, then the server's signature
                  (``credentials.to_raw``; its JWS header is always ``credentials.HEADER_B64``)
       154    16  jti
       170     4  iat, seconds since the epoch, unsigned big-endian
       174     4  sq, unsigned big-endian
       178     2  ih, the identity hint's two bytes
       180     3  rn's first character, its code point, big-endian
       183     1  rn's count of ``*`` (the masked name is that character then that many ``*``)
       184     n  pn, UTF-8, n >= 1 (everything up to the signature)
     184+n    64  the device's ES256 signature (r || s, low S) over bytes 0 .. 184+n

About 430 characters, a version-13 QR symbol at level M instead of version 19.

**Format 1, JWS** (verified, no longer signed): a compact JWS whose header names the device
credential, ``{"alg":"ES256","typ":"dr","dc":"<credential>"}``, and whose payload is the claims
in that member order, encoded by ``encoding.json_bytes``.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import unicodedata
from typing import TypedDict

from doorstep_protocol import credentials, identity
from doorstep_protocol.encoding import b32, b32_decode, b64url, b64url_decode, json_bytes

ALGORITHM = "ES256"
RECEIPT_TYP = "dr"
JTI_BYTES = 16
HINT_HEX = 4  # 16 bits
COMPACT_PREFIX = "DR2-"
COMPACT_FORMAT = 2
COMPACT_LAYOUT = struct.Struct(f">B{credentials.RAW_BYTES}s{JTI_BYTES}sII2s3sB")
SIGNATURE_BYTES = 64
QR_MAX_VERSION = 18
QR_CAPACITY = 816  # characters in alphanumeric mode of a version-18 QR symbol at level M
MAX_TOKEN_CHARS = QR_CAPACITY  # a verifier refuses longer input before parsing it (format 1 was <= 666)


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


# --- format 2, compact --------------------------------------------------------------------------


def is_compact(token: str) -> bool:
    return token.startswith(COMPACT_PREFIX)


def compact_signing_input(credential: str, claims: ReceiptPayload) -> bytes:
    """The bytes the device key signs: everything of a compact receipt but its signature.
    ValueError when the credential is not one the layout can carry or a claim does not fit it."""
    rn = claims["rn"]
    stars = len(rn) - 1
    if rn[1:] != "*" * stars:
        raise ValueError("the recipient's name is not masked")
    if stars > 255:
        raise ValueError("the recipient's name is too long for a receipt")
    if not 0 <= claims["sq"] < 2**32:
        raise ValueError("seq must be below 2**32")
    if not 0 < claims["iat"] < 2**32:
        raise ValueError("iat must be epoch seconds before 2106")
    fixed = COMPACT_LAYOUT.pack(
        COMPACT_FORMAT,
        credentials.to_raw(credential),
        jti_bytes(claims["jti"]),
        claims["iat"],
        claims["sq"],
        bytes.fromhex(claims["ih"]),
        ord(rn[0]).to_bytes(3, "big"),
        stars,
    )
    return fixed + claims["pn"].encode("utf-8")


def compact_token(signing_input: bytes, signature: bytes) -> str:
    if len(signature) != SIGNATURE_BYTES:
        raise ValueError(f"an ES256 signature is {SIGNATURE_BYTES} bytes")
    return COMPACT_PREFIX + b32(signing_input + signature)


def read_compact(token: str) -> tuple[str, dict[str, object], bytes, bytes]:
    """(credential JWS, claims, signing input, signature) of a compact receipt, NOT verified.
    ValueError when it is not one (prefix, base32, format, length). A claim whose bytes do not
    decode (a permit number that is not UTF-8, a code point out of range) is ``None``: the
    verifier reports it as missing once the signature has verified."""
    if not is_compact(token):
        raise ValueError(f"a compact receipt starts with {COMPACT_PREFIX}")
    raw = b32_decode(token[len(COMPACT_PREFIX) :])
    if len(raw) < COMPACT_LAYOUT.size + 1 + SIGNATURE_BYTES:
        raise ValueError("too short for a compact receipt")
    signed, signature = raw[:-SIGNATURE_BYTES], raw[-SIGNATURE_BYTES:]
    fmt, credential, jti, iat, sq, ih, first, stars = COMPACT_LAYOUT.unpack_from(signed)
    if fmt != COMPACT_FORMAT:
        raise ValueError(f"not format {COMPACT_FORMAT}")
    code_point = int.from_bytes(first, "big")
    try:
        pn: str | None = signed[COMPACT_LAYOUT.size :].decode("utf-8")
    except UnicodeDecodeError:
        pn = None
    valid_char = code_point <= 0x10FFFF and not 0xD800 <= code_point <= 0xDFFF
    claims: dict[str, object] = {
        "jti": b64url(jti),
        "iat": iat,
        "pn": pn,
        "rn": chr(code_point) + "*" * stars if valid_char else None,
        "ih": ih.hex(),
        "sq": sq,
    }
    return credentials.from_raw(credential), claims, signed, signature
