"""Every error a client can meet has one shape: application/problem+json with type, title,
status and detail, plus ``errors`` naming the fields when input was refused."""

from __future__ import annotations

import re

import pytest

from app.auth.permissions import public
from app.errors import Conflict
from compose import create_app
from tests.fixtures.database import make_config
from tests.problems import assert_problem

GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def crash_app():
    """A separate app with routes that fail the ways real code can; routes may be added after
    create_app because the deny-by-default check has already run on the real ones."""
    app = create_app(make_config())

    @public
    def crash():
        raise RuntimeError("connection string postgresql://admin:hunter2@db/prod broke")

    @public
    def conflict():
        raise Conflict("the visit was reassigned meanwhile", slug="visit-reassigned", current_officer="someone")

    app.add_url_rule("/test/crash", "test_crash", crash, methods=["GET", "POST"])
    app.add_url_rule("/test/conflict", "test_conflict", conflict)
    return app


@pytest.fixture
def http(crash_app):
    """A client for requests refused before any database work: the shared ``client`` would
    empty every table after each of them for nothing."""
    return crash_app.test_client()


def test_unknown_route_is_404(http):
    assert_problem(http.get("/api/v1/no-such-thing"), 404, "not-found")


def test_unknown_id_shape_is_404_not_500(http):
    assert_problem(http.get("/api/v1/users/not-a-uuid"), 404, "not-found")


def test_wrong_method_is_405_with_allow(http):
    resp = http.get("/api/v1/auth/login")
    assert_problem(resp, 405, "method-not-allowed")
    allowed = {m.strip() for m in resp.headers["Allow"].split(",")}
    assert "POST" in allowed and "GET" not in allowed


def test_body_over_the_limit_is_413(crash_app, http):
    password = "x" * (crash_app.config["MAX_CONTENT_LENGTH"] + 1)
    resp = http.post("/api/v1/auth/login", json={"username": "li.wei", "password": password})
    assert_problem(resp, 413, "payload-too-large")


def test_body_just_under_the_limit_is_parsed(http):
    """The limit refuses big bodies, not ordinary ones: this one reaches validation."""
    resp = http.post("/api/v1/auth/login", json={"username": "li.wei", "password": "x" * 1000})
    body = assert_problem(resp, 422)
    assert "password" in body["errors"]


@pytest.mark.parametrize(
    "content_type, data",
    [
        ("text/plain", '{"username": "li.wei", "password": "correct horse battery"}'),
        ("application/x-www-form-urlencoded", "username=li.wei&password=correct+horse+battery"),
    ],
)
def test_a_body_that_is_not_json_is_415(http, content_type, data):
    resp = http.post("/api/v1/auth/login", data=data, content_type=content_type)
    body = assert_problem(resp, 415, "unsupported-media-type")
    assert "application/json" in body["detail"]


def test_malformed_json_is_400_naming_the_body(http):
    resp = http.post("/api/v1/auth/login", data='{"username": "li.wei", ', content_type="application/json")
    body = assert_problem(resp, 400, "bad-request")
    assert "json" in body["errors"]


def test_json_that_is_not_an_object_is_422(http):
    body = assert_problem(http.post("/api/v1/auth/login", json=["li.wei", "pw"]), 422, "validation-failed")
    assert "_schema" in body["errors"]


def test_missing_field_is_422_naming_the_field(http):
    resp = http.post("/api/v1/auth/login", json={"username": "li.wei"})
    body = assert_problem(resp, 422, "validation-failed")
    assert list(body["errors"]) == ["password"]
    assert body["errors"]["password"] == ["Missing data for required field."]
    assert body["detail"].startswith("password:")


def test_wrong_type_is_422_naming_the_field(http):
    body = assert_problem(http.post("/api/v1/auth/login", json={"username": 42, "password": "pw"}), 422)
    assert list(body["errors"]) == ["username"]


def test_unknown_field_is_422_not_ignored(http):
    resp = http.post("/api/v1/auth/login", json={"username": "li.wei", "password": "pw", "role": "admin"})
    body = assert_problem(resp, 422, "validation-failed")
    assert body["errors"] == {"role": ["Unknown field."]}


def test_each_input_schema_is_built_once_and_keeps_nothing_between_requests(crash_app, http):
    parser = crash_app.blueprints["auth"].ARGUMENTS_PARSER
    refused = http.post("/api/v1/auth/login", json={"username": 42, "password": "pw", "role": "admin"})
    assert set(assert_problem(refused, 422)["errors"]) == {"username", "role"}
    schemas = dict(parser._schemas)
    assert schemas, "the login's input schema is kept by the parser"
    again = http.post("/api/v1/auth/login", json={"username": "li.wei"})
    assert assert_problem(again, 422)["errors"] == {"password": ["Missing data for required field."]}
    assert all(parser._schemas[cls] is schema for cls, schema in schemas.items())  # the same instances


def test_bad_query_parameter_is_422_naming_it(client, make):
    headers = make.auth(make.user("admin"))
    resp = client.get("/api/v1/audit-events?limit=0", headers=headers)
    body = assert_problem(resp, 422, "validation-failed")
    assert set(body["errors"]) == {"limit"}


def test_unknown_query_parameter_is_422_not_ignored(client, make):
    headers = make.auth(make.user("admin"))
    resp = client.get("/api/v1/audit-events?actor=someone", headers=headers)
    body = assert_problem(resp, 422, "validation-failed")
    assert set(body["errors"]) == {"actor"}


def test_pagination_parameters_pass_the_strict_query_check(client, make):
    resp = client.get("/api/v1/users?role=staff&page=1&page_size=5", headers=make.auth(make.user("admin")))
    assert resp.status_code == 200


def test_missing_token_is_401_with_a_challenge(http):
    resp = http.get("/api/v1/me")
    assert_problem(resp, 401, "unauthorized")
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_domain_error_keeps_its_slug_and_extra_members(crash_app):
    resp = crash_app.test_client().get("/test/conflict")
    body = assert_problem(resp, 409, "visit-reassigned")
    assert body["title"] == "Conflict"
    assert body["detail"] == "the visit was reassigned meanwhile"
    assert body["current_officer"] == "someone"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unexpected_exception_is_500_without_leaking_it(crash_app, method):
    resp = crash_app.test_client().open("/test/crash", method=method, json={} if method == "POST" else None)
    body = assert_problem(resp, 500, "internal-error")
    text = resp.get_data(as_text=True)
    for leak in ("hunter2", "postgresql", "RuntimeError", "Traceback", "crash"):
        assert leak not in text
    assert set(body) == {"type", "title", "status", "detail"}


# --- request ids --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_args",
    [
        ("GET", "/healthz", None),
        ("GET", "/api/v1/nothing-here", None),
        ("GET", "/api/v1/auth/login", None),
        ("POST", "/api/v1/auth/login", {"username": "x"}),
        ("GET", "/api/v1/me", None),
    ],
)
def test_every_response_carries_a_request_id(http, request_args):
    method, path, body = request_args
    resp = http.open(path, method=method, json=body)
    assert GENERATED_ID.match(resp.headers["X-Request-ID"])


def test_a_500_carries_a_request_id_too(crash_app):
    resp = crash_app.test_client().get("/test/crash", headers={"X-Request-ID": "trace-500"})
    assert resp.headers["X-Request-ID"] == "trace-500"


def test_each_request_gets_its_own_id(http):
    ids = {http.get("/healthz").headers["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3


@pytest.mark.parametrize("incoming", ["abc", "req-2026.11_21-ABC", "7f3c2a9e-1b4d-4c8e-9a5f-2d6b8e0c1a3f", "a" * 64])
def test_a_sane_incoming_request_id_is_echoed(http, incoming):
    assert http.get("/healthz", headers={"X-Request-ID": incoming}).headers["X-Request-ID"] == incoming
    resp = http.get("/api/v1/nowhere", headers={"X-Request-ID": incoming})
    assert resp.headers["X-Request-ID"] == incoming


@pytest.mark.parametrize("incoming", ["a" * 65, "x" * 200, "has space", "semi;colon", "<script>", "日志", "a/b"])
def test_an_insane_incoming_request_id_is_replaced(http, incoming):
    rid = http.get("/healthz", headers={"X-Request-ID": incoming}).headers["X-Request-ID"]
    assert rid != incoming
    assert GENERATED_ID.match(rid)


def test_a_patch_without_a_body_is_a_422_naming_it(client, make, world):
    before = client.get(f"/api/v1/users/{world.officer[0].id}", headers=make.auth(world.admin)).json
    resp = client.patch(f"/api/v1/users/{world.officer[0].id}", headers=make.auth(world.admin))
    assert "body" in assert_problem(resp, 422, "validation-failed")["errors"]
    assert client.get(f"/api/v1/users/{world.officer[0].id}", headers=make.auth(world.admin)).json == before


def test_a_body_sent_to_a_route_that_takes_none_is_refused(client, make, world):
    """``accept`` takes no body: a note sent with it would be lost without a word."""
    from uuid import uuid4

    resp = client.post(
        f"/api/v1/applications/{uuid4()}/accept", json={"note": "材料齐全"}, headers=make.auth(world.staff[0])
    )
    assert resp.status_code == 400 and resp.mimetype == "application/problem+json"
    assert resp.json["type"].endswith("/unexpected-body") and "body" in resp.json["errors"]
    # without a body the route answers as usual (here: no such application)
    assert client.post(f"/api/v1/applications/{uuid4()}/accept", headers=make.auth(world.staff[0])).status_code == 404


@pytest.mark.parametrize("value", [0, 1, "true", None])
def test_a_body_boolean_is_true_or_false_and_nothing_else(client, make, world, value):
    station = world.stations[0]
    resp = client.patch(f"/api/v1/stations/{station.id}", json={"active": value}, headers=make.auth(world.admin))
    assert "active" in assert_problem(resp, 422)["errors"]
    assert client.get(f"/api/v1/stations/{station.id}", headers=make.auth(world.admin)).json["active"] is True
