"""The one place that says which visit transitions exist.

requested → assigned → en_route → completed | not_home | cancelled, plus rescheduled (moved to
another window, waiting to be dispatched again). Reassigning is assigned → assigned.
"""

from __future__ import annotations

from app.errors import Conflict
from doorstep_protocol.vocabulary import OUTCOMES as OUTCOMES  # re-exported: shared with tablets

TRANSITIONS: dict[str, frozenset[str]] = {
    "requested": frozenset({"assigned", "cancelled", "rescheduled"}),
    "assigned": frozenset({"assigned", "requested", "en_route", "completed", "not_home", "cancelled", "rescheduled"}),
    "en_route": frozenset({"assigned", "requested", "completed", "not_home", "cancelled", "rescheduled"}),
    "rescheduled": frozenset({"assigned", "cancelled", "rescheduled"}),
    "not_home": frozenset({"rescheduled", "cancelled"}),
    "completed": frozenset(),
    "cancelled": frozenset(),
}
OPEN = frozenset({"requested", "assigned", "en_route", "rescheduled"})


class InvalidTransition(Conflict):
    slug, title = "invalid-transition", "Not possible in the current state"


def check(current: str, target: str) -> None:
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(
            f"a visit that is {current} cannot become {target}", current_status=current, requested_status=target
        )
