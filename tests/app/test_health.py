"""Probes for load balancers, and the API description clients are generated from."""

from __future__ import annotations

import re

import pytest

from app.health import migration_heads
from app.web.access import CONSOLE_BLUEPRINTS
from compose import create_app
from tests.fixtures.database import make_config

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def bare_app():
    """For the probes and documents that read no table (the shared ``app`` empties every table
    after each test that uses it)."""
    return create_app(make_config())


def test_healthz(bare_app):
    resp = bare_app.test_client().get("/healthz")
    assert resp.status_code == 200
    assert resp.json == {"status": "ok"}


def test_readyz_on_a_migrated_database(client):
    resp = client.get("/readyz")
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "ready"
    assert resp.json["revision"] == sorted(migration_heads())
    assert resp.json["revision"]


def test_readyz_is_503_on_a_database_without_migrations(tmp_path):
    app = create_app(make_config(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'empty.sqlite3'}"))
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503
    assert resp.mimetype == "application/problem+json"
    assert resp.json["type"].endswith("/not-ready")
    assert "no revision" in resp.json["detail"]
    assert sorted(migration_heads())[0] in resp.json["detail"]
    assert app.test_client().get("/healthz").status_code == 200


def test_readyz_is_503_on_a_database_behind_the_code(tmp_path):
    """A database stamped at an older (unknown) revision is not ready either."""
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    with sa.create_engine(url).begin() as conn:
        conn.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        conn.execute(sa.text("INSERT INTO alembic_version VALUES ('0000aaaa0000')"))
    resp = create_app(make_config(SQLALCHEMY_DATABASE_URI=url)).test_client().get("/readyz")
    assert resp.status_code == 503
    assert "0000aaaa0000" in resp.json["detail"]


def test_readyz_is_503_when_the_database_is_unreachable():
    app = create_app(make_config(SQLALCHEMY_DATABASE_URI="postgresql+psycopg://u:p@127.0.0.1:1/none"))
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503
    assert resp.json["detail"] == "the database is unreachable"
    assert "127.0.0.1" not in resp.get_data(as_text=True)


@pytest.fixture(scope="module")
def spec(bare_app):
    resp = bare_app.test_client().get("/openapi.json")
    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    return resp.get_json()


def test_openapi_lists_the_kernel_paths(spec):
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "Doorstep"
    for path in (
        "/healthz",
        "/readyz",
        "/.well-known/jwks.json",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/otp",
        "/api/v1/auth/otp/verify",
        "/api/v1/me",
        "/api/v1/users",
        "/api/v1/users/{user_id}",
        "/api/v1/users/{user_id}/pii",
        "/api/v1/stations",
        "/api/v1/areas",
        "/api/v1/devices",
        "/api/v1/devices/enroll",
        "/api/v1/devices/{device_id}/revoke",
        "/api/v1/audit-events",
    ):
        assert path in spec["paths"], path


def test_every_operation_has_a_summary(spec):
    missing = [
        f"{method.upper()} {path}"
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in HTTP_METHODS and not op.get("summary")
    ]
    assert missing == []


def test_openapi_documents_every_route_of_the_app(bare_app, spec):
    """A route that is served but not described is invisible to client generators."""
    documented = {(p, m) for p, item in spec["paths"].items() for m in item if m in HTTP_METHODS}
    # The console's blueprints (its kernel's and every feature's page_blueprint), the tablet's and
    # the citizens' H5 (docs/console.md, docs/tablet.md, docs/citizen.md).
    pages = {*CONSOLE_BLUEPRINTS, "tablet", "citizen_pages", "citizen_links"}
    served = set()
    for rule in bare_app.url_map.iter_rules():
        if rule.endpoint in ("static", "api-docs.openapi_json", "api-docs.openapi_swagger_ui"):
            continue
        if rule.endpoint.split(".")[0] in pages:
            continue  # HTML pages and their files, not the API: the console, the tablet, the H5
        path = re.sub(r"<(?:[^<>:]+:)?([^<>:]+)>", r"{\1}", rule.rule)  # <uuid:user_id> -> {user_id}
        served |= {(path, m.lower()) for m in rule.methods if m.lower() in HTTP_METHODS}
    assert served - documented == set()


def test_openapi_documents_input_schemas_and_the_bearer_scheme(spec):
    login = spec["paths"]["/api/v1/auth/login"]["post"]
    assert "requestBody" in login
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_docs_page_is_html(bare_app):
    resp = bare_app.test_client().get("/docs")
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    assert "/openapi.json" in resp.get_data(as_text=True)


def test_every_json_request_and_response_in_the_openapi_document_has_examples(client):
    """A reader of /docs sees a filled-in body for every operation that takes or returns JSON."""
    spec = client.get("/openapi.json").json
    schemas = spec["components"]["schemas"]

    def has_example(schema, depth=0):
        if depth > 5 or not isinstance(schema, dict):
            return False
        if "$ref" in schema:
            return has_example(schemas[schema["$ref"].split("/")[-1]], depth + 1)
        if "example" in schema or "examples" in schema:
            return True
        if any(has_example(p, depth + 1) for p in (schema.get("properties") or {}).values()):
            return True
        return has_example(schema.get("items"), depth + 1)

    missing = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue  # path-level "parameters"
            bodies = [op.get("requestBody", {}).get("content", {}).get("application/json")]
            bodies += [
                r.get("content", {}).get("application/json")
                for code, r in op.get("responses", {}).items()
                if code.startswith("2")
            ]
            bodies = [b for b in bodies if b]
            if bodies and not any("example" in b or has_example(b.get("schema", {})) for b in bodies):
                missing.append(f"{method.upper()} {path}")
    assert missing == []
