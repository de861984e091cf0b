"""The UTC column type writes what SQLAlchemy's own SQLite DATETIME would, only faster."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import sqlite

from app.db import UTCDateTime


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
