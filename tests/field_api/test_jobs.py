"""Field work's scheduled jobs, driven with a chosen clock: six-month maturity (month ends, leap
years, the local day, catch-up after downtime, reruns, the pre-notice, ended registrations, the
daily list), materials still owed (容缺), review deadline warnings and delivery notices. The texts'
lengths are checked with every other template's in tests/app/notify/test_templates.py."""

from __future__ import annotations

import itertools
import threading
import uuid
from datetime import date, datetime, time, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from app import pii, unit_of_work
from app.db import utcnow
from app.extensions import db
from app.notify.models import Notification
from app.notify.templates import render
from app.org.models import Station
from app.workdays import LOCAL_TZ, local_now
from field_api import jobs
from field_api.permits.models import PermitApplication
from field_api.residency import maturity
from field_api.residency.models import DONE, QUEUED, SCHEDULED, MaturityNotice, MaturityProgress, Registration, Resident
from field_api.residency.services import maturity_date
from tests.factories import if_match, mobile, valid_identity
from tests.fixtures.field import materials

_born = itertools.count(1)


def at(day: date, hour: int = 9, minute: int = 0) -> datetime:
    """A moment of local (Asia/Shanghai) time, as the scheduler's UTC clock gives it."""
    return datetime.combine(day, time(hour, minute), LOCAL_TZ)


def add_registration(
    app, area, matures: date, *, phone: bool = True, status: str = "active", stage: int | None = None
) -> str:
    """A registration whose six months mature on ``matures`` (the row as the service writes it,
    on the day the residence starts, whatever day the suite runs; ``stage``: as a late
    registration, or the previous version of the job, left it)."""
    starts = matures - timedelta(days=183)
    with app.app_context(), time_machine.travel(at(starts, 10), tick=False):
        identity = valid_identity(born=f"1985{(next(_born) % 12) + 1:02d}{(next(_born) % 28) + 1:02d}")
        number = mobile() if phone else None
        resident = Resident(
            name="张伟",
            sex="male",
            identity_enc=pii.encrypt(pii.IDENTITY, identity),
            identity_bidx=pii.blind_index(pii.IDENTITY, identity),
            phone_enc=pii.encrypt(pii.PHONE, number),
            phone_bidx=pii.blind_index(pii.PHONE, number),
        )
        db.session.add(resident)
        db.session.flush()
        registration = Registration(
            resident_id=resident.id,
            station_id=area.station_id,
            area_id=area.id,
            address="北山街道1号",
            start_date=starts,
            maturity_date=matures,
            reason="work",
            housing="owned",
            status=status,
            active_key=f"{resident.id}:{area.station_id}" if status == "active" else None,
            end_date=matures if status != "active" else None,
            end_reason="moved_away" if status != "active" else None,
        )
        if stage is not None:
            registration.maturity_notice_stage = stage
        db.session.add(registration)
        db.session.commit()
        return str(registration.id)


def notices(app, kind: str | None = None) -> list[Notification]:
    with app.app_context():
        query = sa.select(Notification).order_by(Notification.created_at, Notification.dedupe_key)
        if kind:
            query = query.where(Notification.kind == kind)
        rows = db.session.execute(query).scalars().all()
        db.session.expunge_all()
        return rows


def list_lines(app) -> list[MaturityNotice]:
    with app.app_context():
        rows = db.session.execute(sa.select(MaturityNotice).order_by(MaturityNotice.day)).scalars().all()
        db.session.expunge_all()
        return rows


def station_name(app, station_id) -> str:
    with app.app_context():
        return db.session.get(Station, station_id).name


def tick(app, fn, now: datetime):
    with app.app_context():  # one unit of work per job run, as the scheduler runs it
        return unit_of_work.unit(lambda: fn(now))


# --- maturity ----------------------------------------------------------------------------------


def test_month_end_and_leap_year_maturities_reach_the_job_on_their_local_day(app, world):
    area = world.areas[0][0]
    feb_28 = add_registration(app, area, maturity_date(date(2026, 8, 31)))  # → 2027-02-28
    leap = [
        add_registration(app, area, maturity_date(start))  # → 2028-02-29, all three
        for start in (date(2027, 8, 29), date(2027, 8, 30), date(2027, 8, 31))
    ]
    assert maturity_date(date(2026, 8, 31)) == date(2027, 2, 28)
    assert maturity_date(date(2027, 8, 31)) == date(2028, 2, 29)

    # 23:59 in Shanghai is still the day before, although it is 15:59 UTC of that day.
    assert tick(app, maturity.notify_matured, at(date(2027, 2, 27), 23, 59))["matured"] == 0
    # 00:01 local on the 28th is 16:01 UTC on the 27th: the local date decides.
    first = at(date(2027, 2, 28), 0, 1)
    assert first.astimezone(LOCAL_TZ).date() == date(2027, 2, 28) and first.utcoffset() == timedelta(hours=8)
    assert tick(app, maturity.notify_matured, first) == {"matured": 1, "sms": 1}
    assert tick(app, maturity.notify_matured, at(date(2028, 2, 28), 23, 59))["matured"] == 0
    assert tick(app, maturity.notify_matured, at(date(2028, 2, 29), 0, 1)) == {"matured": 3, "sms": 3}

    rows = notices(app, "maturity_reached")
    assert [r.dedupe_key for r in rows] == [
        maturity.maturity_key(feb_28),
        *sorted(maturity.maturity_key(r) for r in leap),
    ]
    assert [r.params["day"] for r in rows] == ["2027-02-28"] + ["2028-02-29"] * 3
    station = station_name(app, world.stations[0].id)
    assert {(r.params["station"], r.template, r.locale, r.status) for r in rows} == {
        (station, "maturity_reached", "zh", "pending")
    }
    with app.app_context():  # the text's link is signed with the app's key
        text = render(rows[0].template, rows[0].locale, rows[0].params)
    assert text.startswith(f"【{station}】您的居住登记已于2027-02-28满六个月")
    assert [line.day for line in list_lines(app)] == [date(2027, 2, 28)] + [date(2028, 2, 29)] * 3


@pytest.mark.parametrize("stage", [SCHEDULED, QUEUED])
def test_a_tick_after_three_days_of_downtime_catches_up_every_missed_day_once(app, world, stage):
    """Scheduled registrations (made months ahead) are found by the clock; queued ones (made
    late, or left by the previous version of the job) by the queue: both catch up alike."""
    today = date(2027, 3, 10)
    with app.app_context():  # the clock last ran the day before the outage
        db.session.add(MaturityProgress(kind="maturity_reached", through=today - timedelta(days=4)))
        db.session.commit()
    told = add_registration(app, world.areas[0][0], today - timedelta(days=4), stage=stage)
    if stage == QUEUED:
        with app.app_context():
            db.session.execute(sa.update(Registration.__table__).values(maturity_notice_stage=DONE))
            db.session.commit()
    missed = [add_registration(app, world.areas[0][0], today - timedelta(days=n), stage=stage) for n in (3, 2, 1, 0)]
    future = add_registration(app, world.areas[0][1], today + timedelta(days=30), stage=stage)
    ended = add_registration(app, world.areas[0][0], today - timedelta(days=1), status="ended", stage=stage)

    assert tick(app, maturity.notify_matured, at(today, 10)) == {"matured": 4, "sms": 4}
    assert tick(app, maturity.notify_matured, at(today, 10, 1)) == {"matured": 0, "sms": 0}
    assert tick(app, maturity.notify_matured, at(today + timedelta(days=1))) == {"matured": 0, "sms": 0}

    keys = {r.dedupe_key for r in notices(app, "maturity_reached")}
    assert keys == {maturity.maturity_key(r) for r in missed}
    assert maturity.maturity_key(future) not in keys and maturity.maturity_key(ended) not in keys
    assert maturity.maturity_key(told) not in keys
    assert sorted(line.day for line in list_lines(app)) == [today - timedelta(days=n) for n in (4, 3, 2, 1, 0)]
    with app.app_context():
        stages = dict(db.session.execute(sa.select(Registration.id, Registration.maturity_notice_stage)).all())
        versions = set(db.session.execute(sa.select(Registration.version)).scalars())
    # the queue is emptied row by row; scheduled rows are left as they are
    assert {str(k): v for k, v in stages.items() if str(k) in missed} == dict.fromkeys(
        missed, DONE if stage == QUEUED else SCHEDULED
    )
    assert versions == {1}  # bookkeeping, not an edit: tablets see no new version


@pytest.mark.parametrize("forget", ["stage", "clock"])
def test_a_rerun_that_forgot_what_it_did_adds_nothing(app, world, forget):
    """Two leaders overlapping, or a tick whose commit was not seen: the stage says "not done"
    again, or the clock is back where it was, but the dedupe key still holds."""
    reg = add_registration(app, world.areas[0][0], date(2027, 3, 10))
    tick(app, maturity.notify_matured, at(date(2027, 3, 10)))
    with app.app_context():
        if forget == "stage":
            db.session.execute(sa.update(Registration.__table__).values(maturity_notice_stage=QUEUED))
        else:
            db.session.execute(sa.update(MaturityProgress.__table__).values(through=date(2027, 3, 9)))
        db.session.commit()
    assert tick(app, maturity.notify_matured, at(date(2027, 3, 10), 11)) == {"matured": 1, "sms": 0}
    assert [r.dedupe_key for r in notices(app)] == [maturity.maturity_key(reg)]
    assert len(list_lines(app)) == 1


def test_the_pre_notice_goes_n_days_before_and_the_notice_on_the_day(app, world):
    today = date(2027, 3, 10)
    soon = add_registration(app, world.areas[0][0], today + timedelta(days=7))
    later = add_registration(app, world.areas[0][0], today + timedelta(days=8))
    lapsed = add_registration(app, world.areas[0][0], today - timedelta(days=1))  # its pre-notice window passed

    assert tick(app, maturity.run, at(today)) == {"matured": 1, "sms": 1, "prenotices": 1}
    assert tick(app, maturity.run, at(today, 12)) == {"matured": 0, "sms": 0, "prenotices": 0}
    assert tick(app, maturity.run, at(today + timedelta(days=1))) == {"matured": 0, "sms": 0, "prenotices": 1}
    assert tick(app, maturity.run, at(today + timedelta(days=7))) == {"matured": 1, "sms": 1, "prenotices": 0}

    assert sorted((r.created_at, r.kind, r.dedupe_key, r.params["day"]) for r in notices(app)) == [
        (at(today), "maturity_reached", maturity.maturity_key(lapsed), "2027-03-09"),
        (at(today), "maturity_soon", maturity.prenotice_key(soon), "2027-03-17"),
        (at(today + timedelta(days=1)), "maturity_soon", maturity.prenotice_key(later), "2027-03-18"),
        (at(today + timedelta(days=7)), "maturity_reached", maturity.maturity_key(soon), "2027-03-17"),
    ]


@pytest.mark.parametrize("stage", [SCHEDULED, QUEUED])
def test_the_keys_and_link_the_job_makes_in_sql_are_the_ones_python_makes(app, world, stage):
    """The job builds each key and link inside its INSERT … SELECT (app.bulk.uuid_key), on
    whichever database the suite runs: they must be what ``maturity_key``, ``prenotice_key`` and
    ``maturity_link`` give (the id's 32 hex digits), so Python finds and cancels the messages and
    any message written in Python is identical."""
    today = date(2027, 3, 10)
    due = add_registration(app, world.areas[0][0], today, stage=stage)
    soon = add_registration(app, world.areas[0][0], today + timedelta(days=7), stage=stage)
    assert tick(app, maturity.run, at(today)) == {"matured": 1, "sms": 1, "prenotices": 1}

    made = {(r.kind, r.dedupe_key, r.params["link"]) for r in notices(app)}
    assert made == {
        ("maturity_reached", maturity.maturity_key(due), maturity.maturity_link(due)),
        ("maturity_soon", maturity.prenotice_key(soon), maturity.maturity_link(soon)),
    }
    hex_due = uuid.UUID(due).hex
    assert (maturity.maturity_key(due), maturity.maturity_link(due)) == (f"maturity:{hex_due}", f"R:{hex_due}")
    assert maturity.maturity_key(uuid.UUID(due)) == maturity.maturity_key(hex_due) == maturity.maturity_key(due)
    assert [line.sms for line in list_lines(app)] == [True]  # the daily list joins on the same key
    with app.app_context():  # and the end finds the pre-notice by it
        assert maturity.cancel_reminders(uuid.UUID(soon)) == 1
        db.session.commit()


def test_no_pre_notice_when_it_is_switched_off(app, world, monkeypatch):
    monkeypatch.setitem(app.config, "MATURITY_PRENOTICE_DAYS", 0)
    add_registration(app, world.areas[0][0], date(2027, 3, 12))
    assert tick(app, maturity.notify_soon, at(date(2027, 3, 10))) == {"prenotices": 0}
    assert notices(app) == []


def test_a_resident_without_a_phone_is_on_the_daily_list_only(app, world):
    reg = add_registration(app, world.areas[0][0], date(2027, 3, 10), phone=False)
    assert tick(app, maturity.run, at(date(2027, 3, 10))) == {"matured": 1, "sms": 0, "prenotices": 0}
    assert notices(app) == []
    [line] = list_lines(app)
    assert str(line.registration_id) == reg and line.sms is False and line.area_id == world.areas[0][0].id


def test_no_maturity_sms_for_a_resident_who_already_applied_on_the_registration(app, world):
    reg = add_registration(app, world.areas[0][0], date(2027, 3, 10))
    with app.app_context():
        registration = db.session.get(Registration, uuid.UUID(reg))
        db.session.add(
            PermitApplication(
                reference="EARLY123",
                resident_id=registration.resident_id,
                registration_id=registration.id,
                channel="window",
                accepting_station_id=registration.station_id,
                station_id=registration.station_id,
                created_by_id=world.staff[0].id,
            )
        )
        db.session.commit()
    assert tick(app, maturity.run, at(date(2027, 3, 10))) == {"matured": 1, "sms": 0, "prenotices": 0}
    assert [line.sms for line in list_lines(app)] == [False]


def test_ending_a_registration_cancels_its_pending_reminder(app, client, make, world, field):
    today = local_now().date()
    start = today - timedelta(days=180)  # matures within the pre-notice window
    resp = field.register(start=start)
    assert resp.status_code == 201, resp.json
    reg = resp.json["id"]
    matures = date.fromisoformat(resp.json["maturity_date"])
    assert today < matures <= today + timedelta(days=7)
    assert tick(app, maturity.run, utcnow())["prenotices"] == 1

    end = client.post(
        f"/api/v1/registrations/{reg}/end",
        json={"end_date": today.isoformat(), "reason": "moved_away"},
        headers=make.auth(world.officer[0]),
    )
    assert end.status_code == 200, end.json
    [pre] = notices(app)
    assert (pre.dedupe_key, pre.status, pre.last_error) == (maturity.prenotice_key(reg), "dead", "registration ended")
    assert tick(app, maturity.run, at(matures)) == {"matured": 0, "sms": 0, "prenotices": 0}
    assert len(notices(app)) == 1 and list_lines(app) == []


def test_an_end_while_the_job_runs_waits_for_it_and_cancels_the_sms(
    app, client, make, world, monkeypatch, time_machine
):
    """The job reads scheduled registrations without locking them: a registration ended while a
    run is queueing its SMS must not get it. The end waits for the run's commit, then finds the
    message and kills it."""
    reg = add_registration(app, world.areas[0][0], date(2027, 3, 10))
    time_machine.move_to(at(date(2027, 3, 10)))  # the morning it matures: the run and the end
    headers = make.auth(world.officer[0])
    queued, go = threading.Event(), threading.Event()
    move = maturity._move

    def move_then_wait(*args):
        move(*args)
        queued.set()
        assert go.wait(20)

    monkeypatch.setattr(maturity, "_move", move_then_wait)
    run = threading.Thread(target=tick, args=(app, maturity.notify_matured, at(date(2027, 3, 10))))
    run.start()
    assert queued.wait(20)  # the run has queued the SMS and not committed yet
    ended = {}
    end = threading.Thread(
        target=lambda: ended.setdefault(
            "resp",
            client.post(
                f"/api/v1/registrations/{reg}/end",
                json={"end_date": local_now().date().isoformat(), "reason": "moved_away"},
                headers=headers,
            ),
        )
    )
    end.start()
    end.join(0.5)
    assert end.is_alive()  # waiting for the run
    go.set()
    run.join(20)
    end.join(20)
    assert ended["resp"].status_code == 200, ended["resp"].json
    [sms] = notices(app)
    assert (sms.dedupe_key, sms.status, sms.last_error) == (maturity.maturity_key(reg), "dead", "registration ended")


def test_a_sent_reminder_is_not_touched_by_the_end(app, world):
    reg = add_registration(app, world.areas[0][0], date(2027, 3, 10))
    tick(app, maturity.run, at(date(2027, 3, 10)))
    with app.app_context():
        db.session.execute(sa.update(Notification).values(status="sent"))
        assert maturity.cancel_reminders(reg) == 0
        db.session.commit()
    assert [n.status for n in notices(app)] == ["sent"]


def test_the_daily_list_is_scoped_to_the_station_and_the_officers_areas(app, client, make, world):
    day = date(2027, 3, 10)
    mine = add_registration(app, world.areas[0][0], day)  # the officer's area
    other_area = add_registration(app, world.areas[0][1], day)  # the auxiliary officer's area
    elsewhere = add_registration(app, world.areas[1][0], day)  # another station
    add_registration(app, world.areas[0][0], day + timedelta(days=1))
    tick(app, maturity.run, at(day + timedelta(days=1)))

    def ids(who, **query):
        resp = client.get("/api/v1/maturities", query_string={"day": day.isoformat(), **query}, headers=make.auth(who))
        assert resp.status_code == 200, resp.json
        return {line["registration_id"] for line in resp.json}

    assert ids(world.staff[0]) == {mine, other_area}
    assert ids(world.staff[0], area_id=str(world.areas[0][1].id)) == {other_area}
    assert ids(world.officer[0]) == {mine}
    assert ids(world.auxiliary[0]) == {other_area}
    assert ids(world.officer[1]) == {elsewhere}
    assert ids(world.staff[1], area_id=str(world.areas[0][0].id)) == set()
    assert len(ids(world.admin)) == 3
    line = client.get(
        "/api/v1/maturities", query_string={"day": day.isoformat()}, headers=make.auth(world.officer[0])
    ).json[0]
    assert line["sms"] is True and line["registration_status"] == "active" and "****" in line["phone"]
    assert line["resident_name"] == "张伟" and line["day"] == day.isoformat()
    assert client.get("/api/v1/maturities", headers=make.auth(world.citizen)).status_code == 403


def test_the_daily_list_keeps_a_resident_who_moved_away_after_maturing_and_waits_for_the_job(app, client, make, world):
    day = date(2027, 3, 10)
    moved = add_registration(app, world.areas[0][0], day)
    stayed = add_registration(app, world.areas[0][0], day, phone=False)
    add_registration(app, world.areas[0][0], day + timedelta(days=1))

    def lines(on: date) -> dict:
        resp = client.get("/api/v1/maturities", query_string={"day": on.isoformat()}, headers=make.auth(world.staff[0]))
        assert resp.status_code == 200, resp.json
        return {line["registration_id"]: (line["sms"], line["registration_status"]) for line in resp.json}

    assert lines(day) == {}  # the job has not got there yet
    tick(app, maturity.run, at(day))
    with app.app_context():
        db.session.execute(
            sa.update(Registration.__table__)
            .where(Registration.id == uuid.UUID(moved))
            .values(status="ended", end_date=day + timedelta(days=20), end_reason="moved_away", active_key=None)
        )
        db.session.commit()
    assert lines(day) == {moved: (True, "ended"), stayed: (False, "active")}
    assert lines(day + timedelta(days=1)) == {}  # tomorrow's: not yet


def test_a_registration_made_after_its_six_months_is_told_on_the_next_tick(app, client, make, world, field):
    """Registered with a start date seven months back, after today's tick already ran: the clock
    has passed its date, so it waits in the queue instead — and one made today waits for its day."""
    assert tick(app, maturity.run, utcnow()) == {"matured": 0, "sms": 0, "prenotices": 0}
    late = field.register()  # starts seven months ago
    assert late.status_code == 201, late.json
    fresh = field.register(start=local_now().date())
    assert fresh.status_code == 201, fresh.json
    with app.app_context():
        stages = dict(db.session.execute(sa.select(Registration.id, Registration.maturity_notice_stage)).all())
    assert {str(k): v for k, v in stages.items()} == {late.json["id"]: QUEUED, fresh.json["id"]: SCHEDULED}

    assert tick(app, maturity.run, utcnow()) == {"matured": 1, "sms": 1, "prenotices": 0}
    assert tick(app, maturity.run, utcnow()) == {"matured": 0, "sms": 0, "prenotices": 0}
    [sms] = notices(app)
    assert sms.dedupe_key == maturity.maturity_key(late.json["id"]) and sms.params == {
        "station": station_name(app, world.stations[0].id),
        "day": late.json["maturity_date"],
        "link": maturity.maturity_link(late.json["id"]),  # the page for this registration, signed when sent
    }
    resp = client.get(
        "/api/v1/maturities", query_string={"day": late.json["maturity_date"]}, headers=make.auth(world.officer[0])
    )
    assert [(line["registration_id"], line["sms"]) for line in resp.json] == [(late.json["id"], True)]


# --- materials still owed (容缺) ---------------------------------------------------------------


@pytest.fixture
def owing(app, field, world):
    """An application accepted at the window with the photo still owed; returns (id, accepted day)."""
    body, _ = field.matured_resident()
    resp = field.apply(
        world.staff[0], identity_number=body["identity_number"], materials=materials("identity_card", "rental_contract")
    )
    assert resp.status_code == 201 and resp.json["status"] == "accepted", resp.json
    return resp.json["id"], local_now().date()


def test_materials_owed_are_reminded_every_n_days_until_supplied(app, field, world, owing):
    app_id, accepted = owing
    run = lambda days: tick(app, jobs.materials_reminders, at(accepted + timedelta(days=days), 10))  # noqa: E731
    assert [run(d)["materials_reminders"] for d in (0, 2, 3, 4, 5, 6)] == [0, 0, 1, 0, 0, 1]
    assert run(13)["materials_reminders"] == 1  # after downtime: the current period only (n = 4), once
    assert run(13)["materials_reminders"] == 0
    rows = notices(app, "materials_owed")
    assert [r.dedupe_key for r in rows] == [f"materials:{app_id}:{n}" for n in (1, 2, 4)]
    assert rows[0].params["materials"] == "照片" and rows[0].params["reference"]

    headers = if_match(field.client, f"/api/v1/applications/{app_id}", field.make.auth(world.staff[0]))
    supplied = field.client.put(
        f"/api/v1/applications/{app_id}/materials/photo", json={"attachment_sha256": "c" * 64}, headers=headers
    )
    assert supplied.status_code == 200, supplied.json
    assert run(15)["materials_reminders"] == 0


def test_no_materials_reminder_once_the_application_is_closed(app, field, world, owing):
    app_id, accepted = owing
    field.act(world.staff[0], app_id, "review")
    assert field.act(world.staff[0], app_id, "decision", decision="reject", code="NO").status_code == 200
    assert tick(app, jobs.materials_reminders, at(accepted + timedelta(days=3)))["materials_reminders"] == 0


def test_the_reminder_period_is_configurable(app, world, owing, monkeypatch):
    _app_id, accepted = owing
    monkeypatch.setitem(app.config, "MATERIALS_REMINDER_DAYS", 5)
    assert tick(app, jobs.materials_reminders, at(accepted + timedelta(days=3)))["materials_reminders"] == 0
    assert tick(app, jobs.materials_reminders, at(accepted + timedelta(days=5)))["materials_reminders"] == 1


# --- review deadline warnings --------------------------------------------------------------------


def test_staff_with_a_phone_are_warned_two_working_days_before_the_deadline(app, make, field, world, owing):
    app_id, _ = owing
    silent = make.user("staff", world.stations[0])  # no phone
    make.user("staff", world.stations[1], phone=mobile())  # another station
    deadline = date(2026, 12, 10)  # a Thursday
    with app.app_context():
        db.session.execute(sa.update(PermitApplication).values(review_deadline=deadline))
        db.session.commit()
    run = lambda day: tick(app, jobs.deadline_warnings, at(day, 9))["deadline_warnings"]  # noqa: E731
    assert run(date(2026, 12, 7)) == 0  # Monday: three working days left
    assert run(date(2026, 12, 8)) == 1  # Tuesday: two working days before
    assert run(date(2026, 12, 9)) == 0  # once
    assert run(date(2026, 12, 11)) == 0  # past the deadline: nothing to warn of
    [row] = notices(app, "review_deadline")
    assert row.dedupe_key == f"deadline:{app_id}:{world.staff[0].id}" and row.recipient_user_id == world.staff[0].id
    assert row.params["deadline"] == "2026-12-10" and silent.id != row.recipient_user_id


def test_decided_applications_get_no_deadline_warning(app, field, world, owing):
    app_id, _ = owing
    assert field.act(world.staff[0], app_id, "decision", decision="reject", code="NO").status_code == 200
    with app.app_context():
        db.session.execute(sa.update(PermitApplication).values(review_deadline=date(2026, 12, 10)))
        db.session.commit()
    assert tick(app, jobs.deadline_warnings, at(date(2026, 12, 9)))["deadline_warnings"] == 0


# --- delivery scheduled ----------------------------------------------------------------------------


def test_a_scheduled_delivery_is_announced_once(app, client, make, field, world):
    from tests.field_api.delivery.test_deliveries import issue_permit

    _, approved = issue_permit(field, world, mobile())
    day = local_now().date() + timedelta(days=1)
    resp = client.post(
        "/api/v1/deliveries",
        json={
            "permit_id": approved["permit_id"],
            "day": day.isoformat(),
            "window_start": "14:00",
            "window_end": "17:00",
        },
        headers=make.auth(world.staff[0]),
    )
    assert resp.status_code == 201, resp.json
    assert tick(app, jobs.delivery_notices, utcnow()) == {"delivery_notices": 1}
    assert tick(app, jobs.delivery_notices, utcnow()) == {"delivery_notices": 0}
    [row] = notices(app, "delivery_scheduled")
    assert row.dedupe_key == f"delivery:{resp.json['id']}"
    assert row.params == {
        "station": "测试派出所",
        "number": approved["permit_number"],
        "day": day.isoformat(),
        "start": "14:00",
        "end": "17:00",
    }


def test_decision_and_permit_ready_are_queued_by_the_decision_not_by_a_job(app, field, world):
    """Already sent when they happen (field_api/applications.py); no job doubles them."""
    from tests.field_api.delivery.test_deliveries import issue_permit

    issue_permit(field, world, mobile())
    before = [r.dedupe_key for r in notices(app)]
    assert any(k.startswith("permit-ready:") for k in before)
    for fn in (maturity.run, jobs.delivery_notices, jobs.materials_reminders, jobs.deadline_warnings):
        tick(app, fn, utcnow())
    after = [r.dedupe_key for r in notices(app)]
    assert [k for k in after if k.startswith(("permit-ready:", "application-decided:"))] == [
        k for k in before if k.startswith(("permit-ready:", "application-decided:"))
    ]
