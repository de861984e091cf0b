"""好差评 on the console's dashboard: each officer's average stars and count of the ratings given
in the last 90 days, from the same scoped summary the API answers."""

from __future__ import annotations

from datetime import timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from app import clock
from app.web import part, register_panel
from appointments.rating import services as ratings

DAYS = 90


def ratings_by_officer(actor) -> Markup:
    today = clock.today()
    scores = ratings.summary(actor, {"from": today - timedelta(days=DAYS - 1), "to": today})
    rows = [
        [
            line["officer_name"] or _("No officer"),
            Markup('<meter min="0" max="5" low="3" high="4" optimum="5" value="{0}" title="{0}"></meter> {0}').format(
                f"{line['average']:.1f}"
            ),
            line["count"],
        ]
        for line in scores["officers"]
    ]
    columns = [{"label": _("Officer")}, {"label": _("Average stars")}, {"label": _("Ratings"), "num": True}]
    table = part("table", columns=columns, rows=rows, empty=_("No visit has been rated in these days."))
    if not scores["count"]:
        return table
    note = _(
        "%(count)d ratings in %(days)d days, %(average).1f stars on average",
        count=scores["count"],
        days=DAYS,
        average=scores["average"],
    )
    return table + Markup('<p class="note">{}</p>').format(note)


register_panel("ratings", 70, ratings_by_officer, title=_l("Citizens' ratings by officer"), permission="rating.read")
