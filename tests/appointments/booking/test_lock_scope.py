"""A booking holds the write lock only for its writes, in one write transaction, and nothing is
read back after it commits: validation, scoping and the window's reference data run before the
lock is taken (on SQLite a deferred read transaction; on PostgreSQL the same transaction, whose
reads take no row lock), and the seat is one conditional statement."""

from __future__ import annotations

import pytest

from app.extensions import db
from tests.factories import mobile
from tests.fixtures.appointments import booking_body
from tests.locks import held, transactions


def _book(client, headers, windows, key):
    body = booking_body(windows.area, windows.days[0], windows.morning, caller_name="王先生", caller_phone=mobile())
    return client.post("/api/v1/bookings", json=body, headers={**headers, "Idempotency-Key": key})


@pytest.fixture
def staff_headers(make, world):
    return make.auth(world.staff[0])


def test_a_booking_is_one_write_transaction_and_nothing_after_its_commit(app, client, staff_headers, windows):
    with app.app_context():
        sqlite = db.engine.dialect.name == "sqlite"
    with transactions(app) as seen:
        resp = _book(client, staff_headers, windows, "one-write")
    assert resp.status_code == 201, resp.json
    assert seen[-1] == "commit"  # and the response, rendered after it, read nothing back
    begins = [s for s in seen if s.startswith("BEGIN")]
    writes = [i for i, s in enumerate(seen) if s.split(" ", 1)[0] in ("INSERT", "UPDATE", "DELETE")]
    if sqlite:
        # Reads in a deferred transaction, ended (no write in it) on the same connection, then
        # the write transaction: one transaction of the session's, one commit of the unit.
        assert begins == ["BEGIN DEFERRED", "BEGIN IMMEDIATE"]
        assert seen.count("begin") == 1 and seen.count("commit") == 1
        immediate = seen.index("BEGIN IMMEDIATE")
        assert seen[immediate - 1] == "COMMIT"  # the reads' transaction, ended before the lock
        assert all(i > immediate for i in writes)
        reads = seen[: immediate - 1]
        assert any("FROM window_template" in s for s in reads)  # reference data: read before the lock
        assert any("FROM user_account" in s for s in reads)  # the caller authenticated before it too
    else:
        assert seen.count("begin") == 1 and seen.count("commit") == 1
    seat = [s for s in seen if s.startswith("INSERT INTO slot")]
    assert len(seat) == 1 and "ON CONFLICT" in seat[0] and "RETURNING" in seat[0]
    assert not any(s.startswith("SELECT slot.") for s in seen)  # the seat is not read before it is taken


def test_a_booking_encrypts_and_dumps_before_it_takes_the_write_lock(app, client, staff_headers, windows, monkeypatch):
    """Every booking of every worker waits for SQLite's write lock, so what needs no lock is done
    before it: the phone numbers encrypted (the booking's and the notice's copy, decrypted once),
    the audit snapshot dumped, the notice's row made. Only the statements, the chain and the
    commit hold it."""
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("PostgreSQL has no database-wide write lock: the seat's row lock is the guard")
    from app import pii
    from app.notify import outbox
    from appointments.booking import services

    seen: list[tuple[str, bool]] = []

    def spied(name, real):
        def call(*args, **kwargs):
            seen.append((name, held()["write_lock"]))
            return real(*args, **kwargs)

        return call

    for name in ("encrypt", "decrypt", "blind_index"):
        monkeypatch.setattr(pii, name, spied(name, getattr(pii, name)))
    monkeypatch.setattr(services, "booking_snapshot", spied("snapshot", services.booking_snapshot))
    monkeypatch.setattr(outbox, "outbox_row", spied("notice", outbox.outbox_row))
    resp = _book(client, staff_headers, windows, "ahead")
    assert resp.status_code == 201, resp.json
    assert {name for name, _ in seen} == {"encrypt", "decrypt", "blind_index", "snapshot", "notice"}, seen
    assert [name for name, locked in seen if locked] == [], seen


def test_a_booking_runs_few_statements_once_the_reference_cache_is_warm(app, client, staff_headers, windows):
    """Every statement is the ORM's cost several times over (decision 98): the caller, the retry
    check, the reference versions and the caller's citizen account are read; the seat, the booking,
    its visit and timeline event, the audit chain and the notice are written. The area, its windows
    and exceptions, the calendar and the station's name come from the reference cache, whose
    versions were read before the write section and are not read again inside it."""
    assert _book(client, staff_headers, windows, "warm").status_code == 201
    with app.app_context():
        sqlite = db.engine.dialect.name == "sqlite"
    with transactions(app) as seen:
        resp = _book(client, staff_headers, windows, "counted")
    assert resp.status_code == 201, resp.json
    statements = [s for s in seen if s not in ("begin", "commit", "rollback")]
    # What goes to the database, the commits included. SQLite: BEGIN DEFERRED, 4 reads, the
    # reads' COMMIT, BEGIN IMMEDIATE, 4 writes (no savepoint: the booking's INSERT skips a taken
    # key), 3 of the audit chain, the notice, the commit. PostgreSQL: the same without the BEGIN
    # statements and the reads' COMMIT (one transaction: it waits on row locks, not on the database).
    assert len(statements) + seen.count("commit") == (16 if sqlite else 13), seen
    assert not any(s.startswith("SAVEPOINT") for s in statements), statements
    section = statements[next(i for i, s in enumerate(statements) if s.startswith("INSERT INTO slot")) :]
    assert not any(("FROM reference_version" in s or "FROM station" in s) for s in section), section


def test_the_last_seat_refused_is_slot_full_with_nothing_written(app, client, staff_headers, windows):
    for i in range(3):
        assert _book(client, staff_headers, windows, f"fill-{i}").status_code == 201
    before = _rows(app)
    with transactions(app) as seen:
        resp = _book(client, staff_headers, windows, "one-too-many")
    assert resp.status_code == 409 and resp.json["type"].endswith("/slot-full")
    assert seen[-1] == "rollback"
    assert not any(s.startswith(("INSERT INTO booking", "INSERT INTO notification")) for s in seen)
    # Counted in the tables too: rows of more than one go by COPY on PostgreSQL, which the
    # statement listener does not see.
    assert _rows(app) == before


def _rows(app) -> dict[str, int]:
    from app.audit.models import AuditEvent
    from app.notify.models import Notification
    from appointments.booking.models import Booking
    from appointments.dispatch.models import Visit
    from appointments.timeline import TimelineEvent

    with app.app_context():
        return {
            m.__tablename__: db.session.scalar(db.select(db.func.count()).select_from(m))
            for m in (Booking, Visit, TimelineEvent, Notification, AuditEvent)
        }


def test_a_booking_does_not_read_back_what_it_wrote(app, client, staff_headers, windows):
    """Under the write lock every statement counts: the audit snapshot, the sync feed and the
    response use the booking, its visit and its timeline event as written, not as reloaded."""
    with transactions(app) as seen:
        resp = _book(client, staff_headers, windows, "no-read-back")
    assert resp.status_code == 201, resp.json
    assert resp.json["visit_status"] == "requested" and [e["action"] for e in resp.json["timeline"]] == ["booked"]
    after_insert = seen[next(i for i, s in enumerate(seen) if s.startswith("INSERT INTO booking")) :]
    written = ("SELECT booking.", "SELECT visit.", "SELECT timeline_event.")
    assert [s for s in after_insert if s.startswith(written)] == []
    # The visit is new in this transaction: the change feed has no rows of it to compare with.
    assert not any("FROM sync_record" in s for s in seen)


def test_a_new_visit_nobody_holds_builds_no_feed_document(app, client, staff_headers, windows, monkeypatch):
    """A booking's visit is on no tablet until an officer is assigned (which publishes it): the
    feed neither reads it back nor builds its document at the booking's commit."""
    import dataclasses
    import uuid

    from sync import registry

    built = []
    kind = registry.DOCUMENTS["visit"]

    def spy(visit):
        built.append(visit.id)
        return kind.build(visit)

    monkeypatch.setitem(registry.DOCUMENTS, "visit", dataclasses.replace(kind, build=spy))
    resp = _book(client, staff_headers, windows, "unassigned")
    assert resp.status_code == 201, resp.json
    assert built == []
    with app.app_context():
        visit = db.session.get(registry.DOCUMENTS["visit"].model, uuid.UUID(resp.json["visit_id"]))
        assert visit is not None and visit.officer_id is None
