"""The one place that says how a permit application moves.

submitted → accepted (materials may be owed: 容缺) → under_review → approved | rejected;
approved → issued → out_for_delivery → delivered. A submitted or accepted application can also
be rejected (for example when a core material never comes). An accepted application or one under
review can be returned for correction (退回补正) with a reason; the citizen corrects it and
resubmits, and it starts again as submitted."""

from __future__ import annotations

from app.errors import Conflict

TRANSITIONS: dict[str, frozenset[str]] = {
    "submitted": frozenset({"accepted", "rejected"}),
    "accepted": frozenset({"under_review", "rejected", "returned"}),
    "under_review": frozenset({"approved", "rejected", "returned"}),
    "returned": frozenset({"submitted", "rejected"}),
    "approved": frozenset({"issued"}),
    "issued": frozenset({"out_for_delivery"}),
    "out_for_delivery": frozenset({"delivered", "issued"}),
    "rejected": frozenset(),
    "delivered": frozenset(),
}
CLOSED = frozenset({"rejected", "delivered"})


class InvalidTransition(Conflict):
    slug, title = "invalid-transition", "Not possible in the current state"


def check(current: str, target: str) -> None:
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(
            f"an application that is {current} cannot become {target}", current_status=current, requested_status=target
        )
