"""Template filters: times in the station's zone, dates the way the reader writes them
(2026年12月4日 in Chinese), labels with the reader's colon, and personal numbers masked exactly
as the API masks them."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

from flask import Flask
from flask_babel import format_date, format_decimal, format_percent, format_time, get_locale, to_user_timezone

from app import pii


def local_date(value: date | datetime | None, form: str = "medium") -> str:
    """``medium``: 2026年12月4日 (Dec 4, 2026, short enough for a table column); ``long`` spells
    the English month out; ``full`` adds the weekday."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = _local(value).date()
    return format_date(value, form)


def local_time(value: datetime | time | None) -> str:
    if value is None:
        return ""
    if isinstance(value, time):
        return value.strftime("%H:%M")
    return format_time(value, "HH:mm")


def local_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    return f"{local_date(value)} {local_time(value)}"


def _local(value: datetime) -> datetime:
    return to_user_timezone(value)


def masked_phone(value: str | None) -> str:
    return pii.mask_phone(value) or ""


def masked_identity(value: str | None) -> str:
    return pii.mask_identity(value) or ""


def percent(value: float | None) -> str:
    return "—" if value is None else format_percent(value)


def number(value: float | Decimal) -> str:
    return format_decimal(value)


def colon(label: str) -> str:
    """A label and its colon as the reader writes it: 当前状态： in Chinese (full width, no space),
    "Now: " in English. The colon stays out of the catalogue so one label serves a heading too."""
    locale = get_locale()
    return f"{label}：" if locale is not None and locale.language == "zh" else f"{label}: "


FILTERS = {
    "colon": colon,
    "date": local_date,
    "time": local_time,
    "datetime": local_datetime,
    "masked_phone": masked_phone,
    "masked_identity": masked_identity,
    "percent": percent,
    "number": number,
}


def init_app(app: Flask) -> None:
    app.jinja_env.filters.update(FILTERS)
