"""Delivery receipts as tokens: size, QR round trip, offline verification, tampering, the fixed
test vectors and the ``verify-receipt`` / ``cache-jwks`` commands."""

from __future__ import annotations

import json
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timedelta
from io import BytesIO
from pathlib import Path

import pytest
import qrcode
import qrcode.constants
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import Image

from app.auth.credentials import (
    b64url,
    b64url_decode,
    decode_device_credential,
    encode_device_credential,
    es256_sign,
    json_bytes,
    jws_sign,
)
from app.auth.keys import public_jwk
from app.db import utcnow
from doorstep_protocol import receipts as protocol
from doorstep_protocol.encoding import b32, b32_decode
from field_api.delivery import receipt_token as rt
from tests.factories import PASSWORD, valid_identity

VECTORS = Path(__file__).parent / "vectors"
NOW = utcnow().replace(microsecond=0)
IDENTITY = valid_identity(region="330106", born="19900307", serial=123)
PHONE = "13812345678"
REALISTIC = {
    "permit_number": "XH01-2026-000123",
    "recipient_name": "张三丰",
    "identity_number": IDENTITY,
    "seq": 123456,
}


@dataclass
class Tablet:
    key: ec.EllipticCurvePrivateKey
    credential: str
    device_id: str
    officer_id: str
    station_id: str


def new_server(kid="test-server"):
    key = ec.generate_private_key(ec.SECP256R1())
    return key, {"keys": [public_jwk(key.public_key(), kid)]}


SERVER_KEY, JWKS = new_server()


def tablet(server_key=SERVER_KEY, *, iat=None, ttl=timedelta(hours=24), key=None) -> Tablet:
    key = key or ec.generate_private_key(ec.SECP256R1())
    ids = [str(uuid.uuid4()) for _ in range(3)]
    iat = iat or NOW - timedelta(hours=1)
    cred = encode_device_credential(
        server_key,
        device_id=ids[0],
        officer_id=ids[1],
        station_id=ids[2],
        device_public_key=key.public_key(),
        iat=iat,
        exp=iat + ttl,
    )
    return Tablet(key, cred, *ids)


def sign(tab: Tablet, **overrides) -> str:
    return rt.sign_receipt(tab.key, tab.credential, **{**REALISTIC, **overrides})


def legacy(tab: Tablet, **overrides) -> str:
    """A receipt of the first format (a compact JWS), as tablets signed them before decision 97."""
    facts = {**REALISTIC, **overrides}
    iat = facts.pop("iat", NOW)
    payload = protocol.payload(jti=facts.pop("jti", bytes(range(16))), iat=int(iat.timestamp()), **facts)
    return jws_sign(dict(protocol.header(tab.credential)), json_bytes(payload), tab.key)


def raw(token: str) -> bytes:
    """The bytes of a compact receipt (signing input, then the 64-byte signature)."""
    return b32_decode(token.removeprefix(protocol.COMPACT_PREFIX))


def compact(data: bytes) -> str:
    return protocol.COMPACT_PREFIX + b32(data)


def resigned(tab: Tablet, signing_input: bytes) -> str:
    """Compact bytes signed with the tablet's own key: what a buggy or hostile tablet could send."""
    return compact(signing_input + es256_sign(tab.key, signing_input))


def segments(token: str) -> tuple[dict, bytes, str]:
    h, p, s = token.split(".")
    return json.loads(b64url_decode(h)), b64url_decode(p), s


def with_header(token: str, **changes) -> str:
    """The same payload and signature under a re-encoded header (as a splicer would make)."""
    header, _, _ = segments(token)
    _, p, s = token.split(".")
    return f"{b64url(json_bytes({**header, **changes}))}.{p}.{s}"


def flip(text: str, i: int) -> str:
    """Another base64url character at position i (kept canonical: never the last character)."""
    assert 0 <= i < len(text) - 1
    return text[:i] + ("B" if text[i] != "B" else "C") + text[i + 1 :]


# --- size -----------------------------------------------------------------------------------


def test_version_18_at_level_m_holds_816_alphanumeric_characters_in_qrcode_itself():
    def version(n):
        qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
        qr.add_data("A" * n, optimize=0)
        qr.make(fit=True)
        return qr.version

    assert version(rt.QR_CAPACITY) == rt.QR_MAX_VERSION == 18 and version(rt.QR_CAPACITY + 1) == 19


def test_a_realistic_receipt_fits_well_under_the_budget():
    tab = tablet()
    token = sign(tab)
    version = rt.qr_version(token)
    print(f"\nreceipt {len(token)} characters (credential {len(tab.credential)}), QR version {version} at level M")
    assert token.startswith("DR2-") and re.fullmatch(r"DR2-[A-Z2-7]+", token)  # all alphanumeric mode
    assert len(token) <= 430 and version <= 13
    # A name costs the same whatever its length: its first character and a count.
    assert sign(tab, recipient_name="阿" * 50).__len__() == len(token)
    # Room to spare for long permit numbers.
    assert rt.qr_version(sign(tab, permit_number="X" * 200)) <= rt.QR_MAX_VERSION
    # A first-format receipt of the same facts was ~600 characters in byte mode: version 19.
    assert rt.qr_version(legacy(tab)) == 19


def test_a_receipt_that_would_not_fit_is_refused_at_signing():
    with pytest.raises(rt.ReceiptError) as info:
        sign(tablet(), permit_number="X" * 300)
    assert info.value.reason == "oversized"


def test_a_name_too_long_to_count_or_a_seq_past_32_bits_is_refused():
    with pytest.raises(ValueError, match="name"):
        sign(tablet(), recipient_name="阿" * 257)
    with pytest.raises(ValueError, match="seq"):
        sign(tablet(), seq=2**32)


# --- round trip -----------------------------------------------------------------------------


def test_sign_render_decode_verify():
    tab = tablet()
    token = sign(tab)
    png = rt.render_png(token)
    assert png.startswith(b"\x89PNG")
    assert rt.decode_png(png) == token
    result = rt.verify_receipt(rt.decode_png(png), JWKS)
    assert result.valid and result.reasons == [], result
    claims = result.claims
    assert claims["permit_number"] == "XH01-2026-000123" and claims["recipient"] == "张**"
    assert claims["seq"] == 123456 and re.fullmatch(r"[0-9a-f]{4}", claims["identity_hint"])
    assert (claims["device_id"], claims["officer_id"], claims["station_id"]) == (
        tab.device_id,
        tab.officer_id,
        tab.station_id,
    )
    assert claims["credential_expires_at"] == (NOW + timedelta(hours=23)).isoformat()
    assert datetime.fromisoformat(claims["iat"]) >= NOW - timedelta(seconds=1)
    assert len(b64url_decode(claims["jti"])) == 16
    assert rt.hint_matches(claims, IDENTITY)


def test_a_photographed_receipt_still_decodes():
    """Scaled down, grey, with a margin: what a phone camera hands the verifier, roughly."""
    token = sign(tablet())
    img = Image.open(BytesIO(rt.render_png(token, box_size=3))).convert("L")
    canvas = Image.new("L", (img.width + 200, img.height + 120), 200)
    canvas.paste(img, (90, 50))
    buf = BytesIO()
    canvas.save(buf, format="PNG")
    assert rt.decode_png(buf.getvalue()) == token


def test_no_identity_phone_or_full_name_anywhere_in_the_qr():
    tab = tablet()
    token = sign(tab)
    data = raw(token)
    for secret in (IDENTITY, IDENTITY[6:14], PHONE, "三丰"):
        assert secret not in token and secret.encode() not in data
    _, claims, _, _ = protocol.read_compact(token)
    assert set(claims) == {"jti", "iat", "pn", "rn", "ih", "sq"} and claims["rn"] == "张**"


def test_no_identity_phone_or_full_name_anywhere_in_a_first_format_qr():
    tab = tablet()
    token = legacy(tab)
    header, payload, _ = segments(token)
    _, cred_payload, _ = segments(header["dc"])
    visible = token + json.dumps(header, ensure_ascii=False) + payload.decode() + cred_payload.hex()
    for secret in (IDENTITY, IDENTITY[6:14], PHONE, "三丰", IDENTITY.encode().hex()):
        assert secret not in visible
    assert set(json.loads(payload)) == {"jti", "iat", "pn", "rn", "ih", "sq"}


def test_svg_output_is_svg():
    svg = rt.render_svg(sign(tablet()))
    root = ET.fromstring(svg)  # noqa: S314 (our own SVG, not untrusted input)
    assert root.tag.endswith("svg") and "<path" in svg


# --- verification failures -------------------------------------------------------------------


def test_a_tampered_payload_is_invalid():
    token = legacy(tablet())
    h, p, s = token.split(".")
    result = rt.verify_receipt(f"{h}.{flip(p, len(p) // 2)}.{s}", JWKS)
    assert not result.valid and result.reasons == ["signature-invalid"] and result.claims == {}


def test_a_tampered_signature_is_invalid():
    token = legacy(tablet())
    h, p, s = token.split(".")
    assert rt.verify_receipt(f"{h}.{p}.{flip(s, 10)}", JWKS).reasons == ["signature-invalid"]


def test_a_tampered_credential_is_invalid():
    token = legacy(tablet())
    header, _, _ = segments(token)
    dc_h, dc_p, dc_s = header["dc"].split(".")
    result = rt.verify_receipt(with_header(token, dc=f"{dc_h}.{flip(dc_p, 5)}.{dc_s}"), JWKS)
    assert not result.valid and result.reasons == ["credential-invalid"]


def test_a_non_canonical_signature_encoding_is_malformed():
    """The last character of a 64-byte signature carries 2 unused bits; a lenient decoder would
    accept four spellings of one signature."""
    token = legacy(tablet())
    h, p, s = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    sibling = alphabet[alphabet.index(s[-1]) ^ 1]
    assert rt.verify_receipt(f"{h}.{p}.{s[:-1]}{sibling}", JWKS).reasons == ["malformed"]


def test_a_high_s_twin_of_a_valid_signature_is_refused():
    """(r, n - s) verifies as well as (r, s); only the low-S form is accepted, for the receipt's
    signature and for the credential inside it."""
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # of P-256

    def high(sig_b64: str) -> str:
        raw = b64url_decode(sig_b64)
        s_value = int.from_bytes(raw[32:], "big")
        low = min(s_value, order - s_value)  # the accepted form, whichever the signer gave
        return b64url(raw[:32] + (order - low).to_bytes(32, "big"))

    for _ in range(8):  # signatures are randomised: some come out high-S from a signer that does not care
        token = legacy(tablet())
        assert rt.verify_receipt(token, JWKS).valid
        h, p, s = token.split(".")
        assert rt.verify_receipt(f"{h}.{p}.{high(s)}", JWKS).reasons == ["signature-invalid"]
    header, _, _ = segments(token)
    dc_h, dc_p, dc_s = header["dc"].split(".")
    assert rt.verify_receipt(with_header(token, dc=f"{dc_h}.{dc_p}.{high(dc_s)}"), JWKS).reasons != []


def test_another_devices_credential_spliced_in_is_invalid():
    mine, theirs = tablet(), tablet()
    token = legacy(mine)
    spliced = with_header(token, dc=theirs.credential)
    result = rt.verify_receipt(spliced, JWKS)
    assert not result.valid and result.reasons == ["signature-invalid"]
    # Signing with one's own key under someone else's credential fails the same way.
    forged = jws_sign({"alg": "ES256", "typ": "dr", "dc": theirs.credential}, segments(token)[1], mine.key)
    assert rt.verify_receipt(forged, JWKS).reasons == ["signature-invalid"]


# --- the compact format's failures --------------------------------------------------------------


def test_compact_tampering_is_refused_where_it_happened():
    tab = tablet()
    data = raw(sign(tab))
    where = {
        190: "signature-invalid",  # inside the permit number
        60: "credential-invalid",  # inside the credential's payload
        -5: "signature-invalid",  # inside the device's signature
    }
    for at, reason in where.items():
        altered = compact(data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :])
        result = rt.verify_receipt(altered, JWKS)
        assert not result.valid and result.reasons == [reason] and result.claims == {}, at


def test_compact_another_devices_credential_spliced_in_is_invalid():
    mine, theirs = tablet(), tablet()
    data = raw(sign(mine))
    their_credential = raw(sign(theirs))[1:154]
    spliced = compact(data[:1] + their_credential + data[154:])
    assert rt.verify_receipt(spliced, JWKS).reasons == ["signature-invalid"]
    # Signing with one's own key under someone else's credential fails the same way.
    assert rt.verify_receipt(resigned(mine, data[:1] + their_credential + data[154:-64]), JWKS).reasons == [
        "signature-invalid"
    ]


def test_compact_spellings_other_than_the_canonical_one_are_malformed():
    token = sign(tablet())
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    sibling = alphabet[alphabet.index(token[-1]) ^ 1]  # the last character's unused low bits
    for other in (token.lower(), "dr2-" + token[4:], token[:-1] + sibling, token + "=", token[:-1]):
        assert rt.verify_receipt(other, JWKS).reasons == ["malformed"], other


def test_compact_high_s_twin_is_refused():
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # of P-256
    data = raw(sign(tablet()))
    s_value = int.from_bytes(data[-32:], "big")
    twin = compact(data[:-32] + (order - s_value).to_bytes(32, "big"))
    assert rt.verify_receipt(twin, JWKS).reasons == ["signature-invalid"]


def test_compact_claims_that_do_not_decode_are_reported_once_signed():
    tab = tablet()
    signing_input = raw(sign(tab))[:-64]
    bad_permit = resigned(tab, signing_input[:184] + b"\xff\xfe")
    result = rt.verify_receipt(bad_permit, JWKS)
    assert result.reasons == ["claims-missing"] and "pn" in result.detail
    surrogate = (0xD800).to_bytes(3, "big")
    bad_name = resigned(tab, signing_input[:180] + surrogate + signing_input[183:])
    result = rt.verify_receipt(bad_name, JWKS)
    assert result.reasons == ["claims-missing"] and "rn" in result.detail


def test_both_formats_of_one_receipt_give_the_same_claims():
    tab = tablet()
    jti = bytes(range(16))
    first, second = legacy(tab, jti=jti, iat=NOW), sign(tab, jti=jti, iat=NOW)
    one, two = rt.verify_receipt(first, JWKS), rt.verify_receipt(second, JWKS)
    assert one.valid and two.valid and one.claims == two.claims


def test_the_tablet_cannot_sign_with_a_key_its_credential_does_not_bind():
    with pytest.raises(rt.ReceiptError) as info:
        rt.sign_receipt(ec.generate_private_key(ec.SECP256R1()), tablet().credential, **REALISTIC)
    assert info.value.reason == "credential-invalid"


def test_a_receipt_signed_after_its_credential_expired_is_invalid():
    tab = tablet(iat=NOW - timedelta(hours=30))  # expired six hours ago
    result = rt.verify_receipt(sign(tab, iat=NOW - timedelta(hours=1)), JWKS)
    assert not result.valid and result.reasons == ["credential-expired"]
    assert result.claims["device_id"] == tab.device_id  # authentic, shown, but not valid


def test_a_receipt_dated_before_its_credential_is_invalid():
    tab = tablet()
    result = rt.verify_receipt(sign(tab, iat=NOW - timedelta(hours=3)), JWKS)
    assert result.reasons == ["credential-expired"]


def test_clock_drift_within_five_minutes_is_tolerated():
    tab = tablet(iat=NOW - timedelta(hours=24, minutes=2))  # expired two minutes ago
    assert rt.verify_receipt(sign(tab, iat=NOW), JWKS).valid


def test_a_receipt_stays_valid_long_after_its_credential_expired():
    token = sign(tablet())
    assert rt.verify_receipt(token, JWKS, now=NOW + timedelta(days=3650)).valid


def test_a_receipt_dated_in_the_future_is_invalid():
    token = sign(tablet(), iat=NOW + timedelta(hours=2))
    assert rt.verify_receipt(token, JWKS, now=NOW).reasons == ["issued-in-future"]


def test_a_credential_from_an_unknown_server_key_is_invalid():
    rogue, _ = new_server("test-server")  # even under the same kid
    result = rt.verify_receipt(sign(tablet(rogue)), JWKS)
    assert not result.valid and result.reasons == ["unknown-key"]
    assert rt.verify_receipt(sign(tablet()), {"keys": []}).reasons == ["unknown-key"]
    assert rt.verify_receipt(sign(tablet()), {"nonsense": 1}).reasons == ["unknown-key"]


def test_the_right_key_is_found_among_several():
    old, old_jwks = new_server("old")
    jwks = {"keys": JWKS["keys"] + old_jwks["keys"]}
    result = rt.verify_receipt(sign(tablet(old)), jwks)
    assert result.valid and result.claims["server_kid"] == "old"


def test_an_oversized_token_is_refused_without_parsing(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("parsed")

    monkeypatch.setattr(rt, "jws_split", boom)
    monkeypatch.setattr(rt, "open_device_credential", boom)
    for token in ("A" * (rt.MAX_TOKEN_CHARS + 1), "." * 10**6, b"x" * 10**4):
        result = rt.verify_receipt(token, JWKS)
        assert result == rt.VerifyResult(False, ["oversized"], {}, result.detail)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c",
        "....",
        "é.é.é",
        f"{b64url(b'{}')}.{b64url(b'{}')}.{b64url(bytes(64))}",
        "DR2-",
        "DR2-abc",
        "DR2-" + "A" * 400,
        "DR2-" + b32(b"\x02" + bytes(200)),
    ],
)
def test_garbage_is_malformed(token):
    assert rt.verify_receipt(token, JWKS).reasons == ["malformed"]


def test_other_tokens_are_not_receipts():
    tab = tablet()
    token = legacy(tab)
    _, payload, _ = segments(token)
    assert rt.verify_receipt(tab.credential, JWKS).reasons == ["malformed"]  # typ dc
    assert rt.verify_receipt(with_header(token, typ="at+jwt"), JWKS).reasons == ["malformed"]
    assert rt.verify_receipt(with_header(token, alg="none"), JWKS).reasons == ["malformed"]
    assert rt.verify_receipt(with_header(token, alg="HS256"), JWKS).reasons == ["malformed"]
    # A credential whose typ is not dc cannot stand in the header.
    wrong = jws_sign({"alg": "ES256", "typ": "at+jwt"}, segments(tab.credential)[1], SERVER_KEY)
    resigned = jws_sign({"alg": "ES256", "typ": "dr", "dc": wrong}, payload, tab.key)
    assert rt.verify_receipt(resigned, JWKS).reasons == ["credential-invalid"]


def test_missing_claims_are_reported():
    tab = tablet()
    _, payload, _ = segments(legacy(tab))
    for drop in ("jti", "iat", "pn", "rn", "ih", "sq"):
        body = {k: v for k, v in json.loads(payload).items() if k != drop}
        token = jws_sign({"alg": "ES256", "typ": "dr", "dc": tab.credential}, json_bytes(body), tab.key)
        result = rt.verify_receipt(token, JWKS)
        assert not result.valid and result.reasons == ["claims-missing"] and drop in result.detail


def test_wrongly_typed_claims_are_reported():
    tab = tablet()
    body = {**json.loads(segments(legacy(tab))[1]), "sq": "7", "ih": "ABCD"}
    token = jws_sign({"alg": "ES256", "typ": "dr", "dc": tab.credential}, json_bytes(body), tab.key)
    assert rt.verify_receipt(token, JWKS).reasons == ["claims-missing"]


# --- building blocks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, masked",
    [("张三丰", "张**"), ("李", "李"), (" 买买提·艾力 ", "买*****"), ("欧阳娜娜", "欧***"), ("𠀋一", "𠀋*")],
)
def test_mask_name(name, masked):
    assert rt.mask_name(name) == masked


def test_mask_name_refuses_nothing():
    for bad in ("", "   ", None):
        with pytest.raises(ValueError):
            rt.mask_name(bad)


def test_identity_hint_is_keyed_by_the_jti():
    jti = bytes(range(16))
    hint = rt.identity_hint(jti, IDENTITY)
    assert re.fullmatch(r"[0-9a-f]{4}", hint)
    assert rt.identity_hint(b64url(jti), IDENTITY) == hint  # jti as text
    assert rt.identity_hint(jti, " " + IDENTITY.lower() + " ") == hint  # normalised
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in IDENTITY)  # typed on a phone
    assert rt.identity_hint(jti, full_width) == hint
    assert len({rt.identity_hint(bytes([i]) * 16, IDENTITY) for i in range(64)}) > 50
    with pytest.raises(ValueError):
        rt.identity_hint(b"short", IDENTITY)


def test_decode_png_refuses_what_is_not_one_qr_code():
    blank = BytesIO()
    Image.new("L", (200, 200), 255).save(blank, format="PNG")
    jpeg = BytesIO()
    Image.new("L", (50, 50), 255).save(jpeg, format="JPEG")
    for data in (b"not an image", blank.getvalue(), jpeg.getvalue()):
        with pytest.raises(rt.ReceiptError) as info:
            rt.decode_png(data)
        assert info.value.reason == "malformed"


# --- fixed test vectors -------------------------------------------------------------------------


def vector(name: str) -> str:
    return (VECTORS / name).read_text(encoding="utf-8").strip()


VECTOR_INPUTS = json.loads(vector("inputs.json"))
VECTOR_JWKS = json.loads(vector("server_jwks.json"))


@pytest.mark.parametrize("name", ["receipt.txt", "receipt_compact.txt"])
def test_the_committed_receipt_verifies_against_the_committed_jwks(name):
    """receipt.txt is of the first format (a compact JWS), receipt_compact.txt the same receipt in
    the compact one: both verify, to the same claims."""
    token = vector(name)
    # today, and forever after (a run pinned before it was issued checks it on its issue date)
    issued = datetime.fromisoformat(VECTOR_INPUTS["receipt_iat"])
    result = rt.verify_receipt(token, VECTOR_JWKS, now=max(utcnow(), issued))
    assert result.valid, result
    assert result.claims == json.loads(vector("claims.json"))
    assert result.claims["iat"] == VECTOR_INPUTS["receipt_iat"]
    assert rt.hint_matches(result.claims, VECTOR_INPUTS["identity_number"])
    assert not rt.hint_matches(result.claims, valid_identity(serial=6))
    assert rt.verify_receipt(token, JWKS).reasons == ["unknown-key"]


def test_the_committed_credential_decodes_as_issued():
    at = datetime.fromisoformat(VECTOR_INPUTS["receipt_iat"])
    cred = decode_device_credential(vector("credential.txt"), VECTOR_JWKS, at)
    device_pem = (VECTORS / "device_key.pem").read_bytes()
    device = serialization.load_pem_private_key(device_pem, password=None)
    expected = public_jwk(device.public_key())
    assert cred["public_jwk"] == {k: expected[k] for k in ("kty", "crv", "x", "y")}
    assert (cred["device_id"], cred["officer_id"], cred["station_id"]) == (
        VECTOR_INPUTS["device_id"],
        VECTOR_INPUTS["officer_id"],
        VECTOR_INPUTS["station_id"],
    )
    assert cred["iat"].isoformat() == VECTOR_INPUTS["credential_iat"]
    assert cred["exp"].isoformat() == VECTOR_INPUTS["credential_exp"]


def test_todays_code_encodes_the_vectors_identically():
    """ECDSA signatures are randomised; everything they sign must not drift."""
    from tests.field_api.delivery.vectors import make_vectors

    server = serialization.load_pem_private_key((VECTORS / "server_key.pem").read_bytes(), password=None)
    device = serialization.load_pem_private_key((VECTORS / "device_key.pem").read_bytes(), password=None)
    cred = make_vectors.credential(server, device)
    assert cred.split(".")[:2] == vector("credential.txt").split(".")[:2]
    token = make_vectors.legacy_receipt(device, vector("credential.txt"))
    assert token.split(".")[:2] == vector("receipt.txt").split(".")[:2]
    token = make_vectors.receipt(device, vector("credential.txt"))
    assert raw(token)[:-64] == raw(vector("receipt_compact.txt"))[:-64]
    assert make_vectors.INPUTS == VECTOR_INPUTS


# --- through the server and the commands ----------------------------------------------------------


def device_login(client, user, device):
    r = client.post(
        "/api/v1/auth/login", json={"username": user.username, "password": PASSWORD, "device_id": str(device.id)}
    )
    assert r.status_code == 200, r.json
    return r.json


def test_a_receipt_from_a_logged_in_tablet_verifies_against_the_published_jwks(client, make, world):
    device = make.device(world.stations[0])
    officer = world.officer[0]
    cred = device_login(client, officer, device)["device_credential"]
    token = rt.sign_receipt(device.private_key, cred, **REALISTIC)
    result = rt.verify_receipt(token, client.get("/.well-known/jwks.json").json)
    assert result.valid, result
    assert (result.claims["device_id"], result.claims["officer_id"], result.claims["station_id"]) == (
        str(device.id),
        str(officer.id),
        str(world.stations[0].id),
    )


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=[str(a) for a in args])


@pytest.fixture
def files(tmp_path):
    tab = tablet()
    token = sign(tab)
    (tmp_path / "jwks.json").write_text(json.dumps(JWKS))
    (tmp_path / "receipt.png").write_bytes(rt.render_png(token))
    (tmp_path / "receipt.txt").write_text(token + "\n")
    data = raw(token)
    in_permit_number = 190
    tampered = compact(data[:in_permit_number] + b"Y" + data[in_permit_number + 1 :])
    (tmp_path / "tampered.png").write_bytes(rt.render_png(tampered))
    return tmp_path, token, tab


def test_cli_verifies_a_png_offline(cli, files):
    tmp, _token, tab = files
    result = cli("verify-receipt", tmp / "receipt.png", "--jwks", tmp / "jwks.json")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "valid" and lines[1] == "reasons: -"
    assert f"  device_id: {tab.device_id}" in lines and "  permit_number: XH01-2026-000123" in lines
    assert "  recipient: 张**" in lines


def test_cli_verifies_a_token_string_and_a_text_file(cli, files):
    tmp, token, _ = files
    for arg in (token, tmp / "receipt.txt"):
        result = cli("verify-receipt", arg, "--jwks", tmp / "jwks.json")
        assert result.exit_code == 0 and result.output.startswith("valid\n"), result.output


def test_cli_exits_1_for_a_tampered_receipt(cli, files):
    tmp, token, _ = files
    result = cli("verify-receipt", tmp / "tampered.png", "--jwks", tmp / "jwks.json")
    assert result.exit_code == 1
    assert result.output.startswith("invalid\nreasons: signature-invalid\n"), result.output
    assert "permit_number" not in result.output
    result = cli("verify-receipt", token[:-3] + "AAA", "--jwks", tmp / "jwks.json")
    assert result.exit_code == 1 and result.output.startswith("invalid\n")


def test_cli_exits_1_for_an_image_without_a_receipt(cli, files):
    tmp, _, _ = files
    Image.new("L", (100, 100), 255).save(tmp / "blank.png")
    result = cli("verify-receipt", tmp / "blank.png", "--jwks", tmp / "jwks.json")
    assert result.exit_code == 1 and "reasons: malformed" in result.output


def test_cache_jwks_then_verify_offline_from_the_cache(app, cli, client, make, world, tmp_path, monkeypatch):
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    result = cli("verify-receipt", "x.y.z")
    assert result.exit_code != 0 and "cache-jwks" in result.output  # no cache yet: says what to do
    device = make.device(world.stations[0])
    cred = device_login(client, world.officer[0], device)["device_credential"]
    token = rt.sign_receipt(device.private_key, cred, **REALISTIC)
    result = cli("cache-jwks")
    assert result.exit_code == 0 and "wrote 1 key(s)" in result.output, result.output
    cached = json.loads((tmp_path / "jwks-cache.json").read_text())
    assert cached == client.get("/.well-known/jwks.json").json
    result = cli("verify-receipt", token)
    assert result.exit_code == 0 and result.output.startswith("valid\n"), result.output
    assert f"  officer_id: {world.officer[0].id}" in result.output.splitlines()


def test_cache_jwks_keeps_retired_keys_and_keys_it_already_had(app, cli, tmp_path):
    path = tmp_path / "cache.json"
    old, old_jwks = new_server("from-an-older-cache")
    path.write_text(json.dumps(old_jwks))
    assert cli("rotate-keys").exit_code == 0
    assert cli("rotate-keys").exit_code == 0
    result = cli("cache-jwks", "--output", path)
    assert result.exit_code == 0, result.output
    kids = [k["kid"] for k in json.loads(path.read_text())["keys"]]
    assert len(kids) == 3 and kids[-1] == "from-an-older-cache"
    result = cli("verify-receipt", sign(tablet(old)), "--jwks", path)
    assert result.exit_code == 0, result.output
