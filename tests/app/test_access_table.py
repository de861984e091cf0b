"""Every route, every role: the outcome is written down here, and a route missing from the
table fails the suite — a new endpoint cannot ship without saying who may call it."""

from __future__ import annotations

import uuid
from datetime import date, time

import pytest

from field_api.residency.services import maturity_date
from tests.app.attachments.helpers import declaration, png, stored_attachment
from tests.factories import mobile
from tests.fixtures.field import months_ago
from tests.snapshots import changed_tables, database_state

ROLES = ("anonymous", "admin", "staff", "officer", "auxiliary", "citizen")


def _user_body(w):
    return {
        "username": f"new.{mobile()}",
        "password": "a-long-password",
        "role": "officer",
        "station_id": str(w.stations[0].id),
    }


OFFICER_SEES = {"admin": 200, "staff": 200, "officer": 200, "auxiliary": 404, "citizen": 200}


def _person():
    from tests.factories import valid_identity

    return {"name": "张伟", "sex": "male", "identity_number": valid_identity(serial=7), "phone": mobile()}


# (method, rule as Flask writes it, body builder, {role: expected status}); roles absent → 403
# when authenticated, 401 when anonymous. Path parameters refer to station 0's records.
TABLE = [
    ("GET", "/healthz", None, {"*": 200}),
    ("GET", "/readyz", None, {"*": 200}),
    ("GET", "/metrics", None, {"*": 200}),  # no DOORSTEP_METRICS_TOKEN in tests: open, like /healthz
    ("GET", "/.well-known/jwks.json", None, {"*": 200}),
    # The tablet's files (docs/tablet.md): open to anyone, like any web page; the data is behind the API.
    ("GET", "/tablet", None, {"*": 308}),
    ("GET", "/tablet/", None, {"*": 200}),
    ("GET", "/tablet/sw.js", None, {"*": 200}),
    ("GET", "/tablet/manifest.webmanifest", None, {"*": 200}),
    ("GET", "/tablet/messages.json", None, {"*": 200}),
    ("GET", "/tablet/static/<path:filename>", None, {"*": 200}),
    # The citizens' H5 (docs/citizen.md): its directory is public, in pages and in the API. The
    # filler's file is the tablet's, absent here: 404 for all alike (tests/citizen serve its CSS).
    ("GET", "/m", None, {"*": 308}),
    ("GET", "/m/", None, {"*": 200}),
    ("GET", "/m/static/<path:filename>", None, {"*": 404}),
    ("GET", "/api/v1/public/stations", None, {"*": 200}),
    # Its log-in and pages take its own cookie, never a bearer token: forms without their CSRF
    # token are refused (400) and a page without a session goes to the log-in page (302).
    ("GET", "/m/login", None, {"*": 200}),
    ("POST", "/m/login", None, {"*": 400}),
    ("POST", "/m/login/code", None, {"*": 400}),
    ("GET", "/m/me", None, {"*": 302}),
    ("POST", "/m/logout", None, {"*": 400}),
    ("GET", "/m/book", None, {"*": 302}),
    ("POST", "/m/book/review", None, {"*": 400}),
    ("POST", "/m/book", None, {"*": 400}),
    ("GET", "/m/bookings/<uuid:booking_id>", None, {"*": 302}),
    ("GET", "/m/bookings/<uuid:booking_id>/booking.ics", None, {"*": 302}),
    ("GET", "/m/bookings", None, {"*": 302}),
    ("GET", "/m/bookings/<uuid:booking_id>/cancel", None, {"*": 302}),
    ("POST", "/m/bookings/<uuid:booking_id>/cancel", None, {"*": 400}),
    ("GET", "/m/bookings/<uuid:booking_id>/reschedule", None, {"*": 302}),
    ("POST", "/m/bookings/<uuid:booking_id>/reschedule", None, {"*": 400}),
    ("GET", "/m/ratings", None, {"*": 302}),
    ("GET", "/m/ratings/<uuid:visit_id>", None, {"*": 302}),
    ("POST", "/m/ratings/<uuid:visit_id>", None, {"*": 400}),
    ("GET", "/m/receipts", None, {"*": 302}),
    ("GET", "/m/receipts/<uuid:receipt_id>", None, {"*": 302}),
    # checking a receipt is for anyone, as the API's verify; its form needs the nonce's token
    ("GET", "/m/verify", None, {"*": 200}),
    ("POST", "/m/verify", None, {"*": 400}),
    # 进度查询 is for anyone holding a reference and the code sent to its phone
    ("GET", "/m/progress", None, {"*": 200}),
    ("POST", "/m/progress/code", None, {"*": 400}),
    ("POST", "/m/progress", None, {"*": 400}),
    # SMS links (app.short_links): a token that is not a signed link is refused in words, alike for all.
    ("GET", "/s/<token>", None, {"*": 404}),
    ("GET", "/m/apply", None, {"*": 302}),
    ("POST", "/m/apply", None, {"*": 400}),
    ("POST", "/m/apply/materials", None, {"*": 400}),
    ("POST", "/m/apply/upload", None, {"*": 400}),
    ("GET", "/m/applications/<uuid:application_id>", None, {"*": 302}),
    ("POST", "/m/applications/<uuid:application_id>/materials/<kind>", None, {"*": 400}),
    ("POST", "/api/v1/auth/login", lambda w: {"username": "nobody", "password": "wrong-password"}, {"*": 401}),
    ("POST", "/api/v1/auth/refresh", lambda w: {"refresh_token": "not-a-token"}, {"*": 401}),
    ("POST", "/api/v1/auth/logout", lambda w: {"refresh_token": "not-a-token"}, {"*": 204}),
    ("POST", "/api/v1/auth/otp", lambda w: {"phone": "12345"}, {"*": 422}),
    ("POST", "/api/v1/auth/otp/verify", lambda w: {"phone": mobile(), "code": "123456"}, {"*": 401}),
    ("POST", "/api/v1/devices/enroll", lambda w: {"enrollment_code": "AAAA-BBBB-CCCC", "public_key": {}}, {"*": 422}),
    ("GET", "/api/v1/me", None, {"admin": 200, "staff": 200, "officer": 200, "auxiliary": 200, "citizen": 200}),
    ("GET", "/api/v1/stations", None, {"admin": 200, "staff": 200}),
    ("POST", "/api/v1/stations", lambda w: {"code": "NEW1", "name": "新站"}, {"admin": 201}),
    ("GET", "/api/v1/stations/<uuid:station_id>", None, {"admin": 200, "staff": 200}),
    ("PATCH", "/api/v1/stations/<uuid:station_id>", lambda w: {"name": "改名"}, {"admin": 200}),
    ("GET", "/api/v1/areas", None, {"admin": 200, "staff": 200, "officer": 200, "auxiliary": 200}),
    (
        "POST",
        "/api/v1/areas",
        lambda w: {"station_id": str(w.stations[0].id), "code": "NEWA", "name": "新区"},
        {"admin": 201},
    ),
    # area 0 is the officer's; the auxiliary officer works area 1 only, so area 0 is out of scope.
    ("GET", "/api/v1/areas/<uuid:area_id>", None, {"admin": 200, "staff": 200, "officer": 200, "auxiliary": 404}),
    ("PATCH", "/api/v1/areas/<uuid:area_id>", lambda w: {"name": "改名"}, {"admin": 200}),
    ("GET", "/api/v1/users", None, {"admin": 200, "staff": 200}),
    ("POST", "/api/v1/users", _user_body, {"admin": 201, "staff": 201}),
    ("GET", "/api/v1/users/<uuid:user_id>", None, {"admin": 200, "staff": 200}),
    ("PATCH", "/api/v1/users/<uuid:user_id>", lambda w: {"display_name": "Li"}, {"admin": 200, "staff": 200}),
    ("GET", "/api/v1/users/<uuid:user_id>/pii", None, {"admin": 200, "staff": 200}),
    (
        "POST",
        "/api/v1/devices",
        lambda w: {"label": "Tablet", "station_id": str(w.stations[0].id)},
        {"admin": 201, "staff": 201},
    ),
    ("GET", "/api/v1/devices", None, {"admin": 200, "staff": 200}),
    ("GET", "/api/v1/devices/<uuid:device_id>", None, {"admin": 200, "staff": 200}),
    ("POST", "/api/v1/devices/<uuid:device_id>/revoke", lambda w: {"mode": "retired"}, {"admin": 200, "staff": 200}),
    ("GET", "/api/v1/audit-events", None, {"admin": 200, "staff": 200}),
    # working calendar
    ("GET", "/api/v1/calendar?from=2026-10-01&to=2026-10-07", None, {"*": 200}),
    ("PUT", "/api/v1/calendar/<isodate:day>", lambda w: {"is_workday": False}, {"admin": 200, "staff": 200}),
    ("DELETE", "/api/v1/calendar/<isodate:day>", None, {"admin": 404, "staff": 404}),
    # windows and availability (area 0 of station 0)
    ("GET", "/api/v1/slots?area_id={area}&from=2026-10-08&to=2026-10-09", None, {"*": 200}),
    ("GET", "/api/v1/areas/<uuid:area_id>/window-template", None, {"admin": 200, "staff": 200}),
    ("PUT", "/api/v1/areas/<uuid:area_id>/window-template", lambda w: {"windows": []}, {"admin": 200, "staff": 200}),
    (
        "GET",
        "/api/v1/areas/<uuid:area_id>/window-exceptions?from=2026-10-01&to=2026-10-07",
        None,
        {"admin": 200, "staff": 200},
    ),
    (
        "POST",
        "/api/v1/areas/<uuid:area_id>/window-exceptions",
        lambda w: {"day": "2099-01-05", "kind": "closed"},
        {"admin": 201, "staff": 201},
    ),
    (
        "DELETE",
        "/api/v1/areas/<uuid:area_id>/window-exceptions/<uuid:exception_id>",
        None,
        {"admin": 404, "staff": 404},
    ),
    # bookings: the citizen's own booking in station 0, assigned to station 0's officer
    ("POST", "/api/v1/bookings", lambda w: {}, {"staff": 422, "citizen": 422}),
    ("GET", "/api/v1/bookings", None, {"admin": 200, "staff": 200, "officer": 200, "auxiliary": 200, "citizen": 200}),
    (
        "GET",
        "/api/v1/bookings/<uuid:booking_id>",
        None,
        {"admin": 200, "staff": 200, "officer": 200, "auxiliary": 404, "citizen": 200},
    ),
    (
        "GET",
        "/api/v1/bookings/<uuid:booking_id>/pii",
        None,
        {"admin": 200, "staff": 200, "officer": 200, "auxiliary": 404},
    ),
    ("POST", "/api/v1/bookings/<uuid:booking_id>/cancel", lambda w: {"reason": "测试"}, {"staff": 200, "citizen": 200}),
    (
        "POST",
        "/api/v1/bookings/<uuid:booking_id>/reschedule",
        lambda w: {"day": "2099-01-05", "window_start": "09:00", "reason": "测试"},
        {"staff": 422, "citizen": 422},
    ),
    # visits
    ("GET", "/api/v1/visits", None, {"admin": 200, "staff": 200, "officer": 200, "auxiliary": 200}),
    ("GET", "/api/v1/visits/<uuid:visit_id>", None, {"admin": 200, "staff": 200, "officer": 200, "auxiliary": 404}),
    ("POST", "/api/v1/visits/<uuid:visit_id>/assign", lambda w: {"officer_id": str(w.officer[0].id)}, {"staff": 200}),
    ("POST", "/api/v1/visits/<uuid:visit_id>/unassign", lambda w: {"reason": "测试"}, {"staff": 200}),
    ("POST", "/api/v1/visits/bulk-assign", lambda w: {"visit_ids": [], "officer_id": None}, {"staff": 422}),
    ("GET", "/api/v1/visits/<uuid:visit_id>/suggest-officers", None, {"staff": 200}),
    ("POST", "/api/v1/visits/<uuid:visit_id>/start", None, {"officer": 200, "auxiliary": 404}),
    (
        "POST",
        "/api/v1/visits/<uuid:visit_id>/outcome",
        lambda w: {"outcome": "not_home"},
        {"officer": 200, "auxiliary": 404},
    ),
    # ratings (好差评): the citizen's own visit, not yet completed, is a 409; staff read theirs
    ("POST", "/api/v1/visits/<uuid:visit_id>/rating", lambda w: {"stars": 5}, {"citizen": 409}),
    ("GET", "/api/v1/visits/<uuid:visit_id>/rating", None, {"admin": 404, "staff": 404, "citizen": 404}),
    ("GET", "/api/v1/ratings", None, {"admin": 200, "staff": 200, "citizen": 200}),
    ("GET", "/api/v1/ratings/summary", None, {"admin": 200, "staff": 200, "citizen": 200}),
    # leave
    (
        "POST",
        "/api/v1/leave",
        lambda w: {"officer_id": str(w.officer[0].id), "start_day": "2099-01-05", "end_day": "2099-01-05"},
        {"staff": 201, "officer": 201, "auxiliary": 422},
    ),
    ("GET", "/api/v1/leave", None, {"staff": 200, "officer": 200, "auxiliary": 200}),
    ("DELETE", "/api/v1/leave/<uuid:leave_id>", None, {"staff": 204, "officer": 204, "auxiliary": 404}),
    # attachments: <sha256> is a stored photo declared by station 0's officer (PUT/confirm of a stored one: 200)
    (
        "POST",
        "/api/v1/attachments",
        lambda w: declaration(png()),
        {"staff": 201, "officer": 201, "auxiliary": 201, "citizen": 201},
    ),
    (
        "GET",
        "/api/v1/attachments/<sha256>",
        None,
        {"admin": 200, "staff": 200, "officer": 200, "auxiliary": 200, "citizen": 404},
    ),
    (
        "GET",
        "/api/v1/attachments/<sha256>/content",
        None,
        {"admin": 200, "staff": 200, "officer": 200, "auxiliary": 200, "citizen": 404},
    ),
    (
        "PUT",
        "/api/v1/attachments/<sha256>/content",
        None,
        {"staff": 200, "officer": 200, "auxiliary": 200, "citizen": 404},
    ),
    (
        "POST",
        "/api/v1/attachments/<sha256>/confirm",
        None,
        {"staff": 200, "officer": 200, "auxiliary": 200, "citizen": 404},
    ),
    # field work: a resident of area 0 (the officer's) whose phone is the citizen's, an issued
    # application, its permit out for delivery with the officer, and a recorded receipt
    ("POST", "/api/v1/residents", lambda w: _person(), {"staff": 201, "officer": 201, "auxiliary": 201}),
    ("GET", "/api/v1/residents", None, {"admin": 200, "staff": 200, "officer": 200, "auxiliary": 200, "citizen": 200}),
    ("GET", "/api/v1/residents/<uuid:resident_id>", None, OFFICER_SEES),
    (
        "PATCH",
        "/api/v1/residents/<uuid:resident_id>",
        lambda w: {"hukou_address": "x"},
        {"staff": 200, "officer": 200, "auxiliary": 404},
    ),
    ("GET", "/api/v1/residents/<uuid:resident_id>/pii", None, {"admin": 200, "staff": 200}),
    ("POST", "/api/v1/registrations", lambda w: {}, {"staff": 422, "officer": 422, "auxiliary": 422}),
    (
        "GET",
        "/api/v1/registrations",
        None,
        {"admin": 200, "staff": 200, "officer": 200, "auxiliary": 200, "citizen": 200},
    ),
    ("GET", "/api/v1/registrations/<uuid:registration_id>", None, OFFICER_SEES),
    (
        "POST",
        "/api/v1/registrations/<uuid:registration_id>/end",
        lambda w: {"end_date": str(months_ago(6)), "reason": "moved_away"},
        {"staff": 200, "officer": 200, "auxiliary": 404},
    ),
    ("POST", "/api/v1/applications", lambda w: {}, {"staff": 422, "officer": 422, "auxiliary": 422, "citizen": 422}),
    (
        "GET",
        "/api/v1/applications",
        None,
        {"admin": 200, "staff": 200, "officer": 200, "auxiliary": 200, "citizen": 200},
    ),
    ("GET", "/api/v1/applications/<uuid:application_id>", None, OFFICER_SEES),
    ("POST", "/api/v1/applications/<uuid:application_id>/accept", None, {"staff": 409}),
    ("POST", "/api/v1/applications/<uuid:application_id>/review", None, {"staff": 409}),
    (
        "POST",
        "/api/v1/applications/<uuid:application_id>/decision",
        lambda w: {"decision": "approve", "code": "OK"},
        {"staff": 409},
    ),
    ("POST", "/api/v1/applications/<uuid:application_id>/return", lambda w: {"reason": "照片不清晰"}, {"staff": 409}),
    (
        "POST",
        "/api/v1/applications/<uuid:application_id>/resubmit",
        None,
        {"staff": 409, "officer": 409, "auxiliary": 404, "citizen": 409},
    ),
    (
        "PUT",
        "/api/v1/applications/<uuid:application_id>/materials/<string:kind>",
        lambda w: {"attachment_sha256": "a" * 64},
        {"staff": 200, "officer": 200, "auxiliary": 404, "citizen": 200},
    ),
    ("GET", "/api/v1/permits/<uuid:permit_id>", None, {"admin": 200, "staff": 200}),
    ("POST", "/api/v1/deliveries", lambda w: {}, {"staff": 422}),
    ("GET", "/api/v1/deliveries", None, {"admin": 200, "staff": 200, "officer": 200, "auxiliary": 200, "citizen": 200}),
    ("GET", "/api/v1/deliveries/manifest", None, {"officer": 403, "auxiliary": 403}),
    ("GET", "/api/v1/deliveries/<uuid:delivery_id>", None, OFFICER_SEES),
    ("POST", "/api/v1/deliveries/<uuid:delivery_id>/handover", lambda w: {}, {"officer": 422, "auxiliary": 422}),
    ("GET", "/api/v1/receipts/<uuid:receipt_id>", None, OFFICER_SEES),
    ("GET", "/api/v1/receipts/<uuid:receipt_id>/qr.<any(png, svg):fmt>", None, OFFICER_SEES),
    ("POST", "/api/v1/receipts/verify", lambda w: {"token": "not.a.receipt"}, {"*": 200}),
    # the daily maturity list (scoped: officers their areas, staff their station)
    ("GET", "/api/v1/maturities", None, {"admin": 200, "staff": 200, "officer": 200, "auxiliary": 200}),
    (
        "GET",
        "/api/v1/maturities?day=2026-07-01&area_id={area}",
        None,
        {"admin": 200, "staff": 200, "officer": 200, "auxiliary": 200},
    ),
    # SMS outbox: <notification_id> is a dead message of station 0; opt-outs by staff and by citizens
    ("GET", "/api/v1/outbox", None, {"admin": 200, "staff": 200}),
    ("GET", "/api/v1/outbox/stats", None, {"admin": 200, "staff": 200}),
    ("POST", "/api/v1/outbox/<uuid:notification_id>/retry", None, {"admin": 200, "staff": 200}),
    ("POST", "/api/v1/sms-opt-outs", lambda w: {"phone": mobile()}, {"admin": 201, "staff": 201}),
    ("GET", "/api/v1/me/sms-opt-out", None, {"citizen": 200}),
    ("POST", "/api/v1/me/sms-opt-out", None, {"citizen": 201}),
    ("DELETE", "/api/v1/me/sms-opt-out", None, {"citizen": 204}),
    # sync: tablets need a device-bound token (403 device-required for a desk login)
    ("POST", "/api/v1/sync/pull", lambda w: {"protocol": 1}, {"officer": 403, "auxiliary": 403}),
    ("POST", "/api/v1/sync/push", lambda w: {"protocol": 1, "mutations": []}, {"officer": 403, "auxiliary": 403}),
    ("GET", "/api/v1/sync/conflicts", None, {"admin": 200, "staff": 200}),
    (
        "POST",
        "/api/v1/sync/conflicts/<uuid:conflict_id>/resolve",
        lambda w: {"choice": "acknowledge"},
        {"admin": 404, "staff": 404},
    ),
    ("GET", "/api/v1/sync/rejections", None, {"admin": 200, "staff": 200}),
    (
        "POST",
        "/api/v1/sync/rejections/<uuid:mutation_id>/resolve",
        lambda w: {"resolution": "dismissed"},
        {"admin": 404, "staff": 404},
    ),
    ("GET", "/api/v1/sync/rejections/<uuid:mutation_id>/pii", None, {"admin": 404, "staff": 404}),
]


def expected(row, role):
    rules = row[3]
    if "*" in rules:
        return rules["*"]
    if role in rules:
        return rules[role]
    return 401 if role == "anonymous" else 403


def _fill(rule: str, w, records: dict) -> str:
    for key, value in {
        "<uuid:station_id>": w.stations[0].id,
        "<uuid:area_id>": w.areas[0][0].id,
        "{area}": w.areas[0][0].id,
        "<uuid:user_id>": w.officer[0].id,
        "<isodate:day>": "2099-01-05",
        "<path:filename>": "js/app.js",
        "<kind>": "photo",
        "<token>": "B2345ABCD222XXXXXXXX",
        **records,
    }.items():
        rule = rule.replace(key, str(value))
    return rule


def _records(make, w) -> dict:
    """One of each record a path can name, all in station 0: a device, and a citizen's booking
    whose visit is assigned to the station's officer, with a leave entry and an exception id."""
    from app import pii
    from app.extensions import db
    from appointments.booking.models import Booking
    from appointments.dispatch.models import OfficerLeave, Visit
    from appointments.windows.models import Slot

    device = make.device(w.stations[0])
    with make.app.app_context():
        today = date(2099, 1, 5)
        slot = Slot(area_id=w.areas[0][0].id, day=today, start_time=time(9), end_time=time(12), capacity=5, booked=1)
        db.session.add(slot)
        db.session.flush()
        booking = Booking(
            reference="ACCESS22",
            station_id=w.stations[0].id,
            area_id=w.areas[0][0].id,
            slot_id=slot.id,
            day=today,
            window_start=time(9),
            window_end=time(12),
            purpose="registration",
            channel="mini_program",
            citizen_id=w.citizen.id,
            created_by_id=w.citizen.id,
            address="x",
            contact_name="x",
            contact_phone_enc=pii.encrypt(pii.PHONE, "13800000000"),
            idempotency_key="k",
            request_hash="h",
            active_key=f"{w.citizen.id}:registration",
        )
        db.session.add(booking)
        db.session.flush()
        visit = Visit(
            booking_id=booking.id,
            station_id=w.stations[0].id,
            area_id=w.areas[0][0].id,
            day=today,
            window_start=time(9),
            window_end=time(12),
            address="x",
            status="assigned",
            officer_id=w.officer[0].id,
        )
        leave = OfficerLeave(officer_id=w.officer[0].id, start_day=date(2099, 2, 1), end_day=date(2099, 2, 2))
        db.session.add_all([visit, leave])
        attachment = stored_attachment(w.officer[0], png())
        db.session.commit()
        records = {
            "<uuid:device_id>": device.id,
            "<uuid:booking_id>": booking.id,
            "<uuid:visit_id>": visit.id,
            "<uuid:leave_id>": leave.id,
            "<uuid:exception_id>": "00000000-0000-4000-8000-000000000000",
            "<sha256>": attachment,
        }
        records.update(_field_records(w, device))
        records.update(_outbox_records(w))
        return records


def _field_records(w, device) -> dict:
    from app import pii
    from app.db import utcnow
    from app.extensions import db
    from app.org.models import User
    from appointments.dispatch.models import Visit
    from field_api.delivery.models import Delivery, ManifestEntry, Receipt
    from field_api.permits.models import Material, Permit, PermitApplication
    from field_api.residency.models import Registration, Resident
    from tests.factories import valid_identity

    identity = valid_identity(serial=8)
    citizen = db.session.get(User, w.citizen.id)
    resident = Resident(
        name="王芳",
        sex="female",
        identity_enc=pii.encrypt(pii.IDENTITY, identity),
        identity_bidx=pii.blind_index(pii.IDENTITY, identity),
        phone_enc=citizen.phone_enc,
        phone_bidx=citizen.phone_bidx,
    )
    db.session.add(resident)
    db.session.flush()
    registration = Registration(
        resident_id=resident.id,
        station_id=w.stations[0].id,
        area_id=w.areas[0][0].id,
        address="x",
        start_date=months_ago(7),
        maturity_date=maturity_date(months_ago(7)),
        reason="work",
        housing="owned",
        status="active",
        active_key=f"{resident.id}:{w.stations[0].id}",
    )
    db.session.add(registration)
    db.session.flush()
    application = PermitApplication(
        reference="APPL2345",
        resident_id=resident.id,
        registration_id=registration.id,
        channel="window",
        accepting_station_id=w.stations[0].id,
        station_id=w.stations[0].id,
        status="out_for_delivery",
        created_by_id=w.staff[0].id,
    )
    db.session.add(application)
    db.session.flush()
    db.session.add(Material(application_id=application.id, kind="photo", core=False, status="owed"))
    permit = Permit(
        number="ACC-2026-000001",
        application_id=application.id,
        resident_id=resident.id,
        station_id=w.stations[0].id,
        issue_date=date(2026, 8, 1),
        valid_until=date(2027, 7, 31),
        status="delivered",
    )
    visit = Visit(
        kind="delivery",
        station_id=w.stations[0].id,
        area_id=w.areas[0][0].id,
        day=date(2099, 1, 6),
        window_start=time(14),
        window_end=time(17),
        address="x",
        status="completed",
        officer_id=w.officer[0].id,
    )
    db.session.add_all([permit, visit])
    db.session.flush()
    delivery = Delivery(permit_id=permit.id, visit_id=visit.id, station_id=w.stations[0].id, status="delivered")
    db.session.add(delivery)
    db.session.flush()
    db.session.add(ManifestEntry(delivery_id=delivery.id, device_id=device.id))
    receipt = Receipt(
        jti="AAAAAAAAAAAAAAAAAAAAAA",
        delivery_id=delivery.id,
        device_id=device.id,
        seq=1,
        token="a.b.c",
        countersignature="d.e.f",
        signed_at=utcnow(),
    )
    db.session.add(receipt)
    db.session.commit()
    return {
        "<uuid:resident_id>": resident.id,
        "<uuid:registration_id>": registration.id,
        "<uuid:application_id>": application.id,
        "<string:kind>": "photo",
        "<uuid:permit_id>": permit.id,
        "<uuid:delivery_id>": delivery.id,
        "<uuid:receipt_id>": receipt.id,
        "<any(png, svg):fmt>": "png",
        "<uuid:conflict_id>": uuid.uuid4(),
        "<uuid:mutation_id>": uuid.uuid4(),
    }


def _outbox_records(w) -> dict:
    from app.extensions import db
    from app.notify.outbox import enqueue

    message = enqueue(
        "visit_cancelled",
        "visit_cancelled",
        {"station": "x", "reference": "ACCESS22"},
        phone=mobile(),
        station_id=w.stations[0].id,
    )
    message.status = "dead"
    db.session.commit()
    return {"<uuid:notification_id>": message.id}


def test_table_covers_every_route(app):
    from app.auth.permissions import LIBRARY_ENDPOINTS
    from app.web.access import CONSOLE_BLUEPRINTS

    # The console's pages answer HTML, not problem+json: tests/app/web/test_console_access.py
    routes = {
        (m, r.rule)
        for r in app.url_map.iter_rules()
        if r.endpoint not in LIBRARY_ENDPOINTS and r.endpoint.split(".")[0] not in CONSOLE_BLUEPRINTS
        for m in r.methods - {"HEAD", "OPTIONS"}
    }
    listed = {(row[0], row[1].split("?")[0]) for row in TABLE}
    assert routes - listed == set(), "routes missing from the access table"
    assert listed - routes == set(), "table rows for routes that do not exist"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("row", TABLE, ids=[f"{r[0]} {r[1]}" for r in TABLE])
def test_route_outcome_per_role(app, client, make, world, row, role):
    method, rule, body, _ = row
    records = _records(make, world)
    headers = {} if role == "anonymous" else make.auth(world.user(role, 0))
    before = database_state(app)
    # "*" satisfies the If-Match of versioned edits: this table is about who may, not which version
    resp = client.open(
        _fill(rule, world, records),
        method=method,
        headers={**headers, "If-Match": "*"},
        json=body(world) if body else None,
    )
    assert resp.status_code == expected(row, role), resp.get_data(as_text=True)
    if resp.status_code >= 400:
        # the citizens' H5 pages refuse in a page of words (docs/citizen.md); the API in problem+json
        page = rule.startswith(("/m/", "/s/")) and "/static/" not in rule
        assert resp.mimetype == ("text/html" if page else "application/problem+json")
        # a failed log-in is itself audited: the audit chain is all it may change
        allowed = {"audit_event", "audit_head"} if rule == "/api/v1/auth/login" else set()
        assert set(changed_tables(before, database_state(app))) <= allowed, "a refused request changed the database"


CROSS_STATION = [
    ("GET", "/api/v1/stations/<uuid:station_id>", None),
    ("GET", "/api/v1/areas/<uuid:area_id>", None),
    ("GET", "/api/v1/users/<uuid:user_id>", None),
    ("PATCH", "/api/v1/users/<uuid:user_id>", {"display_name": "x"}),
    ("GET", "/api/v1/users/<uuid:user_id>/pii", None),
    ("GET", "/api/v1/devices/<uuid:device_id>", None),
    ("POST", "/api/v1/devices/<uuid:device_id>/revoke", {"mode": "lost"}),
    ("GET", "/api/v1/areas/<uuid:area_id>/window-template", None),
    ("GET", "/api/v1/bookings/<uuid:booking_id>", None),
    ("POST", "/api/v1/bookings/<uuid:booking_id>/cancel", {"reason": "x"}),
    ("GET", "/api/v1/bookings/<uuid:booking_id>/pii", None),
    ("GET", "/api/v1/visits/<uuid:visit_id>", None),
    ("POST", "/api/v1/visits/<uuid:visit_id>/assign", {"officer_id": "00000000-0000-4000-8000-000000000000"}),
    ("DELETE", "/api/v1/leave/<uuid:leave_id>", None),
    ("GET", "/api/v1/attachments/<sha256>", None),
    ("GET", "/api/v1/attachments/<sha256>/content", None),
    ("PUT", "/api/v1/attachments/<sha256>/content", None),
    ("POST", "/api/v1/attachments/<sha256>/confirm", None),
    ("GET", "/api/v1/residents/<uuid:resident_id>", None),
    ("GET", "/api/v1/registrations/<uuid:registration_id>", None),
    ("GET", "/api/v1/applications/<uuid:application_id>", None),
    ("GET", "/api/v1/deliveries/<uuid:delivery_id>", None),
    ("GET", "/api/v1/receipts/<uuid:receipt_id>", None),
    ("GET", "/api/v1/permits/<uuid:permit_id>", None),
    ("POST", "/api/v1/outbox/<uuid:notification_id>/retry", None),
]


@pytest.mark.parametrize("method,rule,body", CROSS_STATION, ids=[f"{m} {r}" for m, r, _ in CROSS_STATION])
def test_other_stations_records_do_not_exist_for_staff(app, client, make, world, method, rule, body):
    url, headers = _fill(rule, world, _records(make, world)), make.auth(world.staff[1])
    before = database_state(app)
    resp = client.open(url, method=method, headers=headers, json=body)
    assert resp.status_code == 404
    assert resp.json["type"].endswith("/not-found")
    assert changed_tables(before, database_state(app)) == [], "a refused request changed the database"


def test_lists_are_scoped_to_the_station(client, make, world):
    make.device(world.stations[0])
    make.device(world.stations[1])
    staff1 = make.auth(world.staff[1])
    users = client.get("/api/v1/users", headers=staff1).json
    assert users and {u["station_id"] for u in users} == {str(world.stations[1].id)}
    devices = client.get("/api/v1/devices", headers=staff1).json
    assert len(devices) == 1 and devices[0]["station_id"] == str(world.stations[1].id)
    stations = client.get("/api/v1/stations", headers=staff1).json
    assert [s["id"] for s in stations] == [str(world.stations[1].id)]
    areas = client.get("/api/v1/areas", headers=make.auth(world.officer[1])).json
    assert [a["id"] for a in areas] == [str(world.areas[1][0].id)]
    assert len(client.get("/api/v1/stations", headers=make.auth(world.admin)).json) == 2
