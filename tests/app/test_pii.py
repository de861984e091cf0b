"""Identity and phone numbers: what is accepted, how it is stored, how it is shown."""

from __future__ import annotations

import base64
import os
from datetime import date

import pytest
from cryptography.exceptions import InvalidTag

from app import pii
from compose import create_app
from tests.factories import mobile, valid_identity
from tests.fixtures.database import make_config


def _identity_ending_in_x(region="330106", born="19900307") -> str:
    for serial in range(1000):
        first17 = f"{region}{born}{serial:03d}"
        if pii.identity_check_char(first17) == "X":
            return first17 + "X"
    raise AssertionError("no serial gives an X check character")


@pytest.fixture(scope="module")
def pii_app():
    """An app for its configuration only. Not the shared ``app`` fixture: these tests never touch
    the database, so they need neither its migrations nor the table clean-up after each test."""
    return create_app(make_config())


def _with_check(first17: str) -> str:
    return first17 + pii.identity_check_char(first17)


# --- identity numbers (GB 11643-1999) ----------------------------------------------------


def test_check_character_of_a_published_example():
    """The worked example of the standard: 11010519491231002 has check character X."""
    assert pii.identity_check_char("11010519491231002") == "X"
    assert pii.normalize_identity("11010519491231002X") == "11010519491231002X"


def test_valid_identity_is_accepted_unchanged():
    number = valid_identity()
    assert pii.normalize_identity(number) == number


def test_surrounding_whitespace_is_ignored():
    number = valid_identity()
    assert pii.normalize_identity(f"  {number}\n") == number


def test_wrong_check_character_is_refused():
    number = valid_identity()
    wrong = next(c for c in "0123456789X" if c != number[-1])
    with pytest.raises(pii.InvalidPII, match="check character"):
        pii.normalize_identity(number[:17] + wrong)


def test_single_digit_typo_is_caught_by_the_check_character():
    number = valid_identity(serial=123)
    typo = number[:15] + str((int(number[15]) + 1) % 10) + number[16:]  # a serial digit
    with pytest.raises(pii.InvalidPII, match="check character"):
        pii.normalize_identity(typo)


def test_lowercase_x_is_normalised_to_upper_case():
    number = _identity_ending_in_x()
    assert pii.normalize_identity(number.lower()) == number
    assert pii.normalize_identity(number.lower()).endswith("X")


@pytest.mark.parametrize("born", ["19900230", "19890229", "19901301", "19900000", "19900431"])
def test_impossible_birth_date_is_refused(born):
    with pytest.raises(pii.InvalidPII, match="not a real date"):
        pii.normalize_identity(_with_check(f"330106{born}123"))


def test_leap_day_in_a_leap_year_is_a_real_date():
    number = _with_check("33010620000229123")
    assert pii.normalize_identity(number) == number


def test_future_birth_date_is_refused():
    number = _with_check("33010620300101123")
    with pytest.raises(pii.InvalidPII, match="out of range"):
        pii.normalize_identity(number, today=date(2026, 11, 21))


def test_birth_today_is_accepted_but_tomorrow_is_not():
    today = date(2026, 11, 21)
    assert pii.normalize_identity(_with_check("33010620261121123"), today=today)
    with pytest.raises(pii.InvalidPII, match="out of range"):
        pii.normalize_identity(_with_check("33010620261122123"), today=today)


def test_birth_before_1900_is_refused():
    with pytest.raises(pii.InvalidPII, match="out of range"):
        pii.normalize_identity(_with_check("33010618991231123"))


def test_region_code_starting_with_zero_is_refused():
    with pytest.raises(pii.InvalidPII, match="region code"):
        pii.normalize_identity(_with_check("03010619900307123"))


@pytest.mark.parametrize("value", ["", "33010619900307123", "3301061990030712345", "330106900307123"])
def test_wrong_length_is_refused(value):
    with pytest.raises(pii.InvalidPII, match="18 characters"):
        pii.normalize_identity(value)


@pytest.mark.parametrize("value", ["33010619900307123Y", "3301061990O307123X", "33010619900307X234"])
def test_letters_other_than_a_final_x_are_refused(value):
    with pytest.raises(pii.InvalidPII, match="17 digits"):
        pii.normalize_identity(value)


def _fullwidth(digits: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) for c in digits)


def test_look_alike_digits_are_refused():
    """Full-width digits would pass a Unicode ``\\d`` and int(), yet give another blind index
    than the same number typed in ASCII: one person, two records."""
    first17 = "3" + _fullwidth("3010619900307123")
    with pytest.raises(pii.InvalidPII, match="17 digits"):
        pii.normalize_identity(first17 + pii.identity_check_char(first17))
    with pytest.raises(pii.InvalidPII):
        pii.normalize_phone("1" + _fullwidth("3812345678"))


@pytest.mark.parametrize("value", [None, 330106199003071234, ["33010619900307123X"]])
def test_identity_must_be_a_string(value):
    with pytest.raises(pii.InvalidPII, match="string"):
        pii.normalize_identity(value)


# --- phone numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["13", "14", "15", "16", "17", "18", "19"])
def test_mobile_prefixes_13_to_19_are_accepted(prefix):
    assert pii.normalize_phone(f"{prefix}812345678") == f"{prefix}812345678"


@pytest.mark.parametrize(
    "raw",
    [
        "+8613812345678",
        "008613812345678",
        "+86 138 1234 5678",
        "138-1234-5678",
        "0086-138-1234-5678",
        " 13812345678 ",
        "13812345678\n",
    ],
)
def test_country_prefix_spaces_and_dashes_are_accepted(raw):
    assert pii.normalize_phone(raw) == "13812345678"


@pytest.mark.parametrize(
    "raw",
    [
        "138123456789",
        "1381234567",
        "12812345678",
        "11812345678",
        "23812345678",
        "+85213812345678",
        "1381234567a",
        "+86+8613812345678",
        "",
    ],
)
def test_not_a_mainland_mobile_is_refused(raw):
    with pytest.raises(pii.InvalidPII, match="11-digit"):
        pii.normalize_phone(raw)


@pytest.mark.parametrize("value", [None, 13812345678])
def test_phone_must_be_a_string(value):
    with pytest.raises(pii.InvalidPII, match="string"):
        pii.normalize_phone(value)


# --- encryption at rest ---------------------------------------------------------------------


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_round_trip(pii_app):
    number = valid_identity()
    with pii_app.app_context():
        token = pii.encrypt(pii.IDENTITY, number)
        assert number not in token
        assert pii.decrypt(pii.IDENTITY, token) == number
        assert pii.decrypt(pii.PHONE, pii.encrypt(pii.PHONE, "13812345678")) == "13812345678"


def test_none_stays_none(pii_app):
    with pii_app.app_context():
        assert pii.encrypt(pii.PHONE, None) is None
        assert pii.decrypt(pii.PHONE, None) is None
        assert pii.blind_index(pii.PHONE, None) is None


def test_same_value_encrypts_differently_each_time(pii_app):
    """A random nonce: equal ciphertexts would let anyone with the table spot equal numbers."""
    with pii_app.app_context():
        tokens = {pii.encrypt(pii.PHONE, "13812345678") for _ in range(5)}
    assert len(tokens) == 5


def test_ciphertext_names_the_current_key(pii_app):
    kid = pii_app.config["PII_KEYS"].split(",")[0].split(":")[0]
    with pii_app.app_context():
        assert pii.encrypt(pii.PHONE, "13812345678").startswith(f"{kid}:")


def test_ciphertext_is_bound_to_its_purpose(pii_app):
    """An identity ciphertext copied into a phone column must not decrypt."""
    with pii_app.app_context():
        token = pii.encrypt(pii.IDENTITY, valid_identity())
        with pytest.raises(InvalidTag):
            pii.decrypt(pii.PHONE, token)


def test_a_number_made_or_opened_is_opened_again_without_the_cipher(pii_app):
    """A booking's snapshot, response and notice read the numbers it encrypted: decrypted once
    (here: never), by purpose, and only the last few are kept."""
    with pii_app.app_context():
        keys = pii.keys()
        phone = mobile()
        token = pii.encrypt(pii.PHONE, phone)
        assert keys.recent[(pii.PHONE, token)] == phone
        keys.recent[(pii.PHONE, token)] = "remembered"
        assert pii.decrypt(pii.PHONE, token) == "remembered"  # the cipher was not asked
        with pytest.raises(InvalidTag):  # another purpose is not remembered: the cipher refuses it
            pii.decrypt(pii.IDENTITY, token)
        keys.recent.clear()
        assert pii.decrypt(pii.PHONE, token) == phone and (pii.PHONE, token) in keys.recent
        for _ in range(pii.RECENT_PLAINTEXTS + 1):
            pii.encrypt(pii.PHONE, phone)
        assert len(keys.recent) <= pii.RECENT_PLAINTEXTS


def test_tampered_ciphertext_is_refused(pii_app):
    with pii_app.app_context():
        kid, _, b64 = pii.encrypt(pii.PHONE, "13812345678").partition(":")
        raw = bytearray(base64.b64decode(b64))
        raw[-1] ^= 1
        with pytest.raises(InvalidTag):
            pii.decrypt(pii.PHONE, f"{kid}:{base64.b64encode(bytes(raw)).decode()}")


def test_key_rotation_reads_old_values_and_writes_with_the_new_key():
    old, new = _key(), _key()
    before = create_app(make_config(PII_KEYS=f"old:{old}"))
    after = create_app(make_config(PII_KEYS=f"new:{new},old:{old}"))
    with before.app_context():
        stored = pii.encrypt(pii.PHONE, "13812345678")
    assert stored.startswith("old:")
    with after.app_context():
        assert pii.decrypt(pii.PHONE, stored) == "13812345678"
        rewritten = pii.encrypt(pii.PHONE, "13812345678")
        assert rewritten.startswith("new:")
    with before.app_context(), pytest.raises(RuntimeError, match="'new' is not configured"):
        pii.decrypt(pii.PHONE, rewritten)


def test_a_key_dropped_from_the_configuration_no_longer_decrypts():
    old, new = _key(), _key()
    before = create_app(make_config(PII_KEYS=f"old:{old}"))
    only_new = create_app(make_config(PII_KEYS=f"new:{new}"))
    with before.app_context():
        stored = pii.encrypt(pii.PHONE, "13812345678")
    with only_new.app_context(), pytest.raises(RuntimeError, match="'old' is not configured"):
        pii.decrypt(pii.PHONE, stored)


@pytest.mark.parametrize(
    "keys", ["nokid", f":{base64.b64encode(b'x' * 32).decode()}", f"short:{base64.b64encode(b'x' * 16).decode()}"]
)
def test_malformed_keys_are_refused_on_first_use(keys):
    bad = create_app(make_config(PII_KEYS=keys))
    with bad.app_context(), pytest.raises(RuntimeError, match="kid:base64"):
        pii.encrypt(pii.PHONE, "13812345678")


# --- blind indexes -------------------------------------------------------------------------


def test_blind_index_is_deterministic_and_hides_the_value(pii_app):
    with pii_app.app_context():
        a = pii.blind_index(pii.PHONE, "13812345678")
        assert a == pii.blind_index(pii.PHONE, "13812345678")
        assert a != pii.blind_index(pii.PHONE, "13812345679")
    assert len(a) == 64 and "13812345678" not in a


def test_blind_index_is_separated_by_purpose(pii_app):
    with pii_app.app_context():
        assert pii.blind_index(pii.PHONE, "13812345678") != pii.blind_index(pii.IDENTITY, "13812345678")


def test_blind_index_depends_on_its_key():
    """Without the key nobody can compute the index of a guessed number."""
    other = create_app(make_config(BLIND_INDEX_KEY=_key()))
    default = create_app(make_config())
    with default.app_context():
        a = pii.blind_index(pii.PHONE, "13812345678")
    with other.app_context():
        b = pii.blind_index(pii.PHONE, "13812345678")
    assert a != b


def test_blind_index_does_not_change_when_the_encryption_key_rotates():
    default = create_app(make_config())
    rotated = create_app(make_config(PII_KEYS=f"new:{_key()},{default.config['PII_KEYS']}"))
    with default.app_context():
        a = pii.blind_index(pii.PHONE, "13812345678")
    with rotated.app_context():
        assert pii.blind_index(pii.PHONE, "13812345678") == a


# --- masking ----------------------------------------------------------------------------------


def test_masks():
    assert pii.mask_identity("33010619900307123X") == "3301**********123X"
    assert pii.mask_phone("13812345678") == "138****5678"
    assert pii.mask_identity(None) is None and pii.mask_phone(None) is None


def test_scrub_masks_numbers_inside_free_text():
    identity = _identity_ending_in_x()
    text = f"电话13812345678，证件{identity.lower()}; also +8613912345678 and ({identity})"
    scrubbed = pii.scrub(text)
    assert "13812345678" not in scrubbed and "13912345678" not in scrubbed
    assert identity[4:14] not in scrubbed and identity.lower()[4:14] not in scrubbed
    assert "电话138****5678，" in scrubbed
    assert "139****5678" in scrubbed
    assert f"({pii.mask_identity(identity)})" in scrubbed
    assert f"证件{identity[:4]}**********{identity[-4:-1]}x" in scrubbed


def test_scrub_leaves_other_numbers_alone():
    text = "booking 2026112100013 took 1380 ms, order 12812345678, id 9"
    assert pii.scrub(text) == text


def test_scrub_masks_a_mobile_made_by_the_factory():
    number = mobile()
    assert pii.scrub(f"sms to {number}") == f"sms to {pii.mask_phone(number)}"


@pytest.mark.parametrize("written", ["138 1234 5678", "138-1234-5678", "+86 13812345678", "8613812345678"])
def test_scrub_masks_phone_numbers_however_they_are_written(written):
    scrubbed = pii.scrub(f"caller left {written} at the desk")
    assert "1234" not in scrubbed and "5678" in scrubbed
