"""The reference client against the real sync server, in-process (``FlaskTransport``): a tablet
registered by staff, enrolled, logged in; work done offline reaching the server; facts, conflicts,
rejections; and the client killed or cut off at every phase of a sync, ending with nothing lost,
nothing applied twice, and the tablet holding exactly the server's view of its scope."""

from __future__ import annotations

import io
import sys
import uuid

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.workdays import local_now
from doorstep_client import Crash, FaultyTransport, FlaskTransport, ProblemError, TabletClient
from doorstep_client.cli import main
from sync.models import SyncMutation
from tests.factories import PASSWORD, if_match, mobile, valid_identity
from tests.fixtures.field import months_ago, person

SERVER = "http://doorstep.test"


class Station:
    """Station 0 seen by its staff: registers tablets, books and assigns visits, edits residents."""

    def __init__(self, app, client, make, world, tmp_path):
        self.app, self.client, self.make, self.world, self.tmp = app, client, make, world, tmp_path
        self.staff = make.auth(world.staff[0])
        self.officer = world.officer[0]
        self.area = world.areas[0][0]

    def device_code(self, label="Tablet") -> str:
        resp = self.client.post("/api/v1/devices", json={"label": label}, headers=self.staff)
        assert resp.status_code == 201, resp.json
        return resp.json["enrollment_code"]

    def tablet(self, name="tablet", officer=None, wrap=None, **kw) -> TabletClient:
        """Staff register a tablet; it enrols with the code and the officer logs in on it."""
        path = str(self.tmp / f"{name}.sqlite3")
        transport = FlaskTransport(self.client)
        t = TabletClient(path, wrap(transport) if wrap else transport, sleep=lambda s: None, **kw)
        t.enroll(SERVER, self.device_code(name))
        t.login((officer or self.officer).username, PASSWORD)
        return t

    def reopen(self, tablet: TabletClient, **kw) -> TabletClient:
        """The process was killed: a new one opens the same file."""
        tablet.close()
        return TabletClient(tablet.path, FlaskTransport(self.client), sleep=lambda s: None, **kw)

    def visit(self, officer=None, day=None) -> str:
        """A booked visit assigned to the officer."""
        from tests.fixtures.appointments import booking_body, set_template, upcoming_workdays

        if not getattr(self, "_windows", False):
            set_template(self.app, self.area)
            self._windows = True
        with self.app.app_context():
            day = day or upcoming_workdays(1)[0]
        booking = self.client.post(
            "/api/v1/bookings",
            json=booking_body(self.area, day, caller_name="来电", caller_phone=mobile()),
            headers={**self.staff, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert booking.status_code == 201, booking.json
        visit_id = booking.json["visit_id"]
        assign = self.client.post(
            f"/api/v1/visits/{visit_id}/assign",
            json={"officer_id": str((officer or self.officer).id)},
            headers=if_match(self.client, f"/api/v1/visits/{visit_id}", self.staff),
        )
        assert assign.status_code == 200, assign.json
        return visit_id

    def register_online(self, **kw) -> dict:
        resp = self.client.post(
            "/api/v1/registrations",
            json={
                "area_id": str(self.area.id),
                "address": "北山街道1号",
                "start_date": months_ago(11).isoformat(),
                "reason": "work",
                "housing": "owned",
                "resident": person(**kw),
            },
            headers=self.make.auth(self.officer),
        )
        assert resp.status_code == 201, resp.json
        return resp.json

    def get(self, path):
        return self.client.get(path, headers=self.staff)

    def mutations(self, device_id) -> list:
        with self.app.app_context():
            rows = db.session.execute(
                sa.select(SyncMutation.seq, SyncMutation.status, SyncMutation.entity, SyncMutation.op)
                .where(SyncMutation.device_id == uuid.UUID(device_id))
                .order_by(SyncMutation.seq)
            ).all()
            return [tuple(r) for r in rows]


@pytest.fixture
def station(app, client, make, world, tmp_path):
    return Station(app, client, make, world, tmp_path)


def server_view(tablet: TabletClient) -> dict:
    """The device's scope as the server sees it now: a full pull from null with its own token."""
    view, cursor = {}, None
    while True:
        page = tablet._request("POST", "/api/v1/sync/pull", {"protocol": 1, "cursor": cursor, "limit": 1000})
        for c in page["changes"]:
            if c["op"] == "upsert":
                view[(c["entity"], c["id"])] = (c["version"], c["data"])
            else:
                view.pop((c["entity"], c["id"]), None)
        cursor = page["cursor"]
        if not page["has_more"]:
            return view


def tablet_view(tablet: TabletClient) -> dict:
    return {(r["entity"], r["id"]): (r["version"], r["data"]) for r in tablet.records()}


def assert_mirrors_server(tablet: TabletClient):
    assert tablet.pending() == []
    mine, theirs = tablet_view(tablet), server_view(tablet)
    assert mine.keys() == theirs.keys()
    assert mine == theirs


# --- enrolment, log-in, first pull ----------------------------------------------------------------


def test_enrol_log_in_and_pull_the_scope(station, world):
    tablet = station.tablet()
    device_id = tablet._meta("device_id")
    assert station.get(f"/api/v1/devices/{device_id}").json["status"] == "active"
    assert tablet._meta("device_credential") and tablet._meta("refresh_token")
    report = tablet.sync()
    assert report.rounds == 1 and report.pages == 1
    assert {r["id"] for r in tablet.records("area")} == {str(a.id) for a in world.areas[0]}
    assert tablet.record("reference", "material_kinds")["data"]["kinds"]
    assert tablet.visits() == []
    assert_mirrors_server(tablet)


def test_an_unknown_enrolment_code_and_a_wrong_password_are_surfaced(station, tmp_path):
    t = TabletClient(str(tmp_path / "t.sqlite3"), FlaskTransport(station.client))
    with pytest.raises(ProblemError) as exc:
        t.enroll(SERVER, "AAAA-BBBB-CCCC")
    assert exc.value.status == 422 and exc.value.slug == "enrollment-code-invalid"
    t.enroll(SERVER, station.device_code())
    with pytest.raises(ProblemError) as exc:
        t.login(station.officer.username, "wrong")
    assert exc.value.status == 401 and t._meta("access_token") is None


# --- offline work reaching the server -----------------------------------------------------------------


def test_a_resident_and_registration_made_offline_reach_the_server(station):
    tablet = station.tablet()
    tablet.sync()
    body = person(phone=mobile())
    rid = tablet.register_resident(
        body["name"], body["sex"], body["identity_number"], phone=body["phone"], hukou_address=body["hukou_address"]
    )
    reg = tablet.register_residence(
        rid,
        station.area.id,
        "北山街道12号",
        months_ago(7).isoformat(),
        "work",
        "rented",
        landlord_name="陈房东",
        landlord_phone=mobile(),
    )
    assert tablet.record("registration", reg)["data"]["maturity_date"] is None  # the server computes it
    report = tablet.sync()
    assert (report.applied, report.rejected, report.conflicts) == (2, 0, 0)
    on_server = station.get(f"/api/v1/residents/{rid}")
    assert on_server.status_code == 200 and on_server.json["name"] == body["name"]
    registration = station.get(f"/api/v1/registrations/{reg}").json
    assert registration["resident_id"] == rid and registration["device_id"] == tablet._meta("device_id")
    assert tablet.record("registration", reg)["data"]["maturity_date"] == registration["maturity_date"]
    assert tablet.record("resident", rid)["data"]["identity_number"] == on_server.json["identity_number"]
    assert [(s, e, o) for _, s, e, o in station.mutations(tablet._meta("device_id"))] == [
        ("applied", "resident", "create"),
        ("applied", "registration", "create"),
    ]
    assert_mirrors_server(tablet)


def test_an_outcome_recorded_offline_completes_the_visit(station):
    visit_id = station.visit()
    tablet = station.tablet()
    tablet.sync()
    [v] = tablet.visits()
    assert v["id"] == visit_id and v["data"]["status"] == "assigned"
    tablet.start_visit(visit_id)
    tablet.record_outcome(visit_id, "completed", "办好了")
    assert tablet.visits()[0]["data"]["status"] == "completed"
    report = tablet.sync()
    assert report.applied == 2
    server_visit = station.get(f"/api/v1/visits/{visit_id}").json
    assert (server_visit["status"], server_visit["outcome_note"]) == ("completed", "办好了")
    assert tablet.record("visit", visit_id)["version"] == server_visit["version"]
    assert_mirrors_server(tablet)


def test_a_refused_mutation_is_kept_on_both_sides_and_rolled_back_on_the_tablet(station):
    tablet = station.tablet()
    tablet.sync()
    rid = tablet.register_resident("张伟", "male", person()["identity_number"], phone="12345")  # not a mobile
    reg = tablet.register_residence(rid, station.area.id, "北山街道12号", months_ago(7).isoformat(), "work", "owned")
    ok = tablet.register_resident("李娜", "female", person()["identity_number"])
    ok_reg = tablet.register_residence(ok, station.area.id, "北山街道13号", months_ago(7).isoformat(), "work", "owned")
    report = tablet.sync()
    assert (report.rejected, report.applied) == (2, 2)
    assert tablet.record("resident", rid) is None and tablet.record("registration", reg) is None
    assert tablet.record("registration", ok_reg) is not None  # not blocked by the bad one
    assert {(r["entity"], r["id"]) for r in tablet.rejections()} == {("resident", rid), ("registration", reg)}
    assert "phone" in tablet.rejections()[0]["errors"]
    kept = station.get("/api/v1/sync/rejections").json
    assert {r["record_id"] for r in kept} == {rid, reg}
    assert_mirrors_server(tablet)


def test_an_edit_against_a_stale_version_merges_and_the_conflict_is_shown(station):
    registered = station.register_online(name="张伟")
    rid = registered["resident_id"]
    tablet = station.tablet()
    tablet.sync()
    base = tablet.record("resident", rid)["version"]
    patched = station.client.patch(
        f"/api/v1/residents/{rid}",
        json={"name": "张维"},
        headers=if_match(station.client, f"/api/v1/residents/{rid}", station.staff),
    )
    assert patched.status_code == 200, patched.json
    tablet.update_resident(rid, name="张卫", hukou_address="浙江省杭州市")  # offline, on the old version
    assert tablet.pending()[0]["base_version"] == base
    report = tablet.sync()
    assert report.conflicts == 1
    shown = tablet.record("resident", rid)["data"]
    assert (shown["name"], shown["hukou_address"]) == ("张维", "浙江省杭州市")  # server's name, tablet's address
    [c] = tablet.conflicts()
    assert c["fields"]["name"] == {"server": "张维", "device": "张卫"}
    assert [k["kind"] for k in station.get("/api/v1/sync/conflicts").json] == ["fields"]
    assert_mirrors_server(tablet)


def test_an_evicted_visit_with_an_unpushed_outcome_is_pushed_then_dropped(station, make, world):
    visit_id = station.visit()
    tablet = station.tablet()
    tablet.sync()
    tablet.record_outcome(visit_id, "not_home", "敲门无人")
    other = make.user("officer", world.stations[0], [station.area])
    station.client.post(
        f"/api/v1/visits/{visit_id}/assign",
        json={"officer_id": str(other.id)},
        headers=if_match(station.client, f"/api/v1/visits/{visit_id}", station.staff),
    )
    tablet.pull()  # the evict arrives while the outcome is unpushed
    assert tablet.record("visit", visit_id)["data"]["status"] == "not_home"
    report = tablet.sync()
    assert report.conflicts == 1 and tablet.conflicts()[0]["kind"] == "fact-after-change"
    assert tablet.record("visit", visit_id) is None
    assert station.get(f"/api/v1/visits/{visit_id}").json["status"] == "not_home"
    assert_mirrors_server(tablet)


def test_a_change_of_areas_resets_the_tablet_to_its_new_scope(station, world, make):
    kept = station.register_online(name="甲")["resident_id"]  # area 0
    other = world.areas[0][1]
    resp = station.client.post(
        "/api/v1/registrations",
        json={
            "area_id": str(other.id),
            "address": "南山路2号",
            "start_date": months_ago(11).isoformat(),
            "reason": "work",
            "housing": "owned",
            "resident": person(name="乙"),
        },
        headers=make.auth(world.auxiliary[0]),
    )
    assert resp.status_code == 201, resp.json
    arrives = resp.json["resident_id"]
    tablet = station.tablet()
    tablet.sync()
    assert tablet.record("resident", kept) and not tablet.record("resident", arrives)
    tablet.update_resident(kept, hukou_address="浙江省")  # unpushed edit in area 0
    mine = tablet.register_resident("丙", "male", person()["identity_number"])  # unpushed create
    moved = station.client.patch(
        f"/api/v1/users/{station.officer.id}", json={"area_ids": [str(other.id)]}, headers=station.staff
    )
    assert moved.status_code == 200, moved.json
    report = tablet.pull()
    assert report.resets == 1
    assert tablet.record("resident", arrives) is not None  # the new area's people
    assert tablet.record("resident", kept)["pending"] == 1  # held for its edit …
    assert tablet.record("resident", mine) is not None  # … and for its create
    tablet.sync()
    assert tablet.record("resident", kept) is None  # pushed, then dropped
    assert_mirrors_server(tablet)


def test_a_resident_created_outside_the_officers_areas_leaves_the_tablet_after_sync(station):
    tablet = station.tablet()
    tablet.sync()
    lone = tablet.register_resident("丁", "female", person()["identity_number"])  # no registration: no scope
    report = tablet.sync()
    assert report.applied == 1
    from field_api.residency.models import Resident

    with station.app.app_context():
        assert db.session.get(Resident, uuid.UUID(lone)) is not None  # the server has it …
    assert tablet.record("resident", lone) is None  # … the device's scope does not
    assert tablet.result(tablet.outbox()[0]["mutation_id"])["record"]["id"] == lone
    assert_mirrors_server(tablet)


def test_a_permit_is_handed_over_offline_with_a_receipt_the_server_accepts(station, field, world):
    from tests.field_api.delivery.test_deliveries import issue_permit

    body, approved = issue_permit(field, world, mobile())
    delivery = station.client.post(
        "/api/v1/deliveries",
        json={
            "permit_id": approved["permit_id"],
            "day": local_now().date().isoformat(),
            "window_start": "14:00",
            "window_end": "17:00",
        },
        headers=station.staff,
    ).json
    station.client.post(
        f"/api/v1/visits/{delivery['visit_id']}/assign",
        json={"officer_id": str(station.officer.id)},
        headers=if_match(station.client, f"/api/v1/visits/{delivery['visit_id']}", station.staff),
    )
    tablet = station.tablet()
    tablet.sync()
    held = tablet.record("delivery", delivery["id"])
    assert held["data"]["permit_number"] == approved["permit_number"] and held["data"]["manifest_entry"]
    receipt = tablet.handover(delivery["id"], "self", body["identity_number"])
    assert tablet.record("visit", delivery["visit_id"])["data"]["status"] == "completed"
    report = tablet.sync()
    assert report.applied == 1, tablet.rejections()
    on_server = station.get(f"/api/v1/deliveries/{delivery['id']}").json
    assert on_server["status"] == "delivered" and on_server["receipt_id"]
    recorded = station.get(f"/api/v1/receipts/{on_server['receipt_id']}").json
    assert recorded["token"] == receipt and recorded["seq"] == 1
    assert tablet.record("delivery", delivery["id"]) is None  # delivered: no longer on the manifest
    assert station.get(f"/api/v1/visits/{delivery['visit_id']}").json["status"] == "completed"
    assert_mirrors_server(tablet)


def test_a_lost_device_is_refused_and_keeps_its_outbox(station):
    tablet = station.tablet()
    tablet.sync()
    tablet.register_resident("张伟", "male", person()["identity_number"])
    revoked = station.client.post(
        f"/api/v1/devices/{tablet._meta('device_id')}/revoke", json={"mode": "lost"}, headers=station.staff
    )
    assert revoked.status_code == 200
    with pytest.raises(ProblemError) as exc:
        tablet.sync()
    assert exc.value.status == 401 and exc.value.slug == "device-revoked"
    assert len(tablet.pending()) == 1


def test_a_short_lived_access_token_is_refreshed_on_the_way(station, app, monkeypatch):
    monkeypatch.setitem(app.config, "ACCESS_TOKEN_TTL", 20)  # inside the client's 30 s margin
    tablet = station.tablet()
    first = tablet._meta("refresh_token")
    tablet.register_resident("张伟", "male", person()["identity_number"])
    tablet.sync()
    assert tablet._meta("refresh_token") != first and tablet.pending() == []


def test_the_command_line_against_the_server(station, monkeypatch, tmp_path):
    visit_id = station.visit()
    transport = FlaskTransport(station.client)
    db_path = str(tmp_path / "cli.sqlite3")

    def cli(*args, stdin=None):
        out, err = io.StringIO(), io.StringIO()
        monkeypatch.setattr(sys, "stderr", err)
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(["--db", db_path, *args], transport=transport, out=out)
        return code, out.getvalue(), err.getvalue()

    assert cli("enroll", "--server", SERVER, "--code", station.device_code())[0] == 0
    assert cli("login", "--username", station.officer.username, stdin=PASSWORD + "\n")[0] == 0
    code, out, _ = cli("sync")
    assert code == 0 and "pulled" in out
    code, out, _ = cli("visits")
    assert code == 0 and visit_id in out and "assigned" in out
    code, out, _ = cli(
        "register-resident",
        "--name",
        "王芳",
        "--sex",
        "female",
        "--identity",
        person()["identity_number"],
        "--phone",
        mobile(),
    )
    assert code == 0
    rid = out.split()[1]
    assert (
        cli(
            "register-residence",
            "--resident",
            rid,
            "--area",
            str(station.area.id),
            "--address",
            "北山街道9号",
            "--start",
            months_ago(7).isoformat(),
            "--reason",
            "family",
            "--housing",
            "relatives",
        )[0]
        == 0
    )
    assert cli("outcome", visit_id, "completed", "--note", "登记完成")[0] == 0
    assert "3 pending" in cli("pending")[1]
    code, out, _ = cli("sync")
    assert code == 0 and "applied 3" in out
    assert "0 pending" in cli("pending")[1]
    assert station.get(f"/api/v1/residents/{rid}").status_code == 200
    assert station.get(f"/api/v1/visits/{visit_id}").json["status"] == "completed"


# --- killed or cut off at every phase -------------------------------------------------------------------

PUSH, PULL = "/api/v1/sync/push", "/api/v1/sync/pull"
FAULTS = {
    "push lost before sending": lambda t: t.drop_request(PUSH),
    "push answer lost after the commit": lambda t: t.drop_response(PUSH),
    "push answer lost twice": lambda t: t.drop_response(PUSH).drop_response(PUSH, nth=2),
    "pull page lost mid-pull": lambda t: t.drop_response(PULL, nth=2),
    "killed before the push left": lambda t: t.crash_before(PUSH),
    "killed after the server committed the push": lambda t: t.crash_after(PUSH),
    "killed mid-pull": lambda t: t.crash_after(PULL, nth=2),
    "killed on the last page": lambda t: t.crash_after(PULL, nth=4),
}
HOOKS = (
    "push:before-send",
    "push:answer-received",
    "push:results-before-commit",
    "pull:page-received",
    "pull:page-before-commit",
)


@pytest.mark.parametrize("fault", [*FAULTS, *(f"hook {h}" for h in HOOKS)])
def test_interrupted_at_any_phase_nothing_is_lost_or_applied_twice(station, fault):
    for i in range(3):
        station.register_online(name=f"原有{i}")  # enough records for several pages of 2
    visit_id = station.visit()
    existing = station.register_online(name="老住户")["resident_id"]
    hook_at = fault[5:] if fault.startswith("hook ") else None
    faulty = None

    def wrap(transport):
        nonlocal faulty
        faulty = FaultyTransport(transport)
        return faulty

    tablet = station.tablet(wrap=wrap, pull_limit=2)
    tablet.sync()  # on the road with the day's work
    people = [person() for _ in range(2)]
    made = []
    for p in people:
        rid = tablet.register_resident(p["name"], p["sex"], p["identity_number"], phone=p["phone"])
        made.append(
            (
                rid,
                tablet.register_residence(
                    rid, station.area.id, "北山街道5号", months_ago(7).isoformat(), "work", "owned"
                ),
            )
        )
    tablet.record_outcome(visit_id, "completed", "已登记")
    tablet.update_resident(existing, hukou_address="河南省信阳市")
    queued = [(m["seq"], m["mutation_id"]) for m in tablet.pending()]
    assert len(queued) == 6

    if hook_at:
        fired = []

        def hook(point):
            if point == hook_at and not fired:
                fired.append(point)
                raise Crash(point)

        tablet.fault_hook = hook
    else:
        FAULTS[fault](faulty)
    crashed = False
    try:
        tablet.sync()
    except Crash:
        crashed = True
        tablet = station.reopen(tablet, pull_limit=2)
    assert crashed == (hook_at is not None or "killed" in fault)
    assert hook_at or all(f.fired for f in faulty.faults)  # every injected fault really happened
    tablet.sync()

    # nothing lost, nothing twice: every queued mutation settled once, as applied, with its seq
    assert [(m["seq"], m["mutation_id"], m["state"]) for m in tablet.outbox()] == [
        (s, mid, "applied") for s, mid in queued
    ]
    assert [(seq, status) for seq, status, _, _ in station.mutations(tablet._meta("device_id"))] == [
        (s, "applied") for s, _ in queued
    ]
    for p, (rid, reg) in zip(people, made, strict=True):
        found = station.get(f"/api/v1/residents?identity_number={p['identity_number']}").json
        assert [r["id"] for r in found] == [rid]
        regs = station.get(f"/api/v1/registrations?resident_id={rid}").json
        assert [r["id"] for r in regs] == [reg]
    assert station.get(f"/api/v1/visits/{visit_id}").json["status"] == "completed"
    assert station.get(f"/api/v1/residents/{existing}").json["hukou_address"] == "河南省信阳市"
    assert_mirrors_server(tablet)


def test_two_tablets_of_one_officer_converge(station):
    """The same officer on two tablets: what one did offline reaches the other through the server."""
    first, second = station.tablet("one"), station.tablet("two")
    first.sync()
    second.sync()
    rid = first.register_resident("张伟", "male", person()["identity_number"])
    first.register_residence(rid, station.area.id, "北山街道5号", months_ago(7).isoformat(), "work", "owned")
    first.sync()
    second.sync()
    assert second.record("resident", rid)["data"]["name"] == "张伟"
    second.update_resident(rid, phone=mobile())
    first.update_resident(rid, name="张卫")
    second.sync()
    first.sync()
    second.sync()
    assert tablet_view(first) == tablet_view(second)
    assert_mirrors_server(first)
    assert_mirrors_server(second)


def test_a_tablet_whose_clock_is_an_hour_off_still_syncs(station, monkeypatch):
    """Device proofs are dated; a wrong tablet clock must not lock it out: the first refusal
    carries the server's clock, and the client dates its proofs by it from then on."""
    import time as real_time
    import types

    from doorstep_client import tablet as tablet_module
    from doorstep_client import transport as transport_module

    tablet = station.tablet()
    for module in (tablet_module, transport_module):
        monkeypatch.setattr(
            module,
            "time",
            types.SimpleNamespace(
                time=lambda: real_time.time() + 3600, sleep=real_time.sleep, monotonic=real_time.monotonic
            ),
        )
    tablet.register_resident("王五", "male", valid_identity())
    report = tablet.sync()
    assert report.applied == 1 and tablet.pending() == []
    assert tablet._proof_offset in range(-3602, -3597)
