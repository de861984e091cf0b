"""Pushes racing each other and racing staff at their desks: never a 5xx, never two effects.
On SQLite the threads take turns on the write lock, and the same promises hold."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from app.audit.services import verify_chain
from app.extensions import db
from field_api.residency.models import Resident
from sync.models import SyncMutation
from tests.factories import if_match
from tests.fixtures.field import person, registration_body
from tests.sync.test_protocol import _register
from tests.threads import release_together


def test_the_same_push_sent_at_once_applies_once_and_replays_to_the_others(app, tablet):
    mutations = [tablet.mutation("resident", "create", uuid.uuid4(), person()) for _ in range(5)]
    body = {"protocol": 1, "sent_at": mutations[0]["occurred_at"], "mutations": mutations}

    def send(client, _i):
        resp = client.post("/api/v1/sync/push", json=body, headers=tablet.headers)
        return resp.status_code, resp.get_json()

    answers = release_together(app, 4, send)
    assert [status for status, _ in answers] == [200] * 4, answers
    for k, _m in enumerate(mutations):
        results = [payload["results"][k] for _, payload in answers]
        assert {r["status"] for r in results} == {"applied"}
        assert sorted(r["replayed"] for r in results) == [False, True, True, True]
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Resident)).scalar() == 5
        assert db.session.execute(sa.select(sa.func.count()).select_from(SyncMutation)).scalar() == 5


def test_a_long_update_push_and_staff_edits_of_the_same_residents_never_fail(app, tablet, world, make):
    residents = [_register(tablet, world)[1] for _ in range(6)]
    staff = make.auth(world.staff[0])
    rounds = 4

    def tablet_work(client, round_no):
        mutations = [
            tablet.mutation("resident", "update", rid, {"hukou_address": f"河南省第{round_no}-{k}号"})
            for k, rid in enumerate(reversed(residents * 5))
        ]
        body = {"protocol": 1, "sent_at": mutations[0]["occurred_at"], "mutations": mutations}
        resp = client.post("/api/v1/sync/push", json=body, headers=tablet.headers)
        return ("push", resp.status_code, resp.get_json())

    def staff_work(client, round_no, i):
        answers = []
        for k, rid in enumerate(residents):  # as a clerk does: read, then edit what was read
            url = f"/api/v1/residents/{rid}"
            resp = client.patch(url, json={"name": f"员{round_no}{i}{k}"}, headers=if_match(client, url, staff))
            answers.append(("patch", resp.status_code, resp.get_json()))
        resp = client.post("/api/v1/registrations", json=registration_body(world.areas[0][0]), headers=staff)
        answers.append(("register", resp.status_code, resp.get_json()))
        return answers

    for round_no in range(rounds):
        answers = release_together(
            app, 3, lambda client, i, n=round_no: tablet_work(client, n) if i == 0 else staff_work(client, n, i)
        )
        push = answers[0]
        assert push[1] == 200, push
        assert {r["status"] for r in push[2]["results"]} <= {"applied", "conflict"}, push[2]["results"]
        staff_answers = [a for answers_of_one in answers[1:] for a in answers_of_one]
        for kind, status, payload in staff_answers:  # 412: the push changed it since the clerk's read
            assert status in (200, 201, 412), (kind, status, payload)
        assert sum(status in (200, 201) for _kind, status, _p in staff_answers) >= len(residents)
    with app.app_context():
        settled = db.session.execute(sa.select(sa.func.count()).select_from(SyncMutation)).scalar()
        assert settled == 6 * 2 + rounds * len(residents) * 5  # every pushed mutation stored once
        assert verify_chain().ok
