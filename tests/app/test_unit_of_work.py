"""The unit of work: commits what its work flushed when the work returns, nothing when it raises."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app import unit_of_work
from app.db import sqlite_begin_mode as db_begin_mode
from app.extensions import db
from app.org.models import Station
from tests.locks import transactions


def _codes(app) -> list[str]:
    with app.app_context():
        return sorted(db.session.execute(sa.select(Station.code)).scalars())


def _add(code: str) -> None:
    db.session.add(Station(code=code, name=code))
    db.session.flush()


def test_a_unit_that_returns_is_committed(app):
    with app.app_context():
        assert unit_of_work.unit(lambda: _add("UOW1") or "done") == "done"
    assert "UOW1" in _codes(app)


def test_a_unit_that_raises_leaves_nothing(app):
    def work():
        _add("UOW2")
        raise ValueError("refused")

    with app.app_context(), pytest.raises(ValueError):
        unit_of_work.unit(work)
    assert "UOW2" not in _codes(app)


def test_commit_now_keeps_what_came_before_a_failure(app):
    def work():
        _add("UOW3")
        unit_of_work.commit_now("kept even if the rest fails")
        _add("UOW4")
        raise ValueError("refused")

    with app.app_context(), pytest.raises(ValueError):
        unit_of_work.unit(work)
    codes = _codes(app)
    assert "UOW3" in codes and "UOW4" not in codes


def test_commit_now_refuses_inside_a_savepoint(app):
    """It would commit the enclosing unit's other work (the other mutations of a push) with it."""
    with app.app_context():
        with db.session.begin_nested(), pytest.raises(RuntimeError):
            unit_of_work.commit_now("inside a mutation")
        db.session.rollback()


def test_on_commit_runs_after_the_commit_and_never_after_a_rollback(app):
    seen: list[str] = []

    def committed():
        unit_of_work.on_commit(lambda: seen.append("committed"))
        _add("UOW5")

    def failed():
        unit_of_work.on_commit(lambda: seen.append("failed"))
        raise ValueError("refused")

    with app.app_context():
        unit_of_work.unit(committed)
        with pytest.raises(ValueError):
            unit_of_work.unit(failed)
        unit_of_work.unit(lambda: None)
    assert seen == ["committed"]


def test_a_cli_command_is_one_unit(app):
    @unit_of_work.in_unit
    def command(code: str) -> str:
        _add(code)
        return code

    with app.app_context():
        assert command("UOW6") == "UOW6"
    assert "UOW6" in _codes(app)


def _deferred():
    """A unit that reads first, as a view marked ``reads_first`` begins on SQLite."""
    return db_begin_mode.set("DEFERRED")


def test_writing_ends_the_reads_without_committing_the_unit(app):
    """The read transaction ends (on SQLite the write lock is taken for what follows), but the
    unit is still one: a transient failure after it runs the work again, ``on_commit`` waits for
    the real commit, and what was read is not expired (nothing reloads it lazily later)."""
    runs: list[int] = []
    ran: list[str] = []

    def work():
        runs.append(1)
        station = db.session.execute(sa.select(Station).limit(1)).scalar_one()
        unit_of_work.on_commit(lambda: ran.append("after commit"))
        unit_of_work.writing()
        assert "code" in station.__dict__  # still loaded as read
        assert ran == []
        _add(f"UOWW{len(runs)}")
        if len(runs) == 1:
            raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))
        return station.code

    with app.app_context():
        _add("UOWR")
        db.session.commit()
        token = _deferred()
        try:
            with transactions(app) as seen:
                unit_of_work.run(work)
        finally:
            db_begin_mode.reset(token)
        sqlite = db.engine.dialect.name == "sqlite"
    assert len(runs) == 2 and ran == ["after commit"]
    assert "UOWW2" in _codes(app) and "UOWW1" not in _codes(app)
    begins = [s for s in seen if s.startswith("BEGIN")]
    if sqlite:  # each run: a read, then the write (the second run began deferred again)
        assert begins == ["BEGIN DEFERRED", "BEGIN IMMEDIATE"] * 2


def test_between_transactions_will_not_end_a_unit_that_wrote(app):
    """Ending it would commit half the unit: the slow work then runs inside, and the log says so."""
    with app.app_context():
        _add("UOWB")
        unit_of_work.between_transactions("hashing a password")
        assert db.session().in_transaction()
        db.session.rollback()
    assert "UOWB" not in _codes(app)
    with app.app_context():
        db.session.execute(sa.select(Station.code).limit(1))
        unit_of_work.between_transactions("hashing a password")
        assert not db.session().in_transaction()
