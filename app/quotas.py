"""Per-account quotas on what an account may hold open at once: an account, however it was
obtained, cannot fill the tables, the blob store or the SMS budget by repeating a request that
is valid each time on its own."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.errors import Conflict
from app.extensions import db


class QuotaExceeded(Conflict):
    slug, title = "quota-exceeded", "This account holds as many as it may"


def check(query: sa.Select[Any], limit: int, field: str, what: str) -> None:
    """Refuse (409 quota-exceeded, naming ``field``) when ``query`` — a select of the rows the
    account holds — counts ``limit`` or more. Concurrent requests may overshoot by a few: a
    quota bounds abuse, it is not an invariant."""
    held = db.session.execute(sa.select(sa.func.count()).select_from(query.order_by(None).subquery())).scalar_one()
    if held >= limit:
        raise QuotaExceeded(
            f"this account already holds {held} {what} (at most {limit}); finish or cancel some first",
            errors={field: [f"at most {limit} {what}"]},
            limit=limit,
        )
