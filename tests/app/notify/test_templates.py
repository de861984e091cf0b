"""Every template, in every language, rendered with long but realistic values, fits in two SMS
segments: ≤ 134 characters when any is Chinese (2 × 67 UCS-2), ≤ 306 when all are GSM-7
(2 × 153). English texts carry the station's Chinese name, so they are checked both ways."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from flask import Flask

from app.notify.policy import is_gsm7, sms_segments
from app.notify.templates import TEMPLATES, render, render_masked

ROOT = Path(__file__).resolve().parents[3]


def _register_all_templates() -> None:
    """Import every module that adds templates, so the test sees all of them, including ones
    added after this test was written."""
    importlib.import_module("appointments.notices")
    importlib.import_module("field_api.notices")
    for package in ("app", "appointments", "field_api", "sync"):
        for path in (ROOT / package).rglob("*.py"):
            if "TEMPLATES" in path.read_text(encoding="utf-8") and path.name != "templates.py":
                importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))


_register_all_templates()

# The longest values real data gives each parameter. A new parameter fails the test until it
# is given one here: a template cannot ship without its length having been thought about.
LONG = {
    "station": "乌鲁木齐市公安局沙依巴克区分局炉院街派出所",  # 21 characters
    "reference": "ABCD2345",
    "day": "2026-10-08",
    "start": "09:00",
    "end": "12:00",
    "officer": "阿卜杜热合曼·买买提",
    "number": "XHBSJ01-2026-000123",
    "decision": "未通过",
    "code": "123456",
    "minutes": "10",
    "maturity_date": "2026-12-31",
    "deadline": "2026-12-31",
    "due": "2026-12-31",
    "count": "120",
    "materials": "租房合同、房产证明、单位证明",
    "name": "阿卜杜热合曼·买买提",
    "days": "30",
    "address": "西湖区北山街道保俶路12号3幢2单元501室",
    "link": "B:ABCD2345",  # a booking's link: its reference
}
# A registration's link carries its UUID (26 letters in the link rather than 8).
LINKS = {
    "maturity_reached": "R:6f1c2d3e-4a5b-4c6d-8e7f-90a1b2c3d4e5",
    "maturity_soon": "R:6f1c2d3e-4a5b-4c6d-8e7f-90a1b2c3d4e5",
}
# A realistic long address for the service: links in texts start with it.
PUBLIC_URL = "https://jzz.gaj.hangzhou.gov.cn"


@pytest.fixture(autouse=True)
def _link_settings():
    """Rendering for the provider signs links: it needs the app's key and public address."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY="k" * 48, PUBLIC_URL=PUBLIC_URL, LINK_DAYS=30)
    with app.app_context():
        yield


PURPOSE = {"zh": "居住证申领", "en": "residence registration"}
ASCII_STATION = "Xihu Sub-bureau Beishan Street Police Station"

CASES = [(name, locale) for name, texts in sorted(TEMPLATES.items()) for locale in sorted(texts)]


def _values(locale: str, template: str = "", **overrides) -> dict:
    link = LINKS.get(template, LONG["link"])
    return {**LONG, "link": link, "purpose": PURPOSE.get(locale, PURPOSE["zh"]), **overrides}


def test_the_known_templates_are_registered():
    assert {"otp", "booking_confirmed", "visit_reminder", "application_decided", "permit_ready"} <= set(TEMPLATES)


@pytest.mark.parametrize("name,locale", CASES, ids=[f"{n}-{loc}" for n, loc in CASES])
def test_every_template_fits_two_segments(name, locale):
    text = render(name, locale, _values(locale, name))
    assert sms_segments(text) <= 2, (len(text), text)
    if locale == "zh" or not is_gsm7(text):
        assert len(text) <= 134, (len(text), text)
    if locale == "en":
        # An English text with only Latin values is GSM-7 and must fit 2 × 153.
        latin = render(
            name,
            locale,
            _values(
                locale,
                name,
                station=ASCII_STATION,
                officer="Abdurahman Mamat",
                decision="rejected",
                name="Abdurahman Mamat",
                materials="photo, lease, labour contract",
                address="Room 501, 12 Baochu Road",
            ),
        )
        if is_gsm7(latin):
            assert len(latin) <= 306, (len(latin), latin)


@pytest.mark.parametrize("name,locale", CASES, ids=[f"{n}-{loc}" for n, loc in CASES])
def test_the_masked_text_shows_no_code_and_no_identifying_value(name, locale):
    text = render_masked(name, locale, _values(locale, name))
    assert text is not None
    for key in ("code", "reference", "officer", "number", "name", "address"):
        if "{" + key + "}" in TEMPLATES[name][locale]:
            assert LONG[key] not in text
    assert "123456" not in text
    assert "/s/" not in text and _values(locale, name)["link"][2:] not in text


@pytest.mark.parametrize("name", ["booking_confirmed", "visit_moved", "visit_reminder", "maturity_reached"])
def test_the_texts_that_lead_somewhere_carry_a_signed_link(name):
    text = render(name, "zh", _values("zh", name))
    assert PUBLIC_URL + "/s/" + _values("zh", name)["link"][0] in text
