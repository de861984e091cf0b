"""Delivery receipts: the QR a citizen is handed at the door, verifiable by anyone, offline, with
nothing but the server's JWKS.

A receipt is signed (ES256) by the tablet's enrolled device key and carries the device credential
(``app/auth/credentials.py``): the server's signature binding that device key to the device, its
officer and station, for 24 hours. So a verifier checks the server's signature on the credential,
then the device's signature on the receipt with the key the credential names. The claims:

    {"jti":"<16 random bytes, b64url>","iat":<epoch s>,"pn":"<permit number>",
     "rn":"<masked name>","ih":"<identity hint>","sq":<device receipt seq>}

No identity number and no phone number is in it: the name is masked to its first character and
the identity number is reduced to a 16-bit hint (see ``identity_hint``).

Size is the constraint: the receipt is a QR code a citizen's phone must read off a tablet screen
or a print. Receipts are signed in the compact format (``DR2-`` and base32 of a fixed binary
layout, ``doorstep_protocol/receipts.py``; decision 97): ~430 characters, all in the QR code's
alphanumeric mode (5.5 bits a character against byte mode's 8), so a version-13 symbol at level M.
Receipts of the first format, a compact JWS of ~600 characters (version 19 in byte mode), were
issued for months and are proof for years: ``verify_receipt`` reads both, and both give the same
claims. ``sign_receipt`` refuses anything that would not fit version 18; ``verify_receipt``
refuses anything over ``MAX_TOKEN_CHARS`` before looking inside it.
"""

from __future__ import annotations

import hmac
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import qrcode
import qrcode.constants
from cryptography.hazmat.primitives.asymmetric import ec

from app import clock
from app.auth.credentials import (
    CLOCK_LEEWAY,
    CredentialError,
    check_credential_time,
    compressed_point,
    es256_sign,
    es256_verify,
    json_object,
    jws_split,
    open_device_credential,
    parse_credential_payload,
)
from doorstep_protocol import receipts as protocol
from doorstep_protocol.credentials import to_raw as credential_raw
from doorstep_protocol.encoding import b64url_decode
from doorstep_protocol.identity import normalize_for_hint as normalize_identity_number  # noqa: F401
from doorstep_protocol.receipts import (  # noqa: F401
    HINT_HEX,
    JTI_BYTES,
    MAX_TOKEN_CHARS,
    QR_CAPACITY,
    QR_MAX_VERSION,
    RECEIPT_TYP,
    identity_hint,
    mask_name,
)
from doorstep_protocol.receipts import jti_bytes as _jti_bytes

QR_ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_M
# One fixed mask instead of qrcode trying all eight (eight full matrix builds, ~4x the render
# time); any mask is valid for every reader, the penalty score only picks the prettiest (decision 95).
QR_MASK_PATTERN = 0

REASONS = (
    "oversized",
    "malformed",
    "unknown-key",
    "credential-invalid",
    "signature-invalid",
    "claims-missing",
    "credential-expired",
    "issued-in-future",
)


class ReceiptError(CredentialError):
    """A receipt could not be signed, decoded or rendered; ``reason`` is one of ``REASONS``."""


@dataclass
class VerifyResult:
    valid: bool
    reasons: list[str] = field(default_factory=list)
    claims: dict = field(default_factory=dict)
    detail: str = ""


# --- what goes in ---------------------------------------------------------------------------


def hint_matches(claims: dict, identity_number: str) -> bool:
    """Whether a verified receipt's hint fits this identity number (to be checked at the door)."""
    try:
        expected = identity_hint(claims["jti"], identity_number)
    except (KeyError, ValueError):
        return False
    return hmac.compare_digest(expected, str(claims.get("identity_hint", "")))


def _epoch(value) -> int:
    if value is None:
        return int(clock.timestamp())
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime; use UTC")
        return int(value.timestamp())
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise ValueError("iat must be an aware datetime or epoch seconds")


def sign_receipt(
    device_private_key: ec.EllipticCurvePrivateKey,
    credential: str,
    *,
    permit_number: str,
    recipient_name: str,
    identity_number: str,
    seq: int,
    jti=None,
    iat=None,
) -> str:
    """Sign a receipt on the tablet, in the compact format. ``credential`` is the one the server
    returned at log-in; its key must be this device key. Raises ValueError for bad input and
    ReceiptError("oversized") when the result would not fit a version-18 QR symbol."""
    payload = protocol.payload(
        jti=os.urandom(JTI_BYTES) if jti is None else jti,
        iat=_epoch(iat),
        permit_number=permit_number,
        recipient_name=recipient_name,
        identity_number=identity_number,
        seq=seq,
    )
    try:
        _, cred_payload, _, _ = jws_split(credential)
        bound_key = parse_credential_payload(cred_payload)["public_key"]
        credential_raw(credential)  # the compact layout carries it without its header
    except (ValueError, UnicodeDecodeError, AttributeError) as exc:
        raise ReceiptError("credential-invalid", f"the device credential is unreadable: {exc}") from None
    if compressed_point(bound_key) != compressed_point(device_private_key.public_key()):
        raise ReceiptError("credential-invalid", "the device credential is for another device key")
    signing_input = protocol.compact_signing_input(credential, payload)
    token = protocol.compact_token(signing_input, es256_sign(device_private_key, signing_input))
    if len(token) > QR_CAPACITY:
        raise ReceiptError(
            "oversized",
            f"the receipt is {len(token)} characters; a version-{QR_MAX_VERSION} "
            f"QR symbol holds {QR_CAPACITY} (shorten the permit number)",
        )
    return token


# --- verification ---------------------------------------------------------------------------


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _claims_of(payload: dict, credential: dict) -> tuple[dict, list[str]]:
    """Readable claims and the names of required ones that are missing or of the wrong type."""
    checks = {
        "jti": lambda v: isinstance(v, str) and _valid_jti(v),
        "iat": lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**32,
        "pn": lambda v: isinstance(v, str) and v != "",
        "rn": lambda v: isinstance(v, str) and v != "",
        "ih": lambda v: isinstance(v, str) and len(v) == HINT_HEX and all(c in "0123456789abcdef" for c in v),
        "sq": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
    }
    missing = [name for name, ok in checks.items() if not ok(payload.get(name))]
    claims = {}
    if "jti" not in missing:
        claims["jti"] = payload["jti"]
    if "iat" not in missing:
        claims["iat"] = _iso(datetime.fromtimestamp(payload["iat"], tz=UTC))
    for short, name in (("pn", "permit_number"), ("rn", "recipient"), ("ih", "identity_hint"), ("sq", "seq")):
        if short not in missing:
            claims[name] = payload[short]
    claims.update(
        {
            "officer_id": credential["officer_id"],
            "device_id": credential["device_id"],
            "station_id": credential["station_id"],
            "credential_issued_at": _iso(credential["iat"]),
            "credential_expires_at": _iso(credential["exp"]),
            "server_kid": credential["kid"],
        }
    )
    return claims, missing


def _valid_jti(value: str) -> bool:
    try:
        _jti_bytes(value)
    except ValueError:
        return False
    return True


def _signed_by_embedded_key(credential: str, signing_input: bytes, signature: bytes) -> bool:
    """Whether the receipt verifies with the key its (unverified) credential names."""
    try:
        _, payload, _, _ = jws_split(credential)
        return es256_verify(parse_credential_payload(payload)["public_key"], signing_input, signature)
    except (ValueError, UnicodeDecodeError):
        return False


def _parse(text: str) -> tuple[str, bytes, bytes, Callable[[], dict]]:
    """(credential, signing input, signature, claims reader) of either format; ValueError or
    UnicodeError when the text is neither. The claims are read only once the signatures verify."""
    if protocol.is_compact(text):
        credential, payload, signing_input, signature = protocol.read_compact(text)
        return credential, signing_input, signature, lambda: payload
    header, _, signature, signing_input = jws_split(text)
    if header.get("typ") != RECEIPT_TYP or not isinstance(header.get("dc"), str):
        raise ValueError("not a receipt (typ dr with a device credential)")
    payload_b64 = text.split(".")[1]
    return header["dc"], signing_input, signature, lambda: json_object(b64url_decode(payload_b64))


def verify_receipt(token, jwks: dict, *, now: datetime | None = None) -> VerifyResult:
    """Verify a receipt of either format offline against the server's JWKS (``{"keys": [...]}``).

    In order: size (before any parsing), structure, the credential's server signature, the
    receipt's device signature with the credential's key, required claims, the credential in force
    at the receipt's ``iat`` (± 5 min of clock drift), ``iat`` not in the future of ``now``.
    Claims are returned only once both signatures verify; they are authentic but not valid when
    a later check fails."""
    if not isinstance(token, (str, bytes)) or len(token) > MAX_TOKEN_CHARS:
        return VerifyResult(False, ["oversized"], {}, f"a receipt is at most {MAX_TOKEN_CHARS} characters")
    try:
        text = token.decode("ascii") if isinstance(token, bytes) else token
        credential_token, signing_input, signature, read_claims = _parse(text.strip())
    except (ValueError, UnicodeError) as exc:
        return VerifyResult(False, ["malformed"], {}, f"not a receipt: {exc}")
    try:
        credential = open_device_credential(credential_token, jwks)
    except CredentialError as exc:
        if exc.reason == "unknown-key" and not _signed_by_embedded_key(credential_token, signing_input, signature):
            # The device's signature covers the credential: if it fails too, the credential was altered.
            return VerifyResult(False, ["credential-invalid"], {}, "the receipt's credential was altered")
        return VerifyResult(False, [exc.reason], {}, exc.detail)
    if not es256_verify(credential["public_key"], signing_input, signature):
        return VerifyResult(False, ["signature-invalid"], {}, "the device's signature does not verify")
    try:
        payload = read_claims()
    except (ValueError, UnicodeDecodeError) as exc:  # signed, yet not JSON: the device's own bug
        return VerifyResult(False, ["malformed"], {}, f"the payload is not a JSON object: {exc}")
    claims, missing = _claims_of(payload, credential)
    if missing:
        return VerifyResult(False, ["claims-missing"], claims, "missing or invalid: " + ", ".join(missing))
    reasons, details = [], []
    signed_at = datetime.fromtimestamp(payload["iat"], tz=UTC)
    try:
        check_credential_time(credential, signed_at)
    except CredentialError as exc:
        reasons.append(exc.reason)
        details.append(exc.detail)
    if signed_at > (now or clock.now()) + CLOCK_LEEWAY:
        reasons.append("issued-in-future")
        details.append("the receipt is dated in the future")
    return VerifyResult(not reasons, reasons, claims, "; ".join(details))


# --- QR -------------------------------------------------------------------------------------


def _qr(token: str) -> qrcode.QRCode:
    qr = qrcode.QRCode(
        version=None,
        error_correction=QR_ERROR_CORRECTION,
        box_size=4,
        border=4,
        mask_pattern=QR_MASK_PATTERN,
    )
    # One segment, no mode switching: alphanumeric for a compact receipt (DR2- and base32), byte
    # mode for a first-format one (lower-case letters); the version depends on the length only.
    qr.add_data(token, optimize=0)
    qr.make(fit=True)
    return qr


def qr_version(token: str) -> int:
    return _qr(token).version


def render_png(token: str, *, box_size: int = 4) -> bytes:
    """A 1-bit PNG of the QR symbol, ``box_size`` pixels per module with the 4-module quiet zone.
    Pixel for pixel what qrcode's PIL factory draws, built from the module matrix in one go
    (qrcode draws one rectangle per module, twice as slow)."""
    from PIL import Image  # Pillow loads only when a receipt is drawn, not in every worker

    matrix = _qr(token).get_matrix()  # quiet zone included
    n = len(matrix)
    modules = Image.frombytes("L", (n, n), bytes(0 if dark else 255 for row in matrix for dark in row))
    buf = io.BytesIO()
    modules.resize((n * box_size, n * box_size), Image.Resampling.NEAREST).convert("1").save(buf, format="PNG")
    return buf.getvalue()


def render_svg(token: str) -> str:
    """An SVG of the QR symbol (one path; scales to any print size)."""
    from qrcode.image.svg import SvgPathImage  # the SVG factory (~0.1 s) loads only when one is drawn

    return _qr(token).make_image(image_factory=SvgPathImage).to_string(encoding="unicode")


MAX_PNG_BYTES = 5 * 1024 * 1024
MAX_PNG_PIXELS = 25_000_000


def decode_png(data: bytes) -> str:
    """The text of the single QR symbol in a PNG (a photo or a rendered receipt); ReceiptError
    ``malformed`` when there is none, several, or the image is unreadable or too large."""
    # The decoder and Pillow load only when a photographed receipt is read.
    import zxingcpp
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_PNG_BYTES:
        raise ReceiptError("oversized", "the image is too large")
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format != "PNG":
                raise ReceiptError("malformed", "not a PNG image")
            if img.width * img.height > MAX_PNG_PIXELS:
                raise ReceiptError("oversized", "the image has too many pixels")
            found = zxingcpp.read_barcodes(
                img.convert("L"), formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
            )
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ReceiptError("malformed", f"unreadable image: {exc}") from None
    texts = [b.text for b in found if b.valid]
    if len(texts) != 1:
        raise ReceiptError("malformed", f"expected one QR code in the image, found {len(texts)}")
    return texts[0]
