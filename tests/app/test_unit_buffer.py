"""A unit's log (``app.unit_buffer.UnitLog``): what it holds is what the unit's transaction holds,
savepoints that roll back taking their notes with them, and nothing of it outlives the unit."""

from __future__ import annotations

import pytest

from app import unit_of_work
from app.extensions import db
from app.unit_buffer import UnitLog

log = UnitLog("tests.noted")


class Refused(Exception):
    pass


def test_a_rolled_back_savepoint_drops_what_it_noted(app):
    def work():
        log.note("kept")
        assert log.holds("kept")  # the index is built here, before the savepoint
        with pytest.raises(Refused), db.session.begin_nested():
            log.note("dropped")
            assert log.holds("dropped")
            raise Refused
        assert not log.holds("dropped")
        log.note("after")  # grown back past where the index stood: nothing stale comes back
        log.note("again")
        assert log.holds("kept") and log.holds("after") and log.holds("again")
        assert not log.holds("dropped")
        with db.session.begin_nested():
            log.note("released")
        assert log.holds("released")

    with app.app_context():
        unit_of_work.unit(work)


def test_a_log_ends_with_its_unit(app):
    with app.app_context():
        unit_of_work.unit(lambda: log.note("first unit"))
        assert unit_of_work.unit(lambda: log.holds("first unit")) is False
