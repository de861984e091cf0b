"""Signed short links: a link opens only what it was made for, until its last day, and a changed
letter, another purpose or another server's key is refused like an unknown link."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from flask import Flask

from app import short_links
from app.short_links import BadLink, open_token, token

TODAY = date(2026, 12, 4)


@pytest.fixture(autouse=True)
def _app():
    app = Flask(__name__)
    app.config.update(SECRET_KEY="k" * 48, PUBLIC_URL="https://doorstep.example.gov.cn/", LINK_DAYS=30)
    with app.app_context():
        yield app


def test_a_booking_link_opens_its_booking_until_its_last_day():
    made = token("B", "ABCD2345", TODAY + timedelta(days=3))
    assert len(made) == 20
    link = open_token(made, today=TODAY + timedelta(days=3))
    assert (link.purpose, link.key) == ("B", "ABCD2345")
    with pytest.raises(BadLink, match="expired"):
        open_token(made, today=TODAY + timedelta(days=4))


def test_a_registration_link_carries_its_uuid():
    key = str(uuid.uuid4())
    assert open_token(token("R", key, TODAY), today=TODAY).key == key


def test_a_registration_key_in_hex_gives_the_same_link_as_its_hyphenated_text():
    """Messages store ``R:<32 hex>`` (field_api.residency.maturity.maturity_link); those stored
    before kept ``R:<hyphenated>``. Both sign to the same token, which opens to the same key."""
    key = uuid.uuid4()
    assert token("R", key.hex, TODAY) == token("R", str(key), TODAY) == token("R", str(key).upper(), TODAY)
    assert short_links.url(f"R:{key.hex}") == short_links.url(f"R:{key}")
    assert open_token(token("R", key.hex, TODAY), today=TODAY).key == str(key)


def test_case_and_spaces_do_not_matter_but_any_changed_letter_does():
    made = token("B", "ABCD2345", TODAY)
    assert open_token(f"  {made.lower()} ", today=TODAY).key == "ABCD2345"
    for i in range(len(made)):
        changed = made[:i] + ("2" if made[i] != "2" else "3") + made[i + 1 :]
        with pytest.raises(BadLink):
            open_token(changed, today=TODAY)


def test_a_link_cannot_be_turned_into_another_purpose():
    made = token("B", "ABCD2345", TODAY)
    with pytest.raises(BadLink):
        open_token("R" + made[1:], today=TODAY)


def test_another_servers_key_refuses_the_link(_app):
    made = token("B", "ABCD2345", TODAY)
    _app.config["SECRET_KEY"] = "other" * 10
    with pytest.raises(BadLink):
        open_token(made, today=TODAY)


@pytest.mark.parametrize("junk", ["", "B", "X" * 20, "B0000000000000000000", "B!BCD2345" + "2" * 11])
def test_junk_is_refused(junk):
    with pytest.raises(BadLink):
        open_token(junk, today=TODAY)


def test_the_url_is_under_the_public_address_and_opens_for_the_configured_days(time_machine):
    time_machine.move_to("2026-12-04T10:00:00+00:00", tick=False)
    url = short_links.url("B:ABCD2345")
    assert url.startswith("https://doorstep.example.gov.cn/s/B")
    link = open_token(url.rsplit("/", 1)[1], today=TODAY + timedelta(days=30))
    assert link.until == TODAY + timedelta(days=30)
