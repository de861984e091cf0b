"""The one assertion for problem responses (RFC 9457), shared by every test that expects a 4xx."""

from __future__ import annotations

PROBLEM = "application/problem+json"
PROBLEM_BASE = "https://doorstep.local/problems/"


def assert_problem(resp, status: int, slug: str | None = None, field: str | None = None, case=None) -> dict:
    """The response is a problem with this status, a title and a detail a person can read, and (if
    given) this type slug and an ``errors`` entry naming ``field``; ``case`` names the input in the
    failure message when one test walks through several."""
    where = f"[case {case!r}] " if case is not None else ""
    assert resp.status_code == status, where + resp.get_data(as_text=True)
    assert resp.mimetype == PROBLEM, where + resp.mimetype
    body = resp.get_json(force=True)
    assert body["status"] == status, (where, body)
    assert isinstance(body["title"], str) and body["title"], (where, body)
    assert isinstance(body["detail"], str) and body["detail"], (where, body)
    assert body["type"].startswith(PROBLEM_BASE), (where, body)
    if slug is not None:
        assert body["type"] == PROBLEM_BASE + slug, (where, body)
    if field is not None:
        assert field in (body.get("errors") or {}), (where, body)
    return body
