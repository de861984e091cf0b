"""The tablet's files as the service worker caches them: the server's reasons in Chinese among them."""

from __future__ import annotations

import json
import re

from flask_babel import force_locale, gettext


def test_the_reasons_a_refused_mutation_carries_come_in_the_consoles_chinese(app, client):
    resp = client.get("/tablet/messages.json")
    assert resp.status_code == 200
    messages = resp.json
    with app.test_request_context(), force_locale("zh_CN"):
        for reason in (
            "not an area you register residents in",  # a tablet's refusal, listed in REFUSALS
            "registered elsewhere",
            "no such resident in your scope",  # a field_error's literal reason, extracted
            "Not a valid date.",  # marshmallow's
        ):
            assert messages[reason] == gettext(reason)
            assert messages[reason] != reason


def test_the_service_worker_caches_the_reasons_for_offline_use(client):
    body = client.get("/tablet/sw.js").get_data(as_text=True)
    assets = json.loads(re.search(r"const ASSETS = (\[.*?\]);", body).group(1))
    assert "/tablet/messages.json" in assets
