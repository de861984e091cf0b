"""Write ``doorstep_protocol/vectors/*.json``: run once, commit the output, regenerate only when
the protocol changes (and then both sides' tests say what moved).

    .venv/bin/python -m tests.doorstep_protocol.make_vectors

The keys and the device credential are the receipt vectors' (tests/field_api/delivery/vectors), so the
two sets agree. ECDSA signatures are randomised: a vector's signature is one that verifies, while
everything it covers (signing inputs, payloads, hashes) must be reproduced exactly. Everything is
fictitious: ids, people, identity numbers, keys.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from app.errors import phrase
from app.web.i18n import MESSAGES_LOCALE, catalogue
from doorstep_protocol import device_proof, identity, receipts
from doorstep_protocol.encoding import b64url, json_bytes, raw_signature
from doorstep_protocol.limits import PROTOCOL_VERSION
from doorstep_protocol.testing import receipt_claims

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "doorstep_protocol" / "vectors"
KEYS = ROOT / "tests" / "field_api" / "delivery" / "vectors"
TODAY = date(2026, 3, 2)


def _write(name: str, obj) -> None:
    (OUT / name).write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _device_key():
    return serialization.load_pem_private_key((KEYS / "device_key.pem").read_bytes(), password=None)


def _public_jwk(key) -> dict:
    n = key.public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": b64url(n.x.to_bytes(32, "big")), "y": b64url(n.y.to_bytes(32, "big"))}


def _sign(key, data: bytes) -> bytes:
    return raw_signature(*decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256()))))


def _with_check(first17: str) -> str:
    return first17 + identity.check_character(first17)


def identity_numbers() -> dict:
    good = _with_check("11010519900307005")
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    valid = [
        {"input": "11010519491231002X", "canonical": "11010519491231002X", "note": "check character X"},
        {"input": "11010519491231002x", "canonical": "11010519491231002X", "note": "lower-case x is upper-cased"},
        {"input": "  11010519491231002X\n", "canonical": "11010519491231002X", "note": "surrounding space trimmed"},
        {"input": good, "canonical": good, "note": "the receipt vectors' holder"},
        {
            "input": _with_check("44030420000229123"),
            "canonical": _with_check("44030420000229123"),
            "note": "born on 29 February of a leap year",
        },
        {
            "input": _with_check("31010119000101000"),
            "canonical": _with_check("31010119000101000"),
            "note": "born on the first day accepted",
        },
    ]
    invalid = [
        {"input": 110105194912310020, "reason": "not-a-string", "note": "a JSON number"},
        {"input": None, "reason": "not-a-string"},
        {"input": "", "reason": "length"},
        {"input": "11010519491231002", "reason": "length", "note": "17 characters"},
        {"input": "11010519491231002X0", "reason": "length", "note": "19 characters"},
        {"input": _with_check("01010519900307005"), "reason": "shape", "note": "region code starts with 0"},
        {
            "input": "１１０１０５１９４９１２３１００２Ｘ",
            "reason": "shape",
            "note": "full-width digits are refused here (the hint form accepts them)",
        },
        {"input": "1101051949123100ZX", "reason": "shape", "note": "a letter among the digits"},
        {"input": _with_check("11010519900230005"), "reason": "birth-date-invalid", "note": "30 February"},
        {"input": _with_check("11010519001301005"), "reason": "birth-date-invalid", "note": "month 13"},
        {"input": _with_check("11010518991231005"), "reason": "birth-date-out-of-range", "note": "before 1900"},
        {
            "input": _with_check("11010520260303005"),
            "reason": "birth-date-out-of-range",
            "note": "born the day after today",
        },
        {"input": wrong, "reason": "check-character"},
    ]
    for case in valid:
        assert identity.validate(case["input"], today=TODAY) == case["canonical"], case
    for case in invalid:
        try:
            identity.validate(case["input"], today=TODAY)
        except identity.InvalidIdentityNumber as exc:
            assert exc.reason == case["reason"], (case, exc.reason)
        else:
            raise AssertionError(case)
    hint_forms = [
        {"input": "11010519900307005X", "normalized": "11010519900307005X"},
        {"input": " 11010519900307005x ", "normalized": "11010519900307005X"},
        {
            "input": "１１０１０５１９９００３０７００５ｘ",
            "normalized": "11010519900307005X",
            "note": "full-width digits and letter, as typed on a Chinese keyboard",
        },
    ]
    for case in hint_forms:
        assert identity.normalize_for_hint(case["input"]) == case["normalized"]
    return {
        "today": TODAY.isoformat(),
        "valid": valid,
        "invalid": invalid,
        "hint_forms": hint_forms,
        "hint_form_invalid": ["", "   ", None],
    }


def device_proofs() -> dict:
    key = _device_key()
    cases = []
    for method, target, seconds, nonce, token in (
        ("POST", "/api/v1/sync/push", 1772433000, "q1w2e3r4t5y6u7i8", "header.payload.signature"),
        ("get", "/api/v1/visits?day=2026-03-02", 1772433061, "AAAAAAAA", "eyJhbGciOiJFUzI1NiJ9.e30.c2ln"),
        ("POST", "/api/v1/sync/pull", 1772436600, "n" * 64, "a-much-longer-access-token-" + "x" * 200),
    ):
        data = device_proof.signing_input(method, target, seconds, nonce, token)
        cases.append(
            {
                "method": method,
                "target": target,
                "seconds": seconds,
                "nonce": nonce,
                "access_token": token,
                "token_hash": device_proof.token_hash(token),
                "signing_input": data.decode(),
                "header": device_proof.header_value(seconds, nonce, _sign(key, data)),
            }
        )
    return {
        "public_jwk": _public_jwk(key),
        "private_key_pem": (KEYS / "device_key.pem").read_text(),
        "cases": cases,
        "malformed_headers": [
            "",
            "1772433000.q1w2e3r4t5y6u7i8",
            "x.q1w2e3r4t5y6u7i8.AAAA",
            "1772433000.q1w2e3r4t5y6u7i8.not*base64",
        ],
    }


def receipt_vectors() -> dict:
    key = _device_key()
    credential = (KEYS / "credential.txt").read_text().strip()
    jwks = json.loads((KEYS / "server_jwks.json").read_text())
    cases = []
    for inputs in (
        {
            "jti_hex": "00112233445566778899aabbccddeeff",
            "iat": 1772433000,
            "permit_number": "XH01-2026-000123",
            "recipient_name": "张三丰",
            "identity_number": "11010519900307005X",
            "seq": 42,
        },
        {
            "jti_hex": "ffeeddccbbaa99887766554433221100",
            "iat": 1772433001,
            "permit_number": "  XH01-2026-000124 ",
            "recipient_name": " 欧阳娜娜 ",
            "identity_number": "１１０１０５１９９００３０７００５ｘ",
            "seq": 0,
        },
        {
            "jti_hex": "0f" * 16,
            "iat": 1772440000,
            "permit_number": "XH01-2026-000125",
            "recipient_name": "Li",
            "identity_number": "11010519491231002x",
            "seq": 2**31,
        },
    ):
        payload = receipt_claims(inputs)
        header = receipts.header(credential)
        signing_input = receipts.signing_input(header, json_bytes(payload))
        compact_input = receipts.compact_signing_input(credential, payload)
        cases.append(
            {
                "inputs": inputs,
                "payload": payload,
                "compact": {
                    "signing_input_hex": compact_input.hex(),
                    "token": receipts.compact_token(compact_input, _sign(key, compact_input)),
                },
                "payload_json": json_bytes(payload).decode("utf-8"),
                "header": header,
                "signing_input": signing_input.decode("ascii"),
                "token": f"{signing_input.decode('ascii')}.{b64url(_sign(key, signing_input))}",
            }
        )
    base = cases[0]["inputs"]
    invalid = [
        {"change": {"permit_number": "  "}, "error": "permit_number"},
        {"change": {"permit_number": "XH01\n2026"}, "error": "permit_number"},
        {"change": {"recipient_name": " "}, "error": "name"},
        {"change": {"identity_number": ""}, "error": "identity number"},
        {"change": {"seq": -1}, "error": "seq"},
        {"change": {"jti_hex": "0011"}, "error": "jti"},
    ]
    for case in invalid:
        args = {**base, **case["change"]}
        try:
            receipt_claims(args)
        except ValueError as exc:
            assert case["error"] in str(exc), (case, exc)
        else:
            raise AssertionError(case)
    compact_invalid = [{"change": {"seq": 2**32}, "error": "seq"}]
    for case in compact_invalid:
        args = {**base, **case["change"]}
        claims = receipt_claims(args)
        try:
            receipts.compact_signing_input(credential, claims)
        except ValueError as exc:
            assert case["error"] in str(exc), (case, exc)
        else:
            raise AssertionError(case)
    return {
        "device_credential": credential,
        "server_jwks": jwks,
        "device_public_jwk": _public_jwk(key),
        "device_private_key_pem": (KEYS / "device_key.pem").read_text(),
        "qr_capacity": receipts.QR_CAPACITY,
        "compact_prefix": receipts.COMPACT_PREFIX,
        "cases": cases,
        "invalid": invalid,
        "compact_invalid": compact_invalid,
    }


RESIDENT = "5b0e1d2c-3a4b-4c5d-8e6f-708192a3b4c5"
AREA = "a1e2b3c4-d5e6-4f70-8192-a3b4c5d6e7f8"
APPLICATION = "9c8b7a69-5847-4362-9150-a4b3c2d1e0f9"
SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def mutations() -> dict:
    """The data each (entity, op) carries, as the reference client builds it from the officer's
    action, and data the server must refuse naming the field."""
    valid = [
        {
            "entity": "resident",
            "op": "create",
            "action": "register_resident",
            "args": {
                "name": "张三",
                "sex": "male",
                "identity_number": "11010519491231002X",
                "phone": "13812345678",
                "ethnicity": "汉族",
                "hukou_address": "北京市西城区",
                "photo_sha256": None,
            },
            "data": {
                "name": "张三",
                "sex": "male",
                "ethnicity": "汉族",
                "identity_number": "11010519491231002X",
                "phone": "13812345678",
                "hukou_address": "北京市西城区",
                "photo_sha256": None,
            },
        },
        {
            "entity": "resident",
            "op": "update",
            "action": "update_resident",
            "args": {"phone": "13900001111"},
            "data": {"phone": "13900001111"},
        },
        {
            "entity": "registration",
            "op": "create",
            "action": "register_residence",
            "args": {
                "resident_id": RESIDENT,
                "area_id": AREA,
                "address": "幸福路1号3单元502",
                "start_date": "2026-03-01",
                "reason": "work",
                "housing": "rented",
                "landlord_name": "王先生",
                "landlord_phone": "13700002222",
                "employer_name": None,
            },
            "data": {
                "resident_id": RESIDENT,
                "area_id": AREA,
                "address": "幸福路1号3单元502",
                "start_date": "2026-03-01",
                "reason": "work",
                "housing": "rented",
                "landlord_name": "王先生",
                "landlord_phone": "13700002222",
                "employer_name": None,
            },
        },
        {
            "entity": "registration",
            "op": "update",
            "action": "update_registration",
            "args": {"housing": "owned", "landlord_name": None},
            "data": {"housing": "owned", "landlord_name": None},
        },
        {
            "entity": "registration",
            "op": "end",
            "action": "end_registration",
            "args": {"end_date": "2026-06-30", "reason": "moved_away"},
            "data": {"end_date": "2026-06-30", "reason": "moved_away"},
        },
        {"entity": "visit", "op": "start", "action": "start_visit", "args": {}, "data": {}},
        {
            "entity": "visit",
            "op": "outcome",
            "action": "record_outcome",
            "args": {"outcome": "not_home", "note": ""},
            "data": {"outcome": "not_home", "note": ""},
        },
        {
            "entity": "application",
            "op": "create",
            "action": "apply_for_permit",
            "args": {"resident_id": RESIDENT, "materials": [{"kind": "rental_contract", "attachment_sha256": SHA}]},
            "data": {"resident_id": RESIDENT, "materials": [{"kind": "rental_contract", "attachment_sha256": SHA}]},
        },
        {
            "entity": "application",
            "op": "supply_material",
            "action": "supply_material",
            "args": {"kind": "photo", "attachment_sha256": SHA},
            "data": {"kind": "photo", "attachment_sha256": SHA},
        },
    ]
    invalid = [
        {"entity": "resident", "op": "create", "field": "sex", "data": {**valid[0]["data"], "sex": "unknown"}},
        {
            "entity": "resident",
            "op": "create",
            "field": "name",
            "data": {k: v for k, v in valid[0]["data"].items() if k != "name"},
        },
        {"entity": "resident", "op": "update", "field": "sex", "data": {"sex": "f"}},
        {
            "entity": "registration",
            "op": "create",
            "field": "reason",
            "data": {**valid[2]["data"], "reason": "tourism"},
        },
        {
            "entity": "registration",
            "op": "create",
            "field": "housing",
            "data": {**valid[2]["data"], "housing": "hotel"},
        },
        {
            "entity": "registration",
            "op": "create",
            "field": "start_date",
            "data": {**valid[2]["data"], "start_date": "2026-02-30"},
        },
        {
            "entity": "registration",
            "op": "end",
            "field": "reason",
            "data": {"end_date": "2026-06-30", "reason": "died"},
        },
        {"entity": "visit", "op": "outcome", "field": "outcome", "data": {"outcome": "done", "note": ""}},
        {
            "entity": "delivery",
            "op": "handover",
            "field": "recipient",
            "data": {"recipient": "neighbour", "identity_number": "11010519491231002X", "receipt": "x"},
        },
    ]
    push = {
        "protocol": PROTOCOL_VERSION,
        "sent_at": "2026-03-02T14:30:05+08:00",
        "mutations": [
            {
                "mutation_id": "0b4f7c1e-2d3a-4b5c-9d6e-7f8091a2b3c4",
                "seq": 1,
                "entity": "visit",
                "op": "outcome",
                "id": "d4c3b2a1-0f9e-4d8c-b7a6-958473625140",
                "base_version": 3,
                "data": {"outcome": "completed", "note": ""},
                "occurred_at": "2026-03-02T14:29:59+08:00",
            }
        ],
    }
    return {
        "envelope_keys": ["mutation_id", "seq", "entity", "op", "id", "base_version", "data", "occurred_at"],
        "push_example": push,
        "valid": valid,
        "invalid": invalid,
    }


def conflicts() -> dict:
    """Field-by-field merge cases: what the server writes and what it reports back."""
    from doorstep_protocol.merge import merge_fields

    cases = [
        {
            "name": "untouched fields take the device's value",
            "field_versions": {"name": 1, "phone": 1},
            "base_version": 1,
            "current": {"name": "张三", "phone": "13812345678"},
            "data": {"phone": "13900001111"},
        },
        {
            "name": "a field both changed keeps the server's value and is a conflict",
            "field_versions": {"name": 1, "phone": 2},
            "base_version": 1,
            "current": {"name": "张三", "phone": "13700002222"},
            "data": {"phone": "13900001111"},
        },
        {
            "name": "the same new value on both sides is no conflict",
            "field_versions": {"phone": 2},
            "base_version": 1,
            "current": {"phone": "13900001111"},
            "data": {"phone": "13900001111"},
        },
        {
            "name": "one field clashes, the other applies",
            "field_versions": {"name": 3, "address": 1, "housing": 1},
            "base_version": 2,
            "current": {"name": "张三", "address": "幸福路1号", "housing": "rented"},
            "data": {"name": "张叁", "housing": "owned"},
        },
        {
            "name": "no base version: the device's values apply",
            "field_versions": {"name": 5},
            "base_version": None,
            "current": {"name": "张三"},
            "data": {"name": "李四"},
        },
        {
            "name": "a field never versioned counts as version 0",
            "field_versions": {},
            "base_version": 0,
            "current": {"ethnicity": "汉族"},
            "data": {"ethnicity": "回族"},
        },
    ]
    for case in cases:
        apply, clashes = merge_fields(case["field_versions"], case["base_version"], case["data"], case["current"])
        case["apply"], case["conflict_fields"] = apply, clashes
    return {"cases": cases}


def reasons() -> dict:
    """The server's English reasons with the Chinese an officer reads for them, on the server and on
    the tablet alike. The Chinese is the catalogue's own, filled with the values the reason was
    made with: a translator has only the English to find the template and values in again."""
    zh = catalogue(MESSAGES_LOCALE)
    cases = []

    def translated(template: str, note: str, **values: str) -> None:
        cases.append({"reason": phrase(template, **values), "expected": zh[template] % values, "note": note})

    def kept(reason: str, note: str) -> None:
        assert reason not in zh, reason
        cases.append({"reason": reason, "expected": reason, "note": note})

    translated("registered elsewhere", "a fixed sentence, looked up whole")
    translated("Not a valid date.", "a fixed sentence with a pattern's special character in it")
    translated("must be at most %(limit)s characters", "a template with a number in it", limit="500")
    translated(
        "must be one of %(choices)s",
        "a value with a pattern's special characters, and `$1` that a replacement could take for a group",
        choices=r"completed, not_home (a.b) [x]*+? ^$1 \d{2}|",
    )
    translated(
        "must lie between %(earliest)s and the server's clock plus %(seconds)s s: is the device's clock right?",
        "two values; the template's own words hold `?` and `'`",
        earliest="2026-03-01",
        seconds="300",
    )
    translated("not needed for this application: %(names)s", "a value in Chinese", names="租赁合同, 户口本")
    translated("core materials missing: %(names)s", "a value across lines", names="photo,\nrental_contract")
    translated(
        "declared %(declared)s, but the bytes are not an accepted type",
        "matches a more general template too: the one with more words of its own is meant",
        declared="image/png",
    )
    translated(
        "declared %(declared)s, but the bytes are %(actual)s",
        "the general template",
        declared="image/png",
        actual="application/pdf",
    )
    kept("no such visit", "no template in the catalogue makes it: stays English")
    kept("constructor", "unknown too, though every JavaScript object answers to the name")
    kept("must be one of ", "a template's words with no value where it has one: not that template")
    kept(phrase("must be one of %(choices)s", choices="50%, 100%"), "a `%` in it: left as it is")
    assert "%(n)d days" in zh
    kept(phrase("%(n)d days", n=3), "made from `%(n)d days`: a template with other conversions is left out")
    return {"accept_language": "zh-CN", "cases": cases}


def main() -> None:
    _write("identity_numbers.json", identity_numbers())
    _write("device_proofs.json", device_proofs())
    _write("receipts.json", receipt_vectors())
    _write("mutations.json", mutations())
    _write("conflicts.json", conflicts())
    _write("reasons.json", reasons())


if __name__ == "__main__":
    main()
