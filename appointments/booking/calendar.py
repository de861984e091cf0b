"""A booking as an iCalendar file (RFC 5545), for a citizen's phone calendar.

Written by hand rather than with a library: one VEVENT with its VTIMEZONE is a few dozen lines,
and the rules that matter are few — CRLF line ends, lines folded at 75 octets without splitting a
character, TEXT values escaped, local times with the ``TZID`` of the zone the windows are in
(``app.workdays.LOCAL_TZ``) and a VTIMEZONE that defines it. ``UID`` is the booking's id, so a
reschedule imported again replaces the event (its ``SEQUENCE`` is the visit's version) rather than
adding a second one, and a cancelled booking's file says ``STATUS:CANCELLED``."""

from __future__ import annotations

from datetime import UTC, datetime

from app import clock, workdays
from appointments.booking.models import Booking

PRODID = "-//Doorstep//Home visits//ZH"
FOLD_AT = 75  # octets, not counting the CRLF


def escape_text(value: str) -> str:
    """TEXT per RFC 5545 3.3.11: backslash, semicolon, comma and line breaks are escaped."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\r", "\\n")
        .replace("\n", "\\n")
    )


def fold(line: str) -> str:
    """Split a content line into lines of at most 75 octets, each continuation starting with a
    space (RFC 5545 3.1); a UTF-8 character is never cut in two."""
    out: list[str] = []
    current: list[str] = []
    size = 0
    limit = FOLD_AT
    for char in line:
        width = len(char.encode())
        if size + width > limit:
            out.append("".join(current))
            current, size, limit = [], 0, FOLD_AT - 1  # the leading space counts
        current.append(char)
        size += width
    out.append("".join(current))
    return "\r\n ".join(out)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _local(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S")


def _offset(moment: datetime) -> str:
    minutes = int(moment.utcoffset().total_seconds() // 60)  # type: ignore[union-attr]
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def _timezone(start: datetime) -> list[str]:
    """The zone as one STANDARD rule at the event's offset: exact for a zone without daylight
    saving (Asia/Shanghai since 1991), which is what the visit windows are defined in."""
    offset = _offset(start)
    return [
        "BEGIN:VTIMEZONE",
        f"TZID:{workdays.LOCAL_TZ.key}",
        "BEGIN:STANDARD",
        "DTSTART:19700101T000000",
        f"TZOFFSETFROM:{offset}",
        f"TZOFFSETTO:{offset}",
        f"TZNAME:{escape_text(start.tzname() or offset)}",
        "END:STANDARD",
        "END:VTIMEZONE",
    ]


def booking_event(booking: Booking, *, summary: str, description: str, domain: str) -> str:
    """The booking's visit window as one VEVENT; ``summary`` and ``description`` come in the
    reader's language from the page."""
    start = workdays.local_datetime(booking.day, booking.window_start)
    end = workdays.local_datetime(booking.day, booking.window_end)
    tzid = workdays.LOCAL_TZ.key
    version = booking.visit.version if booking.visit is not None else 1
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        *_timezone(start),
        "BEGIN:VEVENT",
        f"UID:booking-{booking.id}@{domain}",
        f"DTSTAMP:{_utc(clock.now())}",
        f"DTSTART;TZID={tzid}:{_local(start)}",
        f"DTEND;TZID={tzid}:{_local(end)}",
        f"SEQUENCE:{max(0, version - 1)}",
        f"STATUS:{'CANCELLED' if booking.status == 'cancelled' else 'CONFIRMED'}",
        f"SUMMARY:{escape_text(summary)}",
        f"DESCRIPTION:{escape_text(description)}",
        f"LOCATION:{escape_text(booking.address)}",
        "TRANSP:OPAQUE",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "".join(fold(line) + "\r\n" for line in lines)
