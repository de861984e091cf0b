"""A tablet speaking the wire protocol directly (the reference client has its own tests)."""

from __future__ import annotations

import itertools
import uuid

import pytest

from app.db import utcnow


class Tablet:
    def __init__(self, client, make, officer, device):
        self.client, self.officer, self.device = client, officer, device
        self.tokens = make.tokens(officer, device)
        self.cursor = None
        self.seq = itertools.count(1)
        self.records: dict[tuple[str, str], dict] = {}

    @property
    def headers(self):
        return {"Authorization": f"Bearer {self.tokens['access_token']}"}

    def pull_raw(self, cursor=..., limit=1000, protocol=1):
        body = {"protocol": protocol, "cursor": self.cursor if cursor is ... else cursor, "limit": limit}
        return self.client.post("/api/v1/sync/pull", json=body, headers=self.headers)

    def pull_all(self, limit=1000) -> list[dict]:
        seen = []
        while True:
            resp = self.pull_raw(limit=limit)
            assert resp.status_code == 200, resp.get_data(as_text=True)
            page = resp.json
            if page["reset"]:  # a reset page carries nothing else: start again from null
                assert page["changes"] == []
                self.records.clear()
                self.cursor = None
                continue
            for change in page["changes"]:
                key = (change["entity"], change["id"])
                if change["op"] == "upsert":
                    self.records[key] = {"version": change["version"], **change["data"]}
                else:
                    self.records.pop(key, None)
            seen.extend(page["changes"])
            self.cursor = page["cursor"]
            if not page["has_more"]:
                return seen

    def mutation(self, entity, op, record_id, data, base_version=None, **extra):
        return {
            "mutation_id": str(uuid.uuid4()),
            "seq": next(self.seq),
            "entity": entity,
            "op": op,
            "id": str(record_id),
            "base_version": base_version,
            "data": data,
            "occurred_at": utcnow().isoformat(),
            **extra,
        }

    def push_raw(self, *mutations, **envelope):
        body = {"protocol": 1, "sent_at": utcnow().isoformat(), "mutations": list(mutations), **envelope}
        return self.client.post("/api/v1/sync/push", json=body, headers=self.headers)

    def push(self, *mutations, **envelope):
        resp = self.push_raw(*mutations, **envelope)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return resp.json


@pytest.fixture
def tablet(client, make, world):
    return Tablet(client, make, world.officer[0], make.device(world.stations[0]))


@pytest.fixture
def new_tablet(client, make, world):
    def build(officer=None, station=0):
        return Tablet(client, make, officer or world.officer[station], make.device(world.stations[station]))

    return build


from tests.field_api.conftest import field  # noqa: E402,F401  (registering residents the online way)
