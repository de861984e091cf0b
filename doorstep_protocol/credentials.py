"""The device credential's payload layout: the server signs it at log-in, the tablet puts it in
every receipt's header, verifiers read it (``app/auth/credentials.py`` tells why it is binary)::

    offset  size  field
         0    16  device id (UUID bytes)
        16    16  officer id (UUID bytes)
        32    16  station id (UUID bytes)
        48    33  device public key, P-256 compressed point (SEC 1)
        81     4  iat, seconds since the epoch, unsigned big-endian
        85     4  exp, idem

Signed by the server as a compact JWS under the header ``{"alg":"ES256","typ":"dc"}``. A compact
receipt carries it as its 153 raw bytes (payload, then the server's 64-byte signature) and a
verifier rebuilds the JWS around them: the header is always those exact bytes (``HEADER_B64``).
"""

from __future__ import annotations

import struct
import uuid
from typing import TypedDict

from doorstep_protocol.encoding import b64url, b64url_decode, json_bytes

CREDENTIAL_TYP = "dc"
LAYOUT = struct.Struct(">16s16s16s33sII")
SIGNATURE_BYTES = 64  # ES256, r || s
RAW_BYTES = LAYOUT.size + SIGNATURE_BYTES  # a credential as a compact receipt carries it
HEADER_B64 = b64url(json_bytes({"alg": "ES256", "typ": CREDENTIAL_TYP}))


class CredentialPayload(TypedDict):
    """A credential payload's fields, as ``read_payload`` returns them."""

    device_id: str
    officer_id: str
    station_id: str
    public_key_point: bytes
    iat: int
    exp: int


def read_payload(payload: bytes) -> CredentialPayload:
    """The fields, signature NOT checked; ValueError if the layout is wrong. The key stays the
    33-byte point: turning it into a key object is the caller's crypto library's job."""
    if len(payload) != LAYOUT.size:
        raise ValueError(f"a credential payload is {LAYOUT.size} bytes")
    device, officer, station, point, iat, exp = LAYOUT.unpack(payload)
    return {
        "device_id": str(uuid.UUID(bytes=device)),
        "officer_id": str(uuid.UUID(bytes=officer)),
        "station_id": str(uuid.UUID(bytes=station)),
        "public_key_point": point,
        "iat": iat,
        "exp": exp,
    }


def to_raw(credential: str) -> bytes:
    """The credential's payload and signature (153 bytes), for a compact receipt; ValueError if it
    is not a compact JWS under exactly ``HEADER_B64`` with a payload of this layout. Nothing is
    verified: the verifier does that on the JWS ``from_raw`` rebuilds."""
    parts = credential.split(".")
    if len(parts) != 3 or parts[0] != HEADER_B64:
        raise ValueError("not a device credential under the protocol's header")
    payload, signature = b64url_decode(parts[1]), b64url_decode(parts[2])
    if len(payload) != LAYOUT.size or len(signature) != SIGNATURE_BYTES:
        raise ValueError(f"a credential is {LAYOUT.size} bytes of payload and a {SIGNATURE_BYTES}-byte signature")
    return payload + signature


def from_raw(raw: bytes) -> str:
    """The compact JWS a compact receipt's 153 credential bytes stand for."""
    if len(raw) != RAW_BYTES:
        raise ValueError(f"a credential is {RAW_BYTES} bytes")
    return f"{HEADER_B64}.{b64url(raw[: LAYOUT.size])}.{b64url(raw[LAYOUT.size :])}"
