"""seed-scale at a tiny size: valid identity numbers, the counts it promises, a resumable second
run, feed rows identical to what the ORM path would publish, and a tablet that sees them."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from app import pii
from app.extensions import db
from tests.factories import DeviceH, StationH, UserH
from tests.fixtures.tablets import Tablet

PASSWORD = "seed scale password"
ARGS = [
    "seed-scale",
    "--stations",
    "2",
    "--residents",
    "500",
    "--batch",
    "200",
    "--visit-days",
    "3",
    "--password",
    PASSWORD,
    "--no-progress",
]


def _run(app, *extra):
    result = app.test_cli_runner().invoke(args=[*ARGS, *extra])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def _counts(app) -> dict:
    with app.app_context():
        q = lambda sql: db.session.execute(sa.text(sql)).scalar()  # noqa: E731
        return {
            t: q(f"SELECT COUNT(*) FROM {t}")
            for t in (
                "station",
                "area",
                "user_account",
                "resident",
                "registration",
                "booking",
                "visit",
                "slot",
                "sync_record",
            )
        } | {"last_seq": q("SELECT last_seq FROM sync_counter"), "max_seq": q("SELECT MAX(seq) FROM sync_record")}


def test_seed_scale_tiny(app, client, make):
    output = _run(app)
    assert "seconds per 100,000 residents:" in output
    counts = _counts(app)
    assert counts["station"] == 2 and counts["area"] == 16
    assert counts["user_account"] == 2 * (2 + 8 + 4)
    assert counts["resident"] == 500
    assert counts["registration"] > 500  # some moved within the station: two registrations
    assert counts["visit"] == counts["booking"] > 0
    assert counts["last_seq"] == counts["max_seq"]  # the counter was advanced past every seeded row

    with app.app_context():
        from field_api.residency.models import Registration, Resident
        from sync import documents, registry
        from sync.models import SyncRecord

        identities = [
            pii.decrypt(pii.IDENTITY, r.identity_enc) for r in db.session.execute(sa.select(Resident)).scalars()
        ]
        assert len(set(identities)) == 500
        for value in identities:
            assert pii.normalize_identity(value) == value
        residents = db.session.execute(sa.select(Resident)).scalars().all()
        assert all(
            r.identity_bidx == pii.blind_index(pii.IDENTITY, pii.decrypt(pii.IDENTITY, r.identity_enc))
            for r in residents
        )
        ended = db.session.execute(sa.select(Registration).where(Registration.status == "ended")).scalars().all()
        assert ended and all(g.end_date and g.end_reason and g.active_key is None for g in ended)
        # Maturity stages as the app writes them: what matured is history, the rest is found by
        # date except the last few days before maturity, which wait in the queue.
        from app.workdays import local_now
        from field_api.residency.models import DONE, stage_for

        today = local_now().date()
        registrations = db.session.execute(sa.select(Registration)).scalars().all()
        expected = [
            DONE if g.status == "ended" or g.maturity_date <= today else stage_for(g.maturity_date, today)
            for g in registrations
        ]
        assert [g.maturity_notice_stage for g in registrations] == expected
        assert {3, 2} <= set(expected)

        # Every seeded feed row holds exactly the document and scope the ORM path would publish.
        rows = db.session.execute(sa.select(SyncRecord)).scalars().all()
        assert len({r.seq for r in rows}) == len(rows)
        for row in rows:
            obj = db.session.get(registry.DOCUMENTS[row.entity].model, uuid.UUID(row.record_id))
            built = documents.build(row.entity, obj)
            assert (row.scope_kind, row.scope_id) in built.scopes, row.entity
            assert row.doc == built.doc.decode(), row.entity
            if built.version is not None:
                assert row.version == built.version
        # and nothing in scope is missing from the feed
        active = db.session.execute(
            sa.select(sa.func.count()).select_from(Registration).where(Registration.status == "active")
        ).scalar()
        assert sum(1 for r in rows if r.entity == "registration") == active

    # Resuming: a second run inserts nothing and changes nothing.
    output = _run(app)
    assert "0 inserted this run (500 already there)" in output
    assert _counts(app) == counts
    # Growing: a larger run continues from where the smaller one stopped (mid-batch too).
    output = _run(app, "--residents", "650")
    assert "150 inserted this run (500 already there)" in output
    grown = _counts(app)
    assert grown["resident"] == 650 and grown["last_seq"] == grown["max_seq"]

    # An officer's tablet pulls the residents and registrations of its area, and its visits.
    with app.app_context():
        from app.org.models import User
        from field_api.residency.models import Registration

        officer = db.session.execute(sa.select(User).where(User.username == "sc01.officer1")).scalar_one()
        area_ids = [a.id for a in officer.areas]
        handle = UserH(officer.id, officer.username, "officer", officer.station_id, area_ids, password=PASSWORD)
        expected_regs = {
            str(i)
            for i in db.session.execute(
                sa.select(Registration.id).where(Registration.area_id.in_(area_ids), Registration.status == "active")
            ).scalars()
        }
        expected_residents = {
            str(i)
            for i in db.session.execute(
                sa.select(Registration.resident_id).where(
                    Registration.area_id.in_(area_ids), Registration.status == "active"
                )
            ).scalars()
        }
        station = StationH(officer.station_id, "SC01")
    device: DeviceH = make.device(station)
    tablet = Tablet(client, make, handle, device)
    tablet.pull_all(limit=100)
    held = {
        entity: {i for (e, i) in tablet.records if e == entity}
        for entity in ("resident", "registration", "visit", "area")
    }
    assert expected_regs and held["registration"] == expected_regs
    assert held["resident"] == expected_residents
    assert len(held["area"]) == 8 and held["visit"]
    assert all(tablet.records[("visit", v)]["officer_id"] == str(officer.id) for v in held["visit"])
