"""Every console route, and who gets what: the console's own access table (the API's is
tests/app/test_access_table.py). A new console page cannot ship without a row here."""

from __future__ import annotations

import pytest

from tests.app.web.helpers import log_in, session_token

# (method, rule, {who: status}); who: "anonymous", or a role logged in to the console. A POST is sent
# with the session's token when logged in (CSRF itself: test_csrf.py).
TABLE = [
    ("GET", "/", {"anonymous": 302, "staff": 302, "admin": 302}),
    ("GET", "/console/login", {"anonymous": 200, "staff": 302, "admin": 302}),
    # anonymous: no token; logged in: the session's token is not the log-in form's
    ("POST", "/console/login", {"anonymous": 400, "staff": 403, "admin": 403}),
    ("GET", "/console/", {"anonymous": 302, "staff": 200, "admin": 200}),
    ("POST", "/console/logout", {"anonymous": 400, "staff": 302, "admin": 302}),
    ("POST", "/console/language", {"anonymous": 400, "staff": 302, "admin": 302}),
    ("GET", "/console/<path:rest>", {"anonymous": 404, "staff": 404, "admin": 404}),
    ("POST", "/console/<path:rest>", {"anonymous": 400, "staff": 404, "admin": 404}),
    # the review queue (field_api/permits/console.py): reviewing is the station's work, not the
    # administrator's (application.review); an id of no application is not found
    ("GET", "/console/review/", {"anonymous": 302, "staff": 200, "admin": 403}),
    ("GET", "/console/review/<uuid:application_id>", {"anonymous": 302, "staff": 404, "admin": 403}),
    ("POST", "/console/review/<uuid:application_id>/<action>", {"anonymous": 400, "staff": 404, "admin": 403}),
    ("GET", "/console/review/files/<sha256>", {"anonymous": 302, "staff": 404, "admin": 404}),
    # residents (field_api/residency/console.py): a search is a POST, so no number is in a URL
    ("GET", "/console/residents/", {"anonymous": 302, "staff": 200, "admin": 200}),
    ("POST", "/console/residents/", {"anonymous": 400, "staff": 200, "admin": 200}),
    ("GET", "/console/residents/<uuid:resident_id>", {"anonymous": 302, "staff": 404, "admin": 404}),
    ("POST", "/console/residents/<uuid:resident_id>/unmask", {"anonymous": 400, "staff": 404, "admin": 404}),
    # six months (field_api/residency/maturity_console.py)
    ("GET", "/console/maturity/", {"anonymous": 302, "staff": 200, "admin": 200}),
    (
        "POST",
        "/console/maturity/reminders/<uuid:notification_id>/resend",
        {"anonymous": 400, "staff": 404, "admin": 404},
    ),
    # receipts and their print view (field_api/delivery/console.py)
    ("GET", "/console/receipts/", {"anonymous": 302, "staff": 200, "admin": 200}),
    ("GET", "/console/receipts/<uuid:receipt_id>/print", {"anonymous": 302, "staff": 404, "admin": 404}),
]
TABLE += [
    # messages (app/notify/console.py): the outbox; a retry of no message of the station is not found
    ("GET", "/console/messages/", {"anonymous": 302, "staff": 200, "admin": 200}),
    ("POST", "/console/messages/<uuid:notification_id>/retry", {"anonymous": 400, "staff": 404, "admin": 404}),
    # dispatch (appointments/dispatch/console.py): assigning is the station's work (visit.assign);
    # a route sheet of no officer of the station is not found
    ("GET", "/console/dispatch/", {"anonymous": 302, "staff": 200, "admin": 403}),
    ("POST", "/console/dispatch/<uuid:visit_id>/assign", {"anonymous": 400, "staff": 422, "admin": 403}),
    ("GET", "/console/dispatch/route", {"anonymous": 302, "staff": 404, "admin": 404}),
    # phone booking (appointments/booking/console.py): an empty form names its missing window
    ("GET", "/console/booking/", {"anonymous": 302, "staff": 200, "admin": 403}),
    ("POST", "/console/booking/", {"anonymous": 400, "staff": 422, "admin": 403}),
    # the audit trail (app/audit/console.py)
    ("GET", "/console/audit/", {"anonymous": 302, "staff": 200, "admin": 200}),
    ("POST", "/console/audit/verify", {"anonymous": 400, "staff": 200, "admin": 200}),
    # exports (app/web/export_pages.py; the kinds are the features'): no such kind is not found
    ("GET", "/console/exports/", {"anonymous": 302, "staff": 200, "admin": 200}),
    ("GET", "/console/exports/<name>.csv", {"anonymous": 302, "staff": 404, "admin": 404}),
    ("GET", "/console/exports/<name>.xlsx", {"anonymous": 302, "staff": 404, "admin": 404}),
    # tablets (app/auth/console.py): registering without a name names the field
    ("GET", "/console/devices/", {"anonymous": 302, "staff": 200, "admin": 200}),
    ("POST", "/console/devices/", {"anonymous": 400, "staff": 422, "admin": 422}),
    ("POST", "/console/devices/<uuid:device_id>/revoke", {"anonymous": 400, "staff": 404, "admin": 404}),
    # windows and holidays (appointments/windows/console.py): a preview writes nothing (an empty
    # weekly table previews every window going); a save without its fields names them; no such
    # exception or declaration is not found
    ("GET", "/console/windows/", {"anonymous": 302, "staff": 200, "admin": 200}),
    ("POST", "/console/windows/template/preview", {"anonymous": 400, "staff": 200, "admin": 200}),
    ("POST", "/console/windows/template", {"anonymous": 400, "staff": 422, "admin": 422}),
    ("POST", "/console/windows/exceptions/preview", {"anonymous": 400, "staff": 422, "admin": 422}),
    ("POST", "/console/windows/exceptions", {"anonymous": 400, "staff": 422, "admin": 422}),
    (
        "POST",
        "/console/windows/exceptions/<uuid:exception_id>/withdraw/preview",
        {"anonymous": 400, "staff": 404, "admin": 404},
    ),
    (
        "POST",
        "/console/windows/exceptions/<uuid:exception_id>/withdraw",
        {"anonymous": 400, "staff": 404, "admin": 404},
    ),
    ("POST", "/console/windows/calendar/preview", {"anonymous": 400, "staff": 422, "admin": 422}),
    ("POST", "/console/windows/calendar", {"anonymous": 400, "staff": 422, "admin": 422}),
    (
        "POST",
        "/console/windows/calendar/<isodate:day>/withdraw/preview",
        {"anonymous": 400, "staff": 404, "admin": 404},
    ),
    ("POST", "/console/windows/calendar/<isodate:day>/withdraw", {"anonymous": 400, "staff": 404, "admin": 404}),
    # sync (sync/console.py): conflicts side by side, rejected mutations masked, unmask with a reason
    ("GET", "/console/sync/conflicts/", {"anonymous": 302, "staff": 200, "admin": 200}),
    ("GET", "/console/sync/conflicts/<uuid:conflict_id>", {"anonymous": 302, "staff": 404, "admin": 404}),
    ("POST", "/console/sync/conflicts/<uuid:conflict_id>/resolve", {"anonymous": 400, "staff": 404, "admin": 404}),
    ("GET", "/console/sync/rejections/", {"anonymous": 302, "staff": 200, "admin": 200}),
    ("GET", "/console/sync/rejections/<uuid:mutation_id>", {"anonymous": 302, "staff": 404, "admin": 404}),
    ("POST", "/console/sync/rejections/<uuid:mutation_id>/unmask", {"anonymous": 400, "staff": 404, "admin": 404}),
    ("POST", "/console/sync/rejections/<uuid:mutation_id>/resolve", {"anonymous": 400, "staff": 404, "admin": 404}),
]
PARAMS = {
    "<path:rest>": "nowhere",
    "<uuid:application_id>": "00000000-0000-4000-8000-000000000000",
    "<uuid:resident_id>": "00000000-0000-4000-8000-000000000000",
    "<uuid:notification_id>": "00000000-0000-4000-8000-000000000000",
    "<uuid:visit_id>": "00000000-0000-4000-8000-000000000000",
    "<uuid:device_id>": "00000000-0000-4000-8000-000000000000",
    "<uuid:exception_id>": "00000000-0000-4000-8000-000000000000",
    "<isodate:day>": "2026-12-25",
    "<uuid:receipt_id>": "00000000-0000-4000-8000-000000000000",
    "<uuid:conflict_id>": "00000000-0000-4000-8000-000000000000",
    "<uuid:mutation_id>": "00000000-0000-4000-8000-000000000000",
    "<action>": "review",
    "<name>": "nothing",
    "<sha256>": "0" * 64,
}


def test_table_covers_every_console_route(app):
    from app.web.access import CONSOLE_BLUEPRINTS

    routes = {
        (m, r.rule)
        for r in app.url_map.iter_rules()
        if r.endpoint.split(".")[0] in CONSOLE_BLUEPRINTS
        for m in r.methods - {"HEAD", "OPTIONS"}
    }
    assert routes == {(m, rule) for m, rule, _ in TABLE}


@pytest.mark.parametrize("who", ["anonymous", "staff", "admin"])
@pytest.mark.parametrize("row", TABLE, ids=[f"{r[0]} {r[1]}" for r in TABLE])
def test_console_route_outcome(client, world, row, who):
    method, rule, expected = row
    data = {}
    if who != "anonymous":
        log_in(client, world.user(who, 0))
        data = {"csrf_token": session_token(client), "locale": "en"}
    url = rule
    for param, value in PARAMS.items():
        url = url.replace(param, value)
    resp = client.open(url, method=method, data=data if method == "POST" else None)
    assert resp.status_code == expected[who], resp.get_data(as_text=True)[:300]
    if resp.status_code >= 400:
        assert resp.mimetype == "text/html"  # a page, in the console's language
