"""Times in the station's zone, dates as the reader writes them, numbers masked as the API does."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app import pii
from app.web import filters


@pytest.mark.parametrize(
    "accept, day, moment",
    [("zh-CN", "2026年12月4日", "2026年12月5日 07:30"), ("en", "Dec 4, 2026", "Dec 5, 2026 07:30")],
)
def test_dates_and_times_in_the_readers_language_and_the_stations_zone(app, accept, day, moment):
    with app.test_request_context("/console/login", headers={"Accept-Language": accept}):
        from flask import request

        request.blueprint  # noqa: B018
        assert filters.local_date(date(2026, 12, 4)) == day
        # 23:30 UTC is 07:30 the next morning in Beijing: the date follows the zone too
        assert filters.local_datetime(datetime(2026, 12, 4, 23, 30, tzinfo=UTC)) == moment


def test_the_weekday_in_full_form(app):
    with app.test_request_context("/console/login", headers={"Accept-Language": "zh-CN"}):
        assert filters.local_date(date(2026, 12, 4), "full") == "2026年12月4日星期五"


@pytest.mark.parametrize("accept, shown", [("zh-CN", "状态："), ("en", "状态: ")])
def test_a_label_takes_the_readers_colon(app, accept, shown):
    with app.test_request_context("/console/login", headers={"Accept-Language": accept}):
        assert filters.colon("状态") == shown


def test_masks_are_the_apis():
    assert filters.masked_phone("13812345678") == pii.mask_phone("13812345678") == "138****5678"
    identity = "330106199003071236"
    assert filters.masked_identity(identity) == pii.mask_identity(identity)
    assert filters.masked_phone(None) == ""
