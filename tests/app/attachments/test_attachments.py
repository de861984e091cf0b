"""Attachments through the API on the local store: declare, upload, verify, read, and scope."""

from __future__ import annotations

import sqlalchemy as sa

from app import attachments
from app.attachments import services
from app.attachments.models import Attachment
from app.audit.models import AuditEvent
from app.extensions import db
from tests.app.attachments.helpers import declaration, jpeg, pdf, png, sha, webp
from tests.problems import assert_problem
from tests.queries import statements

URL = "/api/v1/attachments"


def declare(client, headers, data, **kw):
    return client.post(URL, json=declaration(data, **kw), headers=headers)


def upload(client, headers, data, content_type="image/png", sha256=None):
    return client.put(f"{URL}/{sha256 or sha(data)}/content", data=data, content_type=content_type, headers=headers)


def stored(client, headers, data, **kw):
    assert declare(client, headers, data, **kw).status_code == 201
    resp = upload(client, headers, data, kw.get("content_type", "image/png"))
    assert resp.status_code == 200, resp.json
    return sha(data)


def test_round_trip_through_the_local_store(app, client, make, world):
    officer = make.auth(world.officer[0])
    data = png(5000)
    resp = declare(client, officer, data)
    assert resp.status_code == 201
    assert resp.json["status"] == "pending" and resp.json["sha256"] == sha(data)
    target = resp.json["upload"]
    assert target == {
        "method": "PUT",
        "url": f"{URL}/{sha(data)}/content",
        "headers": {"Content-Type": "image/png"},
        "expires_at": None,
    }

    resp = client.open(target["url"], method=target["method"], data=data, headers={**officer, **target["headers"]})
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "stored" and resp.json["size"] == 5000 and resp.json["stored_at"]

    meta = client.get(f"{URL}/{sha(data)}", headers=officer).json
    assert meta["kind"] == "photo" and meta["download"] == {"url": f"{URL}/{sha(data)}/content", "expires_at": None}
    got = client.get(meta["download"]["url"], headers=officer)
    assert got.status_code == 200 and got.data == data and got.mimetype == "image/png"
    assert got.headers["Content-Disposition"] == f'attachment; filename="{sha(data)}.png"'

    with app.app_context():
        assert attachments.is_stored(sha(data))
        events = (
            db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == "attachment.store")).scalars().all()
        )
        assert [(e.entity_id, e.station_id, e.after["via"]) for e in events] == [
            (sha(data), world.stations[0].id, "api")
        ]


def test_every_accepted_type_round_trips(client, make, world):
    staff = make.auth(world.staff[0])
    for data, content_type, kind in (
        (jpeg(), "image/jpeg", "photo"),
        (webp(), "image/webp", "signature"),
        (pdf(), "application/pdf", "material"),
    ):
        digest = stored(client, staff, data, content_type=content_type, kind=kind)
        assert client.get(f"{URL}/{digest}/content", headers=staff).data == data


def test_a_body_above_the_json_limit_is_accepted_by_the_upload_route_only(app, client, make, world):
    """MAX_CONTENT_LENGTH (1 MiB) keeps guarding the JSON routes; the upload route lifts it to
    ATTACHMENT_MAX_BYTES for its own request."""
    officer = make.auth(world.officer[0])
    data = pdf(3 * 1024 * 1024)
    assert app.config["MAX_CONTENT_LENGTH"] < len(data) < app.config["ATTACHMENT_MAX_BYTES"]
    stored(client, officer, data, content_type="application/pdf", kind="material")
    big_json = client.post(
        URL, data=b'{"sha256": "' + b"a" * (2 * 1024 * 1024) + b'"}', content_type="application/json", headers=officer
    )
    assert big_json.status_code == 413


def test_declaring_again_is_idempotent(client, make, world):
    officer = make.auth(world.officer[0])
    data = png()
    first = declare(client, officer, data)
    again = declare(client, officer, data)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["sha256"] == first.json["sha256"] and again.json["upload"]["url"] == first.json["upload"]["url"]
    assert upload(client, officer, data).status_code == 200
    after = declare(client, officer, data)
    assert after.status_code == 200 and after.json["status"] == "stored" and after.json["upload"] is None
    # a retried upload after a lost answer is answered, not refused
    assert upload(client, officer, data).json["status"] == "stored"
    assert_problem(declare(client, officer, data, size=len(data) + 1), 422, field="size")
    assert_problem(declare(client, officer, data, content_type="image/jpeg"), 422, field="content_type")


def test_a_first_declaration_answers_what_it_wrote_without_reading_it_back(app, client, make, world):
    """A new hash's row is the request's own: the answer is built from what was written (no
    locking re-read), and says what a later declaration reads back from the table."""
    officer = make.auth(world.officer[0])
    data = png()
    with statements(app) as sent:
        first = declare(client, officer, data)
    assert first.status_code == 201
    reads = [s for s in sent if s.lstrip().startswith("SELECT attachment.")]
    assert len(reads) == 1, reads  # is it new? (then the quota's count, the INSERT, the claim)
    again = declare(client, officer, data)
    assert again.status_code == 200 and again.json == first.json


def test_a_mistaken_pending_declaration_is_corrected_by_the_next_one(client, make, world):
    officer = make.auth(world.officer[0])
    data = png(300)
    declare(client, officer, data, size=299)
    assert_problem(upload(client, officer, data), 422, field="size")
    assert declare(client, officer, data).json["size"] == 300
    assert upload(client, officer, data).status_code == 200


def test_bytes_with_another_hash_are_refused(app, client, make, world):
    officer = make.auth(world.officer[0])
    data = png()
    declare(client, officer, data)
    other = png()
    resp = upload(client, officer, other, sha256=sha(data))
    assert_problem(resp, 422, field="sha256")
    assert resp.json["type"].endswith("/validation-failed")
    with app.app_context():
        assert not attachments.is_stored(sha(data))
        assert db.session.get(Attachment, sha(data)).status == "pending"


def test_types_other_than_images_and_pdf_are_refused(client, make, world):
    officer = make.auth(world.officer[0])
    gif = b"GIF89a" + b"\0" * 100
    assert_problem(declare(client, officer, gif, content_type="image/gif"), 422, field="content_type")
    # a photo or a signature is an image; PDFs are materials
    assert_problem(
        declare(client, officer, pdf(), content_type="application/pdf", kind="photo"), 422, field="content_type"
    )
    data = png()
    declare(client, officer, data)
    assert_problem(upload(client, officer, data, content_type="image/gif"), 415, field="content_type")
    assert_problem(upload(client, officer, data, content_type="image/jpeg"), 422, field="content_type")
    resp = client.put(f"{URL}/{sha(data)}/content", data=data, headers=officer)  # no Content-Type at all
    assert_problem(resp, 415, field="content_type")


def test_the_leading_bytes_must_be_those_of_the_declared_type(app, client, make, world):
    """A PDF declared (and sent) as a PNG: hash and size match, the signature does not."""
    officer = make.auth(world.officer[0])
    data = pdf()
    assert declare(client, officer, data, content_type="image/png").status_code == 201
    resp = upload(client, officer, data, content_type="image/png")
    assert_problem(resp, 422, field="content_type")
    assert "application/pdf" in resp.json["errors"]["content_type"][0]
    with app.app_context():
        assert not attachments.is_stored(sha(data))


def test_declared_and_uploaded_sizes_are_limited(app, client, make, world):
    officer = make.auth(world.officer[0])
    limit = app.config["ATTACHMENT_MAX_BYTES"]
    assert_problem(declare(client, officer, png(), size=limit + 1), 422, field="size")
    assert_problem(declare(client, officer, png(), size=0), 422, field="size")
    data = png()
    declare(client, officer, data)
    resp = upload(client, officer, PNG_TOO_BIG(limit), sha256=sha(data))
    assert_problem(resp, 413, field="size")
    assert resp.json["type"].endswith("/payload-too-large")


def PNG_TOO_BIG(limit: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"\0" * (limit - 7)


def test_sha256_must_be_lowercase_hex(client, make, world):
    officer = make.auth(world.officer[0])
    data = png()
    assert_problem(declare(client, officer, data, sha256=sha(data).upper()), 422, field="sha256")
    assert_problem(declare(client, officer, data, sha256="../../etc/passwd"), 422, field="sha256")
    assert client.get(f"{URL}/..%2F..%2Fetc", headers=officer).status_code == 404


def test_confirm_before_any_upload_is_a_conflict(client, make, world):
    officer = make.auth(world.officer[0])
    data = png()
    declare(client, officer, data)
    resp = client.post(f"{URL}/{sha(data)}/confirm", headers=officer)
    assert resp.status_code == 409 and resp.json["type"].endswith("/attachment-not-uploaded")
    assert "sha256" in resp.json["errors"]
    resp = client.get(f"{URL}/{sha(data)}/content", headers=officer)
    assert resp.status_code == 409
    assert client.get(f"{URL}/{sha(data)}", headers=officer).json["download"] is None


def test_reads_are_scoped_to_the_station_and_to_the_citizen(client, make, world):
    data = png()
    stored(client, make.auth(world.officer[0]), data)
    digest = sha(data)
    for user, status in (
        (world.admin, 200),
        (world.staff[0], 200),
        (world.auxiliary[0], 200),
        (world.staff[1], 404),
        (world.officer[1], 404),
        (world.citizen, 404),
    ):
        for path in (f"{URL}/{digest}", f"{URL}/{digest}/content"):
            resp = client.get(path, headers=make.auth(user))
            assert resp.status_code == status, (user.role, path)
    # another station cannot upload into it either
    assert upload(client, make.auth(world.staff[1]), data).status_code == 404
    assert client.post(f"{URL}/{digest}/confirm", headers=make.auth(world.staff[1])).status_code == 404


def test_a_citizen_sees_only_what_they_declared(client, make, world):
    citizen = make.auth(world.citizen)
    other = make.auth(make.user("citizen", phone="13900000001"))
    data = pdf()
    stored(client, citizen, data, content_type="application/pdf", kind="material")
    digest = sha(data)
    assert client.get(f"{URL}/{digest}", headers=citizen).status_code == 200
    assert client.get(f"{URL}/{digest}", headers=other).status_code == 404
    assert client.get(f"{URL}/{digest}", headers=make.auth(world.staff[0])).status_code == 404
    # the officer's attachments stay out of the citizen's reach
    officer_file = png()
    stored(client, make.auth(world.officer[0]), officer_file)
    assert client.get(f"{URL}/{sha(officer_file)}", headers=citizen).status_code == 404
    # a digest alone is no capability: re-declaring someone else's hash says "not found", nothing more
    again = declare(client, other, data, content_type="application/pdf", kind="material")
    assert again.status_code == 404 and again.json["type"].endswith("/not-found")
    assert client.get(f"{URL}/{digest}/content", headers=other).status_code == 404


def test_a_digest_known_to_another_station_reveals_nothing(client, make, world):
    data = png(300)
    stored(client, make.auth(world.officer[0]), data)
    outsider = make.auth(world.officer[1])
    for body in ({}, {"size": 299}, {"content_type": "image/jpeg"}):
        resp = declare(client, outsider, data, **body)
        assert resp.status_code == 404, resp.json
        assert "300" not in resp.get_data(as_text=True) and "png" not in resp.get_data(as_text=True)
    for path in (f"{URL}/{sha(data)}", f"{URL}/{sha(data)}/content"):
        assert client.get(path, headers=outsider).status_code == 404
    # and a pending declaration of another station is not joined either
    pending = png(301)
    assert declare(client, make.auth(world.officer[0]), pending).status_code == 201
    assert declare(client, outsider, pending).status_code == 404


def test_admin_reads_but_does_not_upload(client, make, world):
    resp = declare(client, make.auth(world.admin), png())
    assert resp.status_code == 403


def test_is_stored_and_the_stored_hook(app, client, make, world):
    seen = []

    def hook(digest):
        seen.append((digest, db.session.get(Attachment, digest).status))

    services.on_stored(hook)
    try:
        officer = make.auth(world.officer[0])
        data = png()
        with app.app_context():
            assert not attachments.is_stored(sha(data))
            assert not attachments.is_stored("not-a-hash")
        declare(client, officer, data)
        with app.app_context():
            assert not attachments.is_stored(sha(data))
        upload(client, officer, data)
        upload(client, officer, data)  # already stored: no second notice
        with app.app_context():
            assert attachments.is_stored(sha(data))
    finally:
        services._stored_hooks.remove(hook)
    assert seen == [(sha(data), "stored")]


def test_pending_declarations_are_capped_per_account(app, client, make, world):
    officer = make.auth(world.officer[0])
    saved = app.config["ATTACHMENT_PENDING_MAX"]
    app.config["ATTACHMENT_PENDING_MAX"] = 3
    try:
        files = [png() for _ in range(4)]
        for data in files[:3]:
            assert declare(client, officer, data).status_code == 201
        resp = declare(client, officer, files[3])
        assert_problem(resp, 409, field="sha256")
        assert resp.json["type"].endswith("/quota-exceeded")
        assert declare(client, officer, files[0]).status_code == 200  # declaring again allocates nothing
        assert declare(client, make.auth(world.auxiliary[0]), files[3]).status_code == 201  # per account
        assert upload(client, officer, files[0]).status_code == 200  # one arrives: room for another
        assert declare(client, officer, png()).status_code == 201
    finally:
        app.config["ATTACHMENT_PENDING_MAX"] = saved
