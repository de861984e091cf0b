"""Journey 6, apply for the residence permit from the phone: the resident matched to the citizen's
phone and the eligibility rule before any photo, each photo stored as it is taken, the application
with what is missing owed (容缺), the owed photo sent later; another's application is a 404."""

from __future__ import annotations

import io
import re
from datetime import date

from PIL import Image

from app.extensions import db
from field_api.permits.models import PermitApplication
from tests.citizen.test_login import ZH, log_in
from tests.factories import mobile
from tests.snapshots import changed_tables, database_state


def jpeg(width: int = 64, height: int = 48, color: str = "navy") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "JPEG")
    return out.getvalue()


def csrf_of(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def open_materials(client, identity: str):
    token = csrf_of(client.get("/m/apply", headers=ZH))
    return client.post("/m/apply/materials", data={"csrf_token": token, "identity_number": identity}, headers=ZH)


def upload(client, token: str, kind: str, data: bytes, mimetype: str = "image/jpeg"):
    return client.post(
        "/m/apply/upload",
        data={"material": kind, "file": (io.BytesIO(data), f"{kind}.jpg", mimetype)},
        headers={**ZH, "X-CSRF-Token": token},
        content_type="multipart/form-data",
    )


def applicant(client, sms, field):
    """A citizen logged in on the H5 whose phone is the one a matured resident registered with."""
    phone = mobile()
    body, _ = field.matured_resident(phone=phone)
    assert log_in(client, sms, phone).status_code == 302
    return body


def materials_of(app, application_id=None) -> tuple[PermitApplication, dict[str, str]]:
    with app.app_context():
        query = db.session.query(PermitApplication)
        application = query.filter_by(id=application_id).one() if application_id else query.one()
        return application, {m.kind: m.status for m in application.materials}


def test_a_citizen_applies_with_photos_and_sends_the_owed_one_later(app, client, sms, field):
    body = applicant(client, sms, field)
    page = open_materials(client, body["identity_number"])
    text = page.get_data(as_text=True)
    assert page.status_code == 200, text
    assert 'accept="image/*" capture="environment"' in text
    assert list(re.findall(r'name="material-(\w+)"', text)) == ["identity_card", "rental_contract", "photo"]
    token = csrf_of(page)

    shas = {}
    for kind in ("identity_card", "rental_contract"):
        stored = upload(client, token, kind, jpeg(color="white" if kind == "photo" else "navy"))
        assert stored.status_code == 201, stored.json
        shas[kind] = stored.json["sha256"]
    sent = client.post(
        "/m/apply",
        data={
            "csrf_token": token,
            "identity_number": body["identity_number"],
            **{f"material-{k}": v for k, v in shas.items()},
            "material-photo": "",
        },
        headers=ZH,
    )
    assert sent.status_code == 302, sent.get_data(as_text=True)
    page = client.get(sent.headers["Location"], headers=ZH)
    text = page.get_data(as_text=True)
    assert "您的申请已提交" in text and text.count("已收到") == 2 and "仍需补交" in text

    application, materials = materials_of(app)
    assert application.channel == "online"
    assert materials == {
        "identity_card": "provided",
        "rental_contract": "provided",
        "photo": "owed",
    }
    photo = upload(client, token, "photo", jpeg(color="white")).json["sha256"]
    supplied = client.post(
        f"/m/applications/{application.id}/materials/photo",
        data={"csrf_token": token, "material-photo": photo},
        headers=ZH,
    )
    assert supplied.status_code == 302
    assert "仍需补交" not in client.get(supplied.headers["Location"], headers=ZH).get_data(as_text=True)
    assert materials_of(app, application.id)[1]["photo"] == "provided"


def test_someone_not_registered_with_this_phone_is_refused_in_words_before_any_photo(app, client, sms, field):
    other, _ = field.matured_resident()
    applicant(client, sms, field)
    before = database_state(app)
    page = open_materials(client, other["identity_number"])
    assert page.status_code == 422
    assert "aria-invalid" in page.get_data(as_text=True)
    assert not changed_tables(before, database_state(app))


def test_six_months_not_reached_is_said_with_the_date(client, sms, field):
    from tests.fixtures.field import months_ago, person

    phone = mobile()
    body = person(phone=phone)
    registered = field.register(resident=body, start=months_ago(2))
    assert registered.status_code == 201
    log_in(client, sms, phone)
    page = open_materials(client, body["identity_number"])
    assert page.status_code == 422
    day = date.fromisoformat(registered.json["maturity_date"])
    assert f"将于{day.year}年{day.month}月{day.day}日满六个月" in page.get_data(as_text=True)


def test_a_file_that_is_not_a_photo_is_refused_and_nothing_is_kept(app, client, sms, field):
    body = applicant(client, sms, field)
    token = csrf_of(open_materials(client, body["identity_number"]))
    before = database_state(app)
    refused = upload(client, token, "photo", b"%PDF-1.7 not a photo", mimetype="application/pdf")
    assert refused.status_code == 422, refused.json
    assert refused.json["detail"]
    assert not changed_tables(before, database_state(app))


def test_without_the_form_token_nothing_is_sent(app, client, sms, field):
    body = applicant(client, sms, field)
    before = database_state(app)
    refused = client.post("/m/apply", data={"identity_number": body["identity_number"]}, headers=ZH)
    assert refused.status_code == 400
    assert not changed_tables(before, database_state(app))


def test_another_citizens_application_is_not_found(client, sms, field):
    body = applicant(client, sms, field)
    token = csrf_of(open_materials(client, body["identity_number"]))
    sent = client.post("/m/apply", data={"csrf_token": token, "identity_number": body["identity_number"]}, headers=ZH)
    url = sent.headers["Location"]
    client.post("/m/logout", data={"csrf_token": token}, headers=ZH)
    stranger = mobile()
    log_in(client, sms, stranger)
    assert client.get(url, headers=ZH).status_code == 404
