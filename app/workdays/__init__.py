"""The mainland working calendar: public holidays and adjusted working weekends.

One calendar for every rule that counts days: which days take visits, and the 15-working-day
review deadline. The ``chinesecalendar`` package knows the State Council's published years; staff
add or correct dates in ``calendar_day``, which always wins. For a year neither covers, Monday to
Friday are working days and the answer says the year is unconfirmed.
"""

from app.workdays.services import (
    CALENDAR,
    LOCAL_TZ,
    DayInfo,
    add_working_days,
    day_info,
    days,
    is_workday,
    local_datetime,
    local_now,
    published,
    working_days_until,
)

__all__ = [
    "CALENDAR",
    "LOCAL_TZ",
    "DayInfo",
    "add_working_days",
    "day_info",
    "days",
    "is_workday",
    "local_datetime",
    "local_now",
    "published",
    "working_days_until",
]
