"""A prepared statement reads and writes exactly what SQLAlchemy's execution would — the same
values, the same types, the same rows — on the session's transaction, and fails as it would."""

import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.db import UTCDateTime, connection
from app.extensions import db
from app.prepared import Prepared, run_sql
from tests.queries import statements

_META = sa.MetaData()
_THING = sa.Table(
    "prepared_thing",
    _META,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("name", sa.String(40), nullable=False, unique=True),
    sa.Column("at", UTCDateTime, nullable=True),
    sa.Column("day", sa.Date, nullable=True),
    sa.Column("start", sa.Time, nullable=True),
    sa.Column("active", sa.Boolean, nullable=True),
    sa.Column("doc", sa.JSON, nullable=True),
    sa.Column("count", sa.Integer, nullable=False, default=0),
)

_ROWS = [
    {
        "id": uuid.UUID("7c9e6679-7425-40de-944b-e07fc1f90ae7"),
        "name": "北山",
        "at": datetime(2026, 12, 31, 23, 30, 0, 123456, tzinfo=timezone(timedelta(hours=8))),
        "day": date(2027, 2, 28),
        "start": time(8, 30),
        "active": True,
        "doc": {"kty": "EC", "n": [1, 2]},
        "count": 3,
    },
    {
        "id": uuid.uuid4(),
        "name": "南湖",
        "at": None,
        "day": None,
        "start": None,
        "active": False,
        "doc": None,
        "count": 0,
    },
]


@pytest.fixture
def things(app):
    """The scratch table in the test's database, with two rows; inside an app context."""
    with app.app_context():
        _META.create_all(db.engine)
        try:
            db.session.execute(_THING.insert(), _ROWS)
            db.session.commit()
            yield
        finally:
            db.session.rollback()
            _META.drop_all(db.engine)


_BY_NAME = sa.select(_THING).where(_THING.c.name == sa.bindparam("name"))


@pytest.mark.parametrize("name", [r["name"] for r in _ROWS])
def test_a_row_reads_as_sqlalchemy_reads_it(things, name):
    expected = connection().execute(_BY_NAME, {"name": name}).one()
    got = Prepared(_BY_NAME).first({"name": name})
    assert tuple(got) == tuple(expected)
    assert [type(v) for v in got] == [type(v) for v in expected]
    assert got._asdict() == dict(expected._mapping)
    if got.at is not None:
        assert got.at.tzinfo is not None and got.at == _ROWS[0]["at"]


def test_labels_literals_and_a_missing_row(things):
    statement = Prepared(
        sa.select(_THING.c.id.label("thing_id"), (_THING.c.count + 1).label("next"))
        .where(_THING.c.active.is_(True), _THING.c.name != "南湖", _THING.c.day <= sa.bindparam("until"))
        .order_by(_THING.c.name)
    )
    row = statement.first({"until": date(2027, 3, 1)})
    assert (row.thing_id, row.next) == (_ROWS[0]["id"], 4)
    assert statement.first({"until": date(2027, 2, 27)}) is None
    assert statement.scalar({"until": date(2027, 2, 27)}) is None
    assert statement.scalar({"until": date(2027, 3, 1)}) == _ROWS[0]["id"]


def test_an_insert_with_its_columns_returns_and_an_update_counts(things):
    new_id = uuid.uuid4()
    insert = Prepared(_THING.insert().returning(_THING.c.id, _THING.c.at), ("id", "name", "at", "count"))
    at = datetime(2027, 1, 1, 0, 0, tzinfo=UTC)
    row = insert.first({"id": new_id, "name": "东坡", "at": at, "count": 7})
    assert (row.id, row.at) == (new_id, at)
    update = Prepared(
        sa.update(_THING).where(_THING.c.count >= sa.bindparam("least")).values(active=sa.bindparam("now_active"))
    )
    assert update.run({"least": 3, "now_active": False}) == 2
    db.session.commit()
    inactive = db.session.execute(sa.select(_THING.c.name).where(_THING.c.active.is_(False))).scalars()
    assert set(inactive) == {"北山", "南湖", "东坡"}


def test_a_taken_unique_key_raises_sqlalchemys_integrity_error_and_the_unit_rolls_back(things):
    insert = Prepared(_THING.insert(), ("id", "name", "count"))
    insert.run({"id": uuid.uuid4(), "name": "西溪", "count": 0})
    with pytest.raises(IntegrityError):
        insert.run({"id": uuid.uuid4(), "name": "北山", "count": 0})
    db.session.rollback()
    assert db.session.execute(sa.select(sa.func.count()).select_from(_THING)).scalar_one() == len(_ROWS)


def test_a_missing_value_is_refused_before_the_database(things):
    with pytest.raises(sa.exc.ArgumentError, match="name"):
        Prepared(_BY_NAME).all({})


def test_statements_whose_text_depends_on_the_values_are_refused(app):
    with app.app_context():
        in_list = Prepared(sa.select(_THING.c.id).where(_THING.c.name.in_(sa.bindparam("names", expanding=True))))
        with pytest.raises(TypeError, match="names"):
            in_list.all({"names": ["北山"]})


def test_watched_statements_go_through_sqlalchemy_and_read_the_same(app, things):
    quiet = Prepared(_BY_NAME).first({"name": "北山"})
    with statements(app) as sent:
        watched = Prepared(_BY_NAME).first({"name": "北山"})
        run_sql("SELECT 1")
    assert watched == quiet
    assert len(sent) == 2 and "prepared_thing" in sent[0]


def test_driver_text_runs_once_or_per_parameter_set(things):
    mark = "%(name)s" if db.engine.dialect.name == "postgresql" else "?"
    params = [{"name": "北山"}, {"name": "南湖"}] if mark != "?" else [("北山",), ("南湖",)]
    sql = f"UPDATE prepared_thing SET count = count + 10 WHERE name = {mark}"
    assert run_sql(sql, params, many=True) == 2
    assert run_sql(sql, params[0]) == 1
    counts = dict(db.session.execute(sa.select(_THING.c.name, _THING.c.count)).all())
    assert counts == {"北山": 23, "南湖": 10}
