"""When a message may go: retry back-off, quiet hours, the resend policy for ``unknown`` rows, and
how many SMS segments a text costs. Pure functions of their arguments (stdlib only), so the
configuration can validate its settings with them at start-up and tests need no database."""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")

# Kinds sent at once by the code that creates them, never by the dispatcher: their secret
# parameter (the OTP code) is not stored, so the outbox could not render them again.
IMMEDIATE_KINDS = frozenset({"otp"})

# Back-off: attempt n waits BASE * 2**(n-1), capped, times a jitter factor in [1 - J, 1 + J).
# With J < 1/3 the ranges of successive attempts do not overlap, so the schedule stays monotonic
# below the cap while retries of many rows still spread out instead of arriving together.
BACKOFF_CAP_SECONDS = 3600
BACKOFF_JITTER = 0.2


def backoff_bounds(attempt: int, base: float) -> tuple[float, float]:
    """The interval the delay after failed attempt ``attempt`` (1-based) is drawn from."""
    delay = min(BACKOFF_CAP_SECONDS, base * 2 ** max(0, attempt - 1))
    return delay * (1 - BACKOFF_JITTER), delay * (1 + BACKOFF_JITTER)


def backoff_seconds(attempt: int, base: float, rng: random.Random | None = None) -> float:
    low, high = backoff_bounds(attempt, base)
    return low + (high - low) * (rng or random).random()


# --- quiet hours ---------------------------------------------------------------------------

_QUIET_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time

    def contains(self, local: time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # the window spans midnight

    def end_after(self, now: datetime) -> datetime | None:
        """When the quiet period ``now`` falls in ends (UTC), or None when ``now`` is not quiet."""
        local = now.astimezone(LOCAL_TZ)
        if not self.contains(local.time().replace(tzinfo=None)):
            return None
        end = datetime.combine(local.date(), self.end, LOCAL_TZ)
        if end <= local:
            end += timedelta(days=1)
        return end.astimezone(UTC)


def parse_quiet_hours(value: str) -> QuietHours | None:
    """``"21:00-08:00"`` (local time, Asia/Shanghai); ``""`` or ``"off"`` means none."""
    value = (value or "").strip()
    if value.lower() in ("", "off", "none"):
        return None
    m = _QUIET_RE.match(value)
    if not m or m.group(1, 2) == m.group(3, 4):
        raise ValueError(f"quiet hours must look like 21:00-08:00, not {value!r}")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    return QuietHours(time(h1, m1), time(h2, m2))


def quiet_hours(value: str) -> str:
    """Setting cast: refuse a malformed value at start-up, keep the text."""
    parse_quiet_hours(value)
    return value


# --- what to do with a row whose send outcome is unknown -----------------------------------


def parse_resend_unknown(value: str) -> int | None:
    """``never`` → None; ``after:<seconds>`` → seconds after the lease expired."""
    value = (value or "never").strip().lower()
    if value == "never":
        return None
    kind, _, seconds = value.partition(":")
    if kind == "after" and seconds.isdigit():
        return int(seconds)
    raise ValueError(f"must be never or after:<seconds>, not {value!r}")


def resend_unknown(value: str) -> str:
    """Setting cast."""
    parse_resend_unknown(value)
    return value


# --- SMS segments --------------------------------------------------------------------------

# GSM 03.38 basic character set, and the extension table whose characters cost two septets.
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in text)


def sms_units(text: str) -> tuple[str, int]:
    """The encoding a phone network uses for ``text`` and its length in that encoding's units."""
    if is_gsm7(text):
        return "gsm7", sum(2 if c in GSM7_EXTENDED else 1 for c in text)
    return "ucs2", len(text.encode("utf-16-le")) // 2


def sms_segments(text: str) -> int:
    """160 septets or 70 UCS-2 units fit one message; longer ones go in parts of 153 / 67."""
    encoding, units = sms_units(text)
    single, part = (160, 153) if encoding == "gsm7" else (70, 67)
    return 1 if units <= single else math.ceil(units / part)
