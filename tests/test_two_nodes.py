"""Several app nodes behind a load balancer: nothing lives in the process.

Two app objects (two ``create_app`` calls: two engines, two key caches, two blob-store objects)
share one database and one blob folder, as two machines share PostgreSQL and a bucket. A tablet
whose every request goes to the other node than the one before must see exactly what a tablet
pinned to one node sees: sessions and refresh-token rotation, sync cursors, log-in throttles and
signing keys are rows in the database, and blobs are in the shared store.

The one thing a node does cache is signing keys, for 30 s (``app/auth/keys.py``): after a rotation
on one node, another keeps *signing* with the previous key for at most that long (those tokens stay
valid: a retired key verifies for a token lifetime), and *verifies* the new key at once, since an
unknown key id is always looked up.
"""

from __future__ import annotations

import time
import types
import uuid

import jwt
import pytest
import sqlalchemy as sa

from app.auth import keys
from app.extensions import db
from compose import create_app
from doorstep_client import FlaskTransport, TabletClient, Transport
from sync.models import SyncMutation
from tests import factories
from tests.app.attachments.helpers import declaration, png, sha
from tests.factories import PASSWORD
from tests.fixtures.database import make_config
from tests.fixtures.field import months_ago, person

SERVER = "http://doorstep.test"


class Alternating(Transport):
    """Each request to the other node than the last one, as a round-robin balancer would send
    them; ``log`` records which node answered what."""

    def __init__(self, **nodes):
        self.names = list(nodes)
        self.transports = [FlaskTransport(client) for client in nodes.values()]
        self.log: list[tuple[str, str, str]] = []

    def _send(self, method, path, body, headers):
        i = len(self.log) % len(self.transports)
        self.log.append((self.names[i], method, path))
        return self.transports[i]._send(method, path, body, headers)

    def nodes_for(self, path: str) -> list[str]:
        return [node for node, _, p in self.log if p == path]


@pytest.fixture
def nodes(app, tmp_path):
    """Node A and node B. ``app`` (the session app) has migrated the database and empties it after
    the test. Slow-down off and a lock after three failures, so the lock-out test needs no sleeps."""
    blobs = str(tmp_path / "shared-blobs")
    build = lambda: create_app(make_config(BLOB_DIR=blobs, LOGIN_SLOWDOWN_AFTER=None, LOGIN_LOCK_AFTER=3))  # noqa: E731
    a, b = build(), build()
    a.test_client_class = b.test_client_class = factories.ProvingClient
    return types.SimpleNamespace(a=a, b=b)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def full_pull(tablet: TabletClient) -> dict:
    """The server's view of the device's scope: a pull from null with the tablet's own token."""
    view, cursor = {}, None
    while True:
        page = tablet._request("POST", "/api/v1/sync/pull", {"protocol": 1, "cursor": cursor, "limit": 1000})
        for change in page["changes"]:
            if change["op"] == "upsert":
                view[(change["entity"], change["id"])] = (change["version"], change["data"])
            else:
                view.pop((change["entity"], change["id"]), None)
        cursor = page["cursor"]
        if not page["has_more"]:
            return view


def tablet_view(tablet: TabletClient) -> dict:
    return {(r["entity"], r["id"]): (r["version"], r["data"]) for r in tablet.records()}


def test_a_tablet_syncs_through_two_nodes_alternately(nodes, make, world, tmp_path):
    a, b = nodes.a.test_client(), nodes.b.test_client()
    staff = make.auth(world.staff[0])
    officer, area = world.officer[0], world.areas[0][0]

    # Work already on the server, entered on B: three registrations, so the scope spans pages.
    for _ in range(3):
        resp = b.post(
            "/api/v1/registrations",
            json={
                "area_id": str(area.id),
                "address": "北山街道1号",
                "start_date": months_ago(11).isoformat(),
                "reason": "work",
                "housing": "owned",
                "resident": person(),
            },
            headers=make.auth(officer),
        )
        assert resp.status_code == 201, resp.json

    code = a.post("/api/v1/devices", json={"label": "Tablet"}, headers=staff).json["enrollment_code"]
    transport = Alternating(A=a, B=b)
    tablet = TabletClient(str(tmp_path / "tablet.sqlite3"), transport, sleep=lambda s: None, pull_limit=2)
    tablet.enroll(SERVER, code)
    tablet.login(officer.username, PASSWORD)
    assert transport.nodes_for("/api/v1/devices/enroll") == ["A"]
    assert transport.nodes_for("/api/v1/auth/login") == ["B"]

    # First sync: several pages, their cursors minted on one node and honoured by the other.
    report = tablet.sync()
    pulls = transport.nodes_for("/api/v1/sync/pull")
    assert report.pages >= 4 and {"A", "B"} <= set(pulls)
    assert len(tablet.records("registration")) == 3

    # Refresh tokens rotate across nodes: each node accepts the token the other issued.
    transport.log.clear()
    for _ in range(3):
        tablet.refresh()
    assert transport.nodes_for("/api/v1/auth/refresh") == ["A", "B", "A"]

    # Offline work, pushed through whichever node is next; then a photo uploaded through A,
    # read back through B, and attached to the resident through the tablet.
    body = person()
    rid = tablet.register_resident(body["name"], body["sex"], body["identity_number"], phone=body["phone"])
    reg = tablet.register_residence(rid, area.id, "北山街道12号", months_ago(7).isoformat(), "work", "owned")
    pushed = tablet.sync()
    assert (pushed.applied, pushed.rejected, pushed.conflicts) == (2, 0, 0), [
        tablet.result(r["mutation_id"])["errors"] for r in tablet.rejections()
    ]
    assert {"A", "B"} & set(transport.nodes_for("/api/v1/sync/push"))
    token = bearer(tablet._access_token())
    factories.device_key(tablet._device_key())  # these requests are the tablet's: signed with its key
    photo = png(2048)
    declared = a.post("/api/v1/attachments", json=declaration(photo), headers=token)
    assert declared.status_code == 201, declared.json
    stored = a.put(
        f"/api/v1/attachments/{sha(photo)}/content", data=photo, headers={**token, "Content-Type": "image/png"}
    )
    assert stored.status_code == 200, stored.json
    fetched = b.get(f"/api/v1/attachments/{sha(photo)}/content", headers=token)
    assert fetched.status_code == 200 and fetched.get_data() == photo
    tablet.update_resident(rid, photo_sha256=sha(photo))
    transport.log.clear()
    tablet.sync()
    assert transport.nodes_for("/api/v1/sync/push")  # it went through one node; the earlier push the other
    assert tablet.record("resident", rid)["data"]["photo_sha256"] == sha(photo)

    # Converged: the tablet holds exactly what a full pull shows, and both nodes show the same.
    assert tablet.pending() == []
    assert tablet_view(tablet) == full_pull(tablet)
    pinned = {}
    for name, client in (("A", a), ("B", b)):
        tablet._transport = FlaskTransport(client)
        pinned[name] = full_pull(tablet)
    assert pinned["A"] == pinned["B"] == tablet_view(tablet)
    assert reg in {key[1] for key in pinned["A"] if key[0] == "registration"}

    # Nothing twice: one row per mutation the tablet made, one resident for the identity number.
    device_id = uuid.UUID(tablet._meta("device_id"))
    with nodes.a.app_context():
        from app import pii
        from field_api.residency.models import Registration, Resident

        rows = db.session.execute(
            sa.select(SyncMutation.seq, SyncMutation.status)
            .where(SyncMutation.device_id == device_id)
            .order_by(SyncMutation.seq)
        ).all()
        assert [tuple(r) for r in rows] == [(1, "applied"), (2, "applied"), (3, "applied")]
        bidx = pii.blind_index(pii.IDENTITY, body["identity_number"])
        assert (
            db.session.execute(
                sa.select(sa.func.count()).select_from(Resident).where(Resident.identity_bidx == bidx)
            ).scalar()
            == 1
        )
        assert db.session.execute(sa.select(sa.func.count()).select_from(Registration)).scalar() == 4
    tablet.close()


def test_a_refresh_token_spent_on_one_node_is_spent_on_the_other(nodes, world):
    a, b = nodes.a.test_client(), nodes.b.test_client()
    first = a.post("/api/v1/auth/login", json={"username": world.staff[0].username, "password": PASSWORD}).json
    second = b.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    reused = a.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401
    # Reuse revoked the whole log-in, on every node.
    assert b.post("/api/v1/auth/refresh", json={"refresh_token": second.json["refresh_token"]}).status_code == 401


def test_a_lock_out_counted_on_one_node_holds_on_the_other(nodes, world):
    a, b = nodes.a.test_client(), nodes.b.test_client()
    username = world.staff[0].username
    for _ in range(3):
        assert (
            a.post("/api/v1/auth/login", json={"username": username, "password": "wrong-password"}).status_code == 401
        )
    locked = b.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert locked.status_code == 429, locked.json
    assert int(locked.headers["Retry-After"]) > 0
    assert a.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD}).status_code == 429


def test_a_key_rotated_on_one_node_is_honoured_by_the_other(nodes, world, monkeypatch):
    a, b = nodes.a.test_client(), nodes.b.test_client()
    creds = {"username": world.staff[0].username, "password": PASSWORD}
    old = b.post("/api/v1/auth/login", json=creds).json["access_token"]
    assert kid_of(a.post("/api/v1/auth/login", json=creds).json["access_token"]) == kid_of(old)

    with nodes.a.app_context():  # flask --app wsgi rotate-keys, run against node A
        new_kid = keys.create_key().kid
        db.session.commit()
    from_a = a.post("/api/v1/auth/login", json=creds).json["access_token"]
    assert kid_of(from_a) == new_kid
    # B verifies the new key at once: an unknown key id is always looked up in the database.
    assert b.get("/api/v1/me", headers=bearer(from_a)).status_code == 200
    # Within its 30 s cache B may still sign with the previous key, whose tokens every node accepts.
    still_old = b.post("/api/v1/auth/login", json=creds).json["access_token"]
    assert kid_of(still_old) in (kid_of(old), new_kid)
    assert a.get("/api/v1/me", headers=bearer(still_old)).status_code == 200
    # Once the cache time has passed, B signs with the new key too.
    monotonic = time.monotonic
    monkeypatch.setattr(keys, "time", types.SimpleNamespace(monotonic=lambda: monotonic() + keys._CACHE_SECONDS + 1))
    assert kid_of(b.post("/api/v1/auth/login", json=creds).json["access_token"]) == new_kid
