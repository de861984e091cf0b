"""The UTC column type writes what SQLAlchemy's own SQLite DATETIME would, only faster; a Core row
filled from a model's defaults is what the ORM would insert."""

import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import UTCDateTime, Written, connection, table_of, utcnow, with_defaults
from app.extensions import db
from app.refcache import ReferenceVersion
from appointments.booking.models import Booking
from appointments.dispatch.models import Visit
from appointments.timeline import TimelineEvent


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=timezone(timedelta(hours=8))),
        datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_sqlite_text_is_the_dialects_own(value):
    dialect = sqlite.dialect()
    expected = sqlite.DATETIME().bind_processor(dialect)(value.astimezone(UTC).replace(tzinfo=None))
    assert UTCDateTime()._cached_bind_processor(dialect)(value) == expected


def test_naive_times_are_refused():
    with pytest.raises(ValueError):
        UTCDateTime()._cached_bind_processor(sqlite.dialect())(datetime(2026, 1, 2))


# --- a Core row from the model's defaults ------------------------------------------------------


def _orm_and_core_rows(model, values):
    """The row the ORM inserts for ``values`` and the row ``with_defaults`` builds, each read back
    from its own in-memory SQLite table (no foreign keys enforced: the referenced tables are not
    there)."""
    table = table_of(model)
    rows = []
    for via_orm in (True, False):
        engine = sa.create_engine("sqlite://")
        table.create(engine)
        with Session(engine) as session:
            if via_orm:
                session.add(model(**values))
                session.flush()
            else:
                session.execute(table.insert(), [with_defaults(table, values)])
            rows.append(dict(session.execute(sa.select(table)).one()._mapping))
        engine.dispose()
    return rows


def _booking_values():
    return {
        "reference": "7KQ2MX9P",
        "station_id": uuid.uuid4(),
        "area_id": uuid.uuid4(),
        "slot_id": uuid.uuid4(),
        "day": date(2026, 12, 7),
        "window_start": time(9),
        "window_end": time(12),
        "purpose": "registration",
        "channel": "phone",
        "created_by_id": uuid.uuid4(),
        "address": "北山街道12号",
        "contact_name": "李娜",
        "contact_phone_enc": "k1:abc",
        "caller_name": "王先生",
        "idempotency_key": "key-1",
        "request_hash": "0" * 64,
    }


@pytest.mark.parametrize(
    ("model", "values"),
    [
        (Booking, _booking_values()),
        (
            Visit,
            {
                "booking_id": uuid.uuid4(),
                "station_id": uuid.uuid4(),
                "area_id": uuid.uuid4(),
                "day": date(2026, 12, 7),
                "window_start": time(9),
                "window_end": time(12),
                "address": "北山街道12号",
            },
        ),
        (TimelineEvent, {"booking_id": uuid.uuid4(), "action": "booked", "status": "confirmed", "actor_role": "staff"}),
    ],
)
def test_a_row_with_the_models_defaults_is_what_the_orm_inserts(app, model, values, time_machine):
    time_machine.move_to(utcnow(), tick=False)  # the callable time defaults read the same instant
    with app.app_context():
        orm, core = _orm_and_core_rows(model, values)
    if model is TimelineEvent:  # the database numbers it, in both
        assert orm.pop("id") == core.pop("id") == 1
    else:  # a new random id each, by the same default
        assert isinstance(orm.pop("id"), uuid.UUID) and isinstance(core.pop("id"), uuid.UUID)
    assert core == orm


def test_given_values_win_and_an_unknown_column_is_refused():
    table = table_of(Booking)
    row = with_defaults(table, {**_booking_values(), "status": "cancelled", "notes": "gate code 12"})
    assert row["status"] == "cancelled" and row["notes"] == "gate code 12" and row["locale"] == "zh"
    assert row["caller_phone_enc"] is None and isinstance(row["id"], uuid.UUID)
    assert list(row) == [c.key for c in table.columns]  # one order, however the values came
    with pytest.raises(KeyError):
        with_defaults(table, {**_booking_values(), "colour": "blue"})


def test_a_written_row_reads_as_its_orm_object_would():
    row = Written({"id": 1, "status": "confirmed"}, visit=Written({"status": "requested"}))
    assert (row.id, row.status, row.visit.status) == (1, "confirmed", "requested")
    assert getattr(row, "contact_phone", None) is None  # a name the row lacks is no attribute
    assert not hasattr(row, "__getitem__")  # dumped by attribute, as the ORM object is


def test_a_savepoint_whose_first_statement_asks_for_the_connection_is_a_savepoint(app):
    """``app.db.connection()`` hands out the transaction's connection without asking the session,
    except inside a savepoint: there the session's look-up is what emits the SAVEPOINT, and a
    failed statement must undo only the savepoint (on PostgreSQL it aborts the transaction)."""
    table = table_of(ReferenceVersion)
    row = {"kind": "test", "scope": "savepoint", "token": "a"}
    with app.app_context():
        connection().execute(table.insert(), row)
        with pytest.raises(IntegrityError), db.session.begin_nested():
            connection().execute(table.insert(), row)
        assert connection().execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 1
        db.session.rollback()


def test_a_file_database_checkpoints_its_wal_at_the_apps_interval(app):
    """The WAL is folded back every ``WAL_CHECKPOINT_PAGES`` pages, not SQLite's 1,000: at ~30
    pages a booking, the commit that crossed the mark paid a checkpoint every ~33rd booking. The
    lean anchor of bench/api_latency.py runs with the same interval."""
    from app.db import WAL_CHECKPOINT_PAGES
    from bench import lean_anchor

    assert lean_anchor.WAL_CHECKPOINT_PAGES == WAL_CHECKPOINT_PAGES
    with app.app_context():
        if db.engine.dialect.name != "sqlite" or db.engine.url.database in (None, "", ":memory:"):
            pytest.skip("a file SQLite database only")
        assert connection().exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == WAL_CHECKPOINT_PAGES
