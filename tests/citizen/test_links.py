"""Journey 9, SMS texts with links: the booking and six-months texts carry a signed link that opens
the page for that booking or registration, for its owner straight into their booking; without a
log-in the page shows no address or phone; a forged or expired link opens nothing."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from app import short_links
from app.db import utcnow
from app.extensions import db
from app.notify.models import Notification
from app.notify.templates import render
from appointments.booking import reference
from doorstep_protocol.identity import mask_phone
from tests.citizen.test_booking import book
from tests.citizen.test_login import ZH, log_in

LINK = re.compile(r"https?://[^/\s]+(/s/[2-9A-HJ-NP-Z]+)")


def sent_link(app, kind: str) -> str:
    """The path of the link in the newest ``kind`` text, rendered as the provider gets it."""
    with app.app_context():
        row = (
            db.session.execute(
                sa.select(Notification).where(Notification.kind == kind).order_by(Notification.created_at.desc())
            )
            .scalars()
            .first()
        )
        assert row is not None, f"no {kind} message"
        assert "/s/" not in str(row.params), "the outbox keeps no working link"
        text = render(row.template, row.locale, row.params)
    found = LINK.search(text)
    assert found, text
    return found.group(1)


def test_the_booking_text_opens_the_booking_for_its_owner_and_a_summary_for_others(app, client, sms, world, windows):
    log_in(client, sms, world.citizen.phone)
    done = book(client, windows)
    own_page = done.headers["Location"].split("?")[0]
    path = sent_link(app, "booking_confirmed")

    opened = client.get(path, headers=ZH)
    assert opened.status_code == 302 and opened.headers["Location"] == own_page

    stranger = app.test_client()
    page = stranger.get(path, headers=ZH)
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    with app.app_context():
        stored = db.session.execute(sa.text("SELECT reference, address FROM booking")).one()
    assert reference.display(stored.reference) in text and "已预约" in text
    phone = world.citizen.phone
    # neither the number nor its masked form: its last four digits alone may
    # coincide with a year or a time on the page
    assert stored.address not in text and phone not in text and mask_phone(phone) not in text
    assert f"next={own_page}" in text.replace("%2F", "/")


def test_a_forged_or_expired_link_opens_nothing(app, client, sms, world, windows):
    log_in(client, sms, world.citizen.phone)
    book(client, windows)
    path = sent_link(app, "booking_confirmed")
    forged = path[:-1] + ("2" if path[-1] != "2" else "3")
    refused = client.get(forged, headers=ZH)
    assert refused.status_code == 404 and "链接已失效" in refused.get_data(as_text=True)
    with app.app_context():
        stored = db.session.execute(sa.text("SELECT reference FROM booking")).scalar_one()
        # the same booking's link, made to open until yesterday (by the app's clock)
        expired = short_links.token("B", stored, utcnow().date() - timedelta(days=1))
        current = short_links.token("B", stored, utcnow().date())
    assert client.get(f"/s/{current}", headers=ZH).status_code == 302
    assert client.get(f"/s/{expired}", headers=ZH).status_code == 404


def test_the_six_months_text_opens_what_the_resident_can_do_now(app, client, field):
    from field_api.residency import maturity
    from tests.fixtures.field import person

    body = person(name="王小明")
    assert field.register(resident=body).status_code == 201
    with app.app_context():
        from app.db import utcnow

        maturity.notify_matured(utcnow())
        db.session.commit()
    path = sent_link(app, "maturity_reached")
    page = client.get(path, headers=ZH).get_data(as_text=True)
    assert "王**" in page and "王小明" not in page and "现在可以申领居住证" in page
    assert "/m/login?next=/m/apply" in page.replace("%2F", "/")
