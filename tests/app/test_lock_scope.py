"""No transaction is open while a password is hashed or verified: Argon2id takes about 100 ms,
and inside a transaction it held SQLite's write lock (or a PostgreSQL snapshot and row locks) and
stalled every other writer for that long. Seen from outside the app, by a spy on the hasher.

No write transaction is open while a write's response is rendered either: the unit commits when the
view's work is done, and the schema or the page renders after it (``unit_of_work.rendered_after_commit``,
``commit_before_rendering``). Seen the same way, by a spy on the output schemas' dump (the console's
phone booking page: ``tests/appointments/booking/test_console.py``)."""

from __future__ import annotations

import pytest

from app.auth import passwords
from app.schemas import Out
from tests.factories import PASSWORD, if_match, mobile
from tests.fixtures.appointments import booking_body
from tests.locks import held
from tests.problems import assert_problem


@pytest.fixture
def hashing(monkeypatch):
    """What the database showed each time the app hashed or verified a password."""
    seen: list[tuple[str, dict[str, object]]] = []
    real = passwords._hasher

    class Spy:
        def hash(self, password):
            seen.append(("hash", held()))
            return real().hash(password)

        def verify(self, stored, password):
            seen.append(("verify", held()))
            return real().verify(stored, password)

    monkeypatch.setattr(passwords, "_hasher", Spy)
    return seen


@pytest.fixture
def rendering(monkeypatch):
    """What the database showed each time an output schema dumped a response's body."""
    seen: list[tuple[str, dict[str, object]]] = []
    dump = Out.dump

    def spy_dump(self, obj, *, many=None):
        seen.append((type(self).__name__, held()))
        return dump(self, obj, many=many)

    monkeypatch.setattr(Out, "dump", spy_dump)
    return seen


def _nothing_held(seen):
    return all(not any(state.values()) for _what, state in seen)


def test_log_in_verifies_with_no_transaction_open(client, world, hashing):
    login = {"username": world.staff[0].username, "password": PASSWORD}
    assert client.post("/api/v1/auth/login", json=login).status_code == 200
    wrong = client.post("/api/v1/auth/login", json={**login, "password": "wrong password!"})
    assert_problem(wrong, 401, "invalid-credentials")
    unknown = client.post("/api/v1/auth/login", json={**login, "username": "nobody-at-all"})
    assert_problem(unknown, 401, "invalid-credentials")
    assert [what for what, _state in hashing].count("verify") == 3  # (and the dummy hash, once)
    assert _nothing_held(hashing), hashing


def test_creating_an_account_hashes_with_no_transaction_open(client, make, world, hashing):
    body = {"username": "new-officer-1", "password": "a-long-password", "role": "officer"}
    headers = make.auth(world.staff[0])
    hashing.clear()
    resp = client.post("/api/v1/users", json=body, headers=headers)
    assert resp.status_code == 201, resp.json
    assert [what for what, _state in hashing] == ["hash"]
    assert _nothing_held(hashing), hashing
    login = client.post("/api/v1/auth/login", json={"username": "new-officer-1", "password": "a-long-password"})
    assert login.status_code == 200


def test_changing_a_password_hashes_with_no_transaction_open(client, make, world, hashing):
    url = f"/api/v1/users/{world.officer[0].id}"
    headers = if_match(client, url, make.auth(world.staff[0]))
    hashing.clear()
    resp = client.patch(url, json={"password": "another-long-password"}, headers=headers)
    assert resp.status_code == 200, resp.json
    assert [what for what, _state in hashing] == ["hash"]
    assert _nothing_held(hashing), hashing
    login = {"username": world.officer[0].username, "password": "another-long-password"}
    assert client.post("/api/v1/auth/login", json=login).status_code == 200


def test_a_booking_is_rendered_after_its_commit(client, make, world, windows, rendering):
    body = booking_body(windows.area, windows.days[0], windows.morning, caller_name="王先生", caller_phone=mobile())
    headers = {**make.auth(world.staff[0]), "Idempotency-Key": "rendered-after-commit"}
    resp = client.post("/api/v1/bookings", json=body, headers=headers)
    assert resp.status_code == 201, resp.json
    assert rendering[0][0] == "BookingDetailOut"  # (and its timeline, nested)
    assert _nothing_held(rendering), rendering
    assert client.get(resp.headers["Location"], headers=make.auth(world.staff[0])).json["id"] == resp.json["id"]


def test_an_account_is_rendered_after_its_commit(client, make, world, rendering):
    headers = make.auth(world.staff[0])
    resp = client.post(
        "/api/v1/users",
        json={"username": "rendered-1", "password": "a-long-password", "role": "auxiliary"},
        headers=headers,
    )
    assert resp.status_code == 201, resp.json
    url = f"/api/v1/users/{resp.json['id']}"
    current = if_match(client, url, headers)
    rendering.clear()
    changed = client.patch(url, json={"display_name": "辅警甲"}, headers=current)
    assert changed.status_code == 200, changed.json
    assert changed.json["display_name"] == "辅警甲"
    assert [what for what, _state in rendering] == ["UserOut"]
    assert _nothing_held(rendering), rendering
