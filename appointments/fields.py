"""What the appointments' schemas share: the wall-clock format of a window's bounds."""

from __future__ import annotations

HHMM = "%H:%M"  # fields.Time(format=HHMM)
