"""The daily maturity list. Its routes come after delivery's on the field blueprint, where the API
document has always listed them."""

from __future__ import annotations

from app.auth.permissions import current_actor, requires
from app.schemas import paginate
from app.workdays import local_now
from field_api.blueprint import blp
from field_api.residency.maturity import daily_list
from field_api.residency.schemas import MaturityArgs, MaturityOut


@blp.route("/maturities", methods=["GET"])
@requires("maturity.read")
@blp.arguments(MaturityArgs, location="query")
@blp.response(200, MaturityOut(many=True))
@blp.paginate(max_page_size=500)
def list_maturities(args, pagination_parameters):
    """The daily list: residents whose six months of residence matured that day, by area"""
    day = args["day"] or local_now().date()
    return paginate(daily_list(current_actor(), day, args["area_id"]), pagination_parameters)
