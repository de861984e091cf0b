"""Notices queued during a unit of work reach the outbox as the unit commits: all of them, in
order, in one INSERT, with the station read and each phone decrypted once; none when the unit (or
the savepoint they were queued in) rolls back."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app import bulk, pii
from app.extensions import db
from app.notify import outbox
from app.notify.models import Notification
from app.notify.templates import render
from app.org.models import Station
from app.unit_of_work import between_transactions, unit
from tests.queries import statements

PHONES = ("13800138001", "13800138002")


def queue_three(station_id, keys=("a", "b", "c")) -> None:
    enc = [pii.encrypt(pii.PHONE, p) for p in PHONES]
    for i, key in enumerate(keys):
        outbox.queue(
            "visit_cancelled",
            {"reference": f"REF{i}"},
            phone_enc=enc[i % 2],
            station_id=station_id,
            dedupe_key=f"test-queue:{key}",
        )


def queued(app) -> list[Notification]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(Notification)
            .where(Notification.dedupe_key.like("test-queue:%"))
            .order_by(Notification.created_at)
        ).scalars()
        return list(rows)


def test_a_units_notices_are_one_insert_at_commit_with_the_texts_of_old(app, make, monkeypatch):
    station = make.station()
    decrypted = []
    real_decrypt = pii.decrypt
    monkeypatch.setattr(pii, "decrypt", lambda purpose, token: decrypted.append(token) or real_decrypt(purpose, token))
    written = []
    real_insert_rows = bulk.insert_rows
    monkeypatch.setattr(
        bulk,
        "insert_rows",
        lambda table, rows: written.append((table.name, len(rows))) or real_insert_rows(table, rows),
    )
    with app.app_context(), statements(app) as sent:
        unit(lambda: queue_three(station.id))
        sqlite = db.engine.dialect.name == "sqlite"
    assert written == [("notification", 3)]  # one bulk write of the unit's three rows
    inserts = [s for s in sent if s.startswith("INSERT INTO notification")]
    assert len(inserts) == (1 if sqlite else 0)  # PostgreSQL's three go by COPY, which these events do not see
    assert len([s for s in sent if "FROM station" in s]) == 1
    assert len(decrypted) == 2  # one per phone, not one per notice

    rows = queued(app)
    assert [r.dedupe_key for r in rows] == ["test-queue:a", "test-queue:b", "test-queue:c"]
    with app.app_context():
        assert [real_decrypt(pii.PHONE, r.recipient_phone_enc) for r in rows] == [PHONES[0], PHONES[1], PHONES[0]]
        assert [r.recipient_bidx for r in rows] == [pii.blind_index(pii.PHONE, PHONES[i % 2]) for i in range(3)]
    assert {(r.status, r.attempts, r.station_id) for r in rows} == {("pending", 0, station.id)}
    with app.app_context():
        name = db.session.get_one(Station, station.id).name
    assert render(rows[0].template, rows[0].locale, rows[0].params) == (
        f"【{name}】您的预约REF0已取消。如需办理请重新预约。"
    )
    assert list(rows[0].params) == ["station", "reference"]


def test_nothing_is_queued_when_the_unit_rolls_back(app, make):
    station = make.station()

    def fail():
        queue_three(station.id)
        db.session.execute(sa.select(1))
        raise RuntimeError("the change failed")

    with app.app_context(), pytest.raises(RuntimeError):
        unit(fail)
    assert queued(app) == []


def test_a_rolled_back_savepoint_takes_only_its_own_notices(app, make):
    station = make.station()

    def work():
        queue_three(station.id, keys=("kept",))
        with pytest.raises(RuntimeError), db.session.begin_nested():
            queue_three(station.id, keys=("refused", "refused-too"))
            raise RuntimeError("a refused mutation")
        with db.session.begin_nested():
            queue_three(station.id, keys=("applied",))

    with app.app_context():
        unit(work)
    assert [r.dedupe_key for r in queued(app)] == ["test-queue:kept", "test-queue:applied"]


def test_queued_notices_keep_the_unit_open_until_it_commits(app, make):
    """Ending a read-only transaction early (before slow work) must not commit queued notices
    with it: a unit that then fails leaves none."""
    station = make.station()

    def fail_after_slow_work():
        db.session.execute(sa.select(1))
        queue_three(station.id)
        between_transactions("hashing a password")
        raise RuntimeError("the change failed")

    with app.app_context(), pytest.raises(RuntimeError):
        unit(fail_after_slow_work)
    assert queued(app) == []
