"""Random interleavings of field work, staff work and lost messages (hypothesis).

Two or three tablets work offline; staff edit residents, book visits and reassign them; requests
are lost before or after the server committed, answers are lost mid-pull, a tablet is killed and
restarted; a tablet (or something holding its token) sends pushes no honest client would: reused,
duplicate, fractional and huge seqs, versions from the future, impossible clocks, endless nesting,
the same push three times at once. Once every tablet has synced to quiescence:
- each tablet holds exactly the server's view of its scope,
- every mutation it ever queued is accounted for on the server exactly once (applied, conflict
  recorded, or rejected and kept), and no record was created twice."""

from __future__ import annotations

import functools
import os
import tempfile
import threading
import uuid
from pathlib import Path

import sqlalchemy as sa
from hypothesis import HealthCheck, assume, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from app.extensions import db
from doorstep_client import Crash, FaultyTransport, FlaskTransport, TabletClient
from field_api.residency.models import Registration, Resident
from sync.models import SyncMutation
from tests.doorstep_client.test_client_server import SERVER, server_view, tablet_view
from tests.factories import Factory, device_key, if_match, mobile
from tests.fixtures.database import empty_database
from tests.fixtures.field import person

EXAMPLES = int(os.environ.get("DOORSTEP_HYPOTHESIS_EXAMPLES", "5"))
ADVERSARIAL = (
    "reused-seq",
    "duplicate-seq",
    "float-seq",
    "string-seq",
    "huge-seq",
    "future-base-version",
    "far-occurred-at",
    "bad-occurred-at",
    "deep-payload",
    "unknown-entity",
    "concurrent-identical",
)
FAULTS = ("none", "lose-push-request", "lose-push-answer", "lose-pull-answer", "kill-after-push", "kill-mid-pull")


def machine_for(app):
    class SyncInterleavings(RuleBasedStateMachine):
        """One station, two officers working the same area, up to three tablets."""

        def __init__(self):
            super().__init__()
            empty_database(app)
            self.client = app.test_client()
            make = Factory(app)
            self.make = make
            self.station = make.station()
            self.area = make.area(self.station)
            self.staff = make.auth(make.user("staff", self.station))
            self.officers = [make.user("officer", self.station, [self.area]) for _ in range(2)]
            self.tmp = Path(tempfile.mkdtemp(prefix="doorstep-hyp-"))
            self.tablets: list[TabletClient] = []
            self.queued: dict[str, set] = {}  # tablet path -> every mutation_id it ever queued
            self.visits: list[str] = []
            self.adversarial: set[str] = set()  # mutation ids pushed by ``adversarial_push`` that must settle
            from tests.fixtures.appointments import set_template

            set_template(app, self.area, morning_capacity=50, afternoon_capacity=50)

        # --- tablets ------------------------------------------------------------------------

        def _new_tablet(self, officer) -> TabletClient:
            code = self.client.post("/api/v1/devices", json={"label": "t"}, headers=self.staff).json["enrollment_code"]
            path = str(self.tmp / f"{uuid.uuid4().hex[:8]}.sqlite3")
            tablet = TabletClient(path, FaultyTransport(FlaskTransport(self.client)), sleep=lambda s: None)
            tablet.enroll(SERVER, code)
            tablet.login(officer.username, "correct horse battery")
            tablet.sync()
            self.queued[path] = set()
            return tablet

        @initialize(n=st.integers(2, 3))
        def tablets_enrol(self, n):
            self.tablets = [self._new_tablet(self.officers[i % 2]) for i in range(n)]

        def _note(self, tablet):
            self.queued[tablet.path] |= {m["mutation_id"] for m in tablet.outbox()}

        @rule(i=st.integers(0, 2), data=st.data())
        def register_offline(self, i, data):
            tablet = self.tablets[i % len(self.tablets)]
            body = person(phone=mobile())
            known = list(tablet.records("resident"))
            if known and data.draw(st.booleans(), label="someone already known"):
                resident_id = known[0]["id"]
            else:
                resident_id = tablet.register_resident(
                    body["name"], body["sex"], body["identity_number"], phone=body["phone"]
                )
            tablet.register_residence(resident_id, str(self.area.id), "北山街道9号", "2026-01-05", "work", "owned")
            self._note(tablet)

        @precondition(lambda self: any(t.records("resident") for t in self.tablets))
        @rule(
            i=st.integers(0, 2),
            field=st.sampled_from(["name", "hukou_address"]),
            value=st.text(alphabet="张王李赵刘陈杨黄周吴", min_size=2, max_size=4),
        )
        def edit_offline(self, i, field, value):
            tablet = self.tablets[i % len(self.tablets)]
            residents = tablet.records("resident")
            if residents:
                tablet.update_resident(residents[0]["id"], **{field: value})
                self._note(tablet)

        @precondition(lambda self: any(t.visits() for t in self.tablets))
        @rule(i=st.integers(0, 2), outcome=st.sampled_from(["completed", "not_home"]))
        def outcome_offline(self, i, outcome):
            tablet = self.tablets[i % len(self.tablets)]
            open_visits = [v for v in tablet.visits() if v["data"]["status"] in ("assigned", "en_route")]
            if open_visits:
                tablet.record_outcome(open_visits[0]["id"], outcome)
                self._note(tablet)

        # --- staff ----------------------------------------------------------------------------

        @rule(officer=st.integers(0, 1))
        def staff_book_and_assign(self, officer):
            from tests.fixtures.appointments import booking_body, upcoming_workdays

            with app.app_context():
                day = upcoming_workdays(1)[0]
            booking = self.client.post(
                "/api/v1/bookings",
                headers={**self.staff, "Idempotency-Key": str(uuid.uuid4())},
                json=booking_body(self.area, day, caller_name="来电", caller_phone=mobile()),
            )
            assert booking.status_code == 201, booking.json
            visit_id = booking.json["visit_id"]
            resp = self.client.post(
                f"/api/v1/visits/{visit_id}/assign",
                json={"officer_id": str(self.officers[officer].id)},
                headers=if_match(self.client, f"/api/v1/visits/{visit_id}", self.staff),
            )
            assert resp.status_code in (200, 422), resp.json  # 422: the officer's day is full
            self.visits.append(visit_id)

        @precondition(lambda self: self.visits)
        @rule(k=st.integers(0, 50), officer=st.integers(0, 1))
        def staff_reassign(self, k, officer):
            visit_id = self.visits[k % len(self.visits)]
            self.client.post(
                f"/api/v1/visits/{visit_id}/assign",
                json={"officer_id": str(self.officers[officer].id)},
                headers=if_match(self.client, f"/api/v1/visits/{visit_id}", self.staff),
            )
            # refused for finished visits: that is fine

        @rule(k=st.integers(0, 50), name=st.sampled_from(["王五", "赵六"]))
        def staff_edit_resident(self, k, name):
            with app.app_context():
                ids = db.session.execute(sa.select(Resident.id).order_by(Resident.id)).scalars().all()
            if ids:
                url = f"/api/v1/residents/{ids[k % len(ids)]}"
                self.client.patch(url, json={"name": name}, headers=if_match(self.client, url, self.staff))

        # --- a broken or hostile tablet -------------------------------------------------------

        def _raw_push(self, tablet, mutations: list, client=None, headers=None):
            if headers is None:  # read from the tablet's file here, never from another thread
                device_key(tablet._device_key())  # the test client signs its Device-Proof with it
                headers = {"Authorization": f"Bearer {tablet._access_token()}"}
            resp = (client or self.client).post(
                "/api/v1/sync/push",
                headers=headers,
                json={"protocol": 1, "sent_at": "2026-12-04T10:00:00+08:00", "mutations": mutations},
            )
            assert resp.status_code < 500, resp.get_data(as_text=True)
            return resp

        @rule(i=st.integers(0, 2), kind=st.sampled_from(ADVERSARIAL), data=st.data())
        def adversarial_push(self, i, kind, data):
            """Pushes no honest client sends, on the tablet's own token, interleaved with its real
            work: each is refused as a whole (422) or settles mutation by mutation, never a 5xx,
            and the tablet's own mutations still settle and converge afterwards."""
            tablet = self.tablets[i % len(self.tablets)]
            last = self._raw_push(tablet, []).json["last_seq"]
            # A tablet that has pushed nothing has no sequence number to reuse: its "reused" one
            # would be its honest first, settled as any other.
            assume(kind != "reused-seq" or last > 0)
            residents = tablet.records("resident")
            target = residents[0]["id"] if residents else str(uuid.uuid4())

            def mutation(**over):
                m = {
                    "mutation_id": str(uuid.uuid4()),
                    "seq": last + 1,
                    "entity": "resident",
                    "op": "update",
                    "id": target,
                    "base_version": None,
                    "data": {"name": "无名"},
                    "occurred_at": "2026-12-04T09:00:00+08:00",
                }
                return {**m, **over}

            expect_whole_refusal = kind in ("float-seq", "string-seq", "huge-seq", "deep-payload")
            batch = {
                "reused-seq": lambda: [mutation(seq=last)],
                "duplicate-seq": lambda: [mutation(), mutation(data={"name": "重名"})],
                "float-seq": lambda: [mutation(seq=last + 1.5)],
                "string-seq": lambda: [mutation(seq=str(last + 1))],
                "huge-seq": lambda: [mutation(seq=2**64)],
                "future-base-version": lambda: [mutation(base_version=10**6)],
                "far-occurred-at": lambda: [
                    mutation(
                        occurred_at=data.draw(
                            st.sampled_from(["2100-01-01T00:00:00Z", "1969-12-31T23:59:59Z"]), label="far"
                        )
                    )
                ],
                "bad-occurred-at": lambda: [
                    mutation(
                        occurred_at=data.draw(
                            st.sampled_from(["tomorrow", "2026-13-01T00:00:00Z", "2026-12-04 10:00", ""]), label="bad"
                        )
                    )
                ],
                "deep-payload": lambda: [mutation(data={"name": functools.reduce(lambda v, _: [v], range(260), 1)})],
                "unknown-entity": lambda: [mutation(entity="ufo", op="land")],
            }
            if kind == "concurrent-identical":
                mutations = [mutation(), mutation(seq=last + 2, data={"name": "并发"})]
                answers = []
                device_key(tablet._device_key())
                headers = {"Authorization": f"Bearer {tablet._access_token()}"}  # the tablet's file stays here
                threads = [
                    threading.Thread(
                        target=lambda: answers.append(self._raw_push(tablet, mutations, app.test_client(), headers))
                    )
                    for _ in range(3)
                ]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(60)
                assert [r.status_code for r in answers] == [200, 200, 200]
                for k in range(len(mutations)):
                    assert sorted(r.json["results"][k]["replayed"] for r in answers) == [False, True, True]
                self.adversarial |= {m["mutation_id"] for m in mutations}
                return
            mutations = batch[kind]()
            resp = self._raw_push(tablet, mutations)
            if expect_whole_refusal:
                assert resp.status_code == 422, resp.json
                return
            assert resp.status_code == 200, resp.json
            statuses = {r["mutation_id"]: r["status"] for r in resp.json["results"]}
            assert set(statuses.values()) <= {"applied", "conflict", "rejected"}
            if kind != "duplicate-seq":
                assert set(statuses.values()) == {"rejected"}, resp.json
            self.adversarial |= {m["mutation_id"] for m in mutations}

        # --- the network ----------------------------------------------------------------------

        @rule(i=st.integers(0, 2), fault=st.sampled_from(FAULTS))
        def sync(self, i, fault):
            idx = i % len(self.tablets)
            tablet = self.tablets[idx]
            transport = tablet.transport
            {
                "lose-push-request": lambda: transport.drop_request("/api/v1/sync/push"),
                "lose-push-answer": lambda: transport.drop_response("/api/v1/sync/push"),
                "lose-pull-answer": lambda: transport.drop_response("/api/v1/sync/pull"),
                "kill-after-push": lambda: transport.crash_after("/api/v1/sync/push"),
                "kill-mid-pull": lambda: transport.crash_after("/api/v1/sync/pull", nth=2),
                "none": lambda: None,
            }[fault]()
            try:
                tablet.sync()
            except Crash:
                tablet.close()  # the process died; a new one opens the same file
                self.tablets[idx] = TabletClient(
                    tablet.path, FaultyTransport(FlaskTransport(self.client)), sleep=lambda s: None
                )
            transport.faults.clear() if hasattr(transport, "faults") else None

        @invariant()
        def outboxes_only_grow_in_seq(self):
            for tablet in self.tablets:
                seqs = [m["seq"] for m in tablet.outbox()]
                assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))

        def teardown(self):
            try:
                if not self.tablets:
                    return
                for _ in range(3):  # everyone's changes reach everyone
                    for tablet in self.tablets:
                        tablet.transport.faults.clear()
                        tablet.sync()
                for tablet in self.tablets:
                    assert tablet.pending() == [], "a mutation was never settled"
                    mine, theirs = tablet_view(tablet), server_view(tablet)
                    assert mine == theirs, "the tablet does not hold the server's view of its scope"
                with app.app_context():
                    stored = dict(db.session.execute(sa.select(SyncMutation.mutation_id, SyncMutation.status)).all())
                    queued = {uuid.UUID(m) for ids in self.queued.values() for m in ids}
                    queued |= {uuid.UUID(m) for m in self.adversarial}
                    assert queued <= set(stored), "a mutation the tablet queued never reached the server"
                    assert {stored[m] for m in queued} <= {"applied", "conflict", "rejected"}
                    duplicates = db.session.execute(
                        sa.select(Registration.resident_id, Registration.station_id)
                        .where(Registration.status == "active")
                        .group_by(Registration.resident_id, Registration.station_id)
                        .having(sa.func.count() > 1)
                    ).all()
                    assert duplicates == []
                    identities = db.session.execute(
                        sa.select(Resident.identity_bidx).group_by(Resident.identity_bidx).having(sa.func.count() > 1)
                    ).all()
                    assert identities == []
            finally:
                for tablet in self.tablets:
                    tablet.close()

    return SyncInterleavings


def test_random_interleavings_converge(app):
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        machine_for(app),
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=18,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
