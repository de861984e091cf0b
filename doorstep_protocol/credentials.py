"""The device credential's payload layout: the server signs it at log-in, the tablet puts it in
every receipt's header, verifiers read it (``app/auth/credentials.py`` tells why it is binary)::

    offset  size  field
         0    16  device id (UUID bytes)
        16    16  officer id (UUID bytes)
        32    16  station id (UUID bytes)
        48    33  device public key, P-256 compressed point (SEC 1)
        81     4  iat, seconds since the epoch, unsigned big-endian
        85     4  exp, idem
"""

from __future__ import annotations

import struct
import uuid
from typing import TypedDict

CREDENTIAL_TYP = "dc"
LAYOUT = struct.Struct(">16s16s16s33sII")


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
