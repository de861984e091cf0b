"""The published contract stays honest between Schemathesis runs (tests/contract/run.py): every
operation is named, says who may call it and which errors it answers, and every example in the
document validates against the schema it illustrates."""

from __future__ import annotations

import copy
import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import jsonschema
import pytest

METHODS = {"get", "put", "post", "patch", "delete"}


@pytest.fixture(scope="module")
def spec(app):
    return app.test_client().get("/openapi.json").get_json()


def _operations(spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", op


def test_every_operation_has_a_unique_operation_id(spec):
    ids = [op.get("operationId") for _, op in _operations(spec)]
    assert None not in ids
    assert len(ids) == len(set(ids))


def test_every_operation_says_who_may_call_it(spec):
    """A bearer token, or an explicit empty requirement for the few public operations."""
    for name, op in _operations(spec):
        assert op.get("security") in ([{"bearer": []}], []), name
        if op["security"]:
            assert {"401", "403"} <= set(op["responses"]), name
    assert "bearer" in spec["components"]["securitySchemes"]


def _resolve(spec, obj):
    while "$ref" in obj:
        kind, name = obj["$ref"].split("/")[-2:]
        obj = spec["components"][kind][name]
    return obj


def test_every_error_response_is_problem_json(spec):
    for name, op in _operations(spec):
        for status, response in op["responses"].items():
            if status == "default" or int(status) >= 400:
                assert list(_resolve(spec, response)["content"]) == ["application/problem+json"], (name, status)


def test_headers_are_documented_where_they_are_sent(spec):
    for name, op in _operations(spec):
        responses = {s: _resolve(spec, r) for s, r in op["responses"].items()}
        if any(p.get("name") == "page" for p in op.get("parameters", [])):
            assert "X-Pagination" in responses["200"]["headers"], name
        if "429" in responses:
            assert "Retry-After" in responses["429"]["headers"], name
        if any(p.get("name") == "If-Match" for p in op.get("parameters", [])):
            assert {"412", "428"} <= set(responses), name
            assert "ETag" in next(r for s, r in responses.items() if s.startswith("2"))["headers"], name
        if "201" in responses and op["operationId"] != "create_opt_out":  # an opt-out has no URL of its own
            assert "Location" in responses["201"].get("headers", {}), name


def _json_schema(spec, schema):
    """OpenAPI 3.0's ``nullable`` as JSON Schema, with the components reachable for ``$ref``."""

    def convert(node):
        if isinstance(node, dict):
            node = {k: convert(v) for k, v in node.items() if k not in ("example", "examples")}
            if node.pop("nullable", False) and "type" in node:
                node["type"] = [node["type"], "null"]
            return node
        if isinstance(node, list):
            return [convert(v) for v in node]
        return node

    return {**convert(copy.deepcopy(schema)), "components": convert(spec["components"])}


def _examples(spec):
    """(where, example, schema) for every example the document shows."""
    for name, schema in spec["components"]["schemas"].items():
        for prop, sub in schema.get("properties", {}).items():
            if "example" in sub:
                yield f"{name}.{prop}", sub["example"], sub
    for name, header in spec["components"].get("headers", {}).items():
        if "example" in header:
            yield f"header {name}", header["example"], header["schema"]
    for op_name, op in _operations(spec):
        for p in op.get("parameters", []):
            for value in [p.get("example"), p.get("schema", {}).get("example")]:
                if value is not None:
                    yield f"{op_name} {p['name']}", value, p["schema"]
        for status, response in op["responses"].items():
            for media in response.get("content", {}).values():
                if "example" in media and "schema" in media:
                    yield f"{op_name} {status}", media["example"], media["schema"]


def test_every_example_validates_against_its_schema(spec):
    failures = []
    for where, example, schema in _examples(spec):
        try:
            jsonschema.validate(example, _json_schema(spec, schema))
        except jsonschema.ValidationError as exc:
            failures.append(f"{where}: {exc.message}")
    assert failures == []


def test_identity_number_examples_carry_a_valid_check_character(spec):
    from app.pii import normalize_identity

    for where, example, _ in _examples(spec):
        if where.endswith("identity_number") and "*" not in str(example):
            normalize_identity(example)  # raises on a wrong check character


class _Assets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        self.urls += [value for key, value in attrs if key in ("src", "href") and value]


def test_docs_load_nothing_from_another_host(app):
    client = app.test_client()
    page = client.get("/docs")
    assert page.status_code == 200
    parser = _Assets()
    parser.feed(page.get_data(as_text=True))
    assert parser.urls, "the docs page references its scripts and styles"
    text = page.get_data(as_text=True)
    assert not re.search(r"https?://", text), "the docs page names another host"
    for url in parser.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.get_data()) > 1000, url
