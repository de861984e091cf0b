"""好差评 in the API: a citizen rates a completed visit of their own; staff read their station's."""

from __future__ import annotations

from app.auth.permissions import current_actor, requires
from app.headers import locates
from app.schemas import paginate
from appointments.blueprint import blp
from appointments.rating import services as ratings
from appointments.rating.schemas import RatingArgs, RatingIn, RatingOut, RatingSummaryOut


@blp.route("/visits/<uuid:visit_id>/rating", methods=["POST"])
@requires("rating.create")
@blp.arguments(RatingIn)
@blp.response(201, RatingOut)
@locates("appointments.get_visit_rating", visit_id="visit_id")
def rate_visit(body, visit_id):
    """Rate your completed visit: 1–5 stars and an optional comment, once (409 the second time)"""
    return ratings.rate(current_actor(), visit_id, body["stars"], body["comment"])


@blp.route("/visits/<uuid:visit_id>/rating", methods=["GET"])
@requires("rating.read")
@blp.response(200, RatingOut)
def get_visit_rating(visit_id):
    """A visit's rating: the citizen's own, or one of the station's"""
    return ratings.rating_for(current_actor(), visit_id)


@blp.route("/ratings", methods=["GET"])
@requires("rating.read")
@blp.arguments(RatingArgs, location="query")
@blp.response(200, RatingOut(many=True))
@blp.paginate()
def list_ratings(args, pagination_parameters):
    """Ratings of the station's visits (an admin: all; a citizen: their own), newest first"""
    return paginate(ratings.search(current_actor(), args), pagination_parameters)


@blp.route("/ratings/summary", methods=["GET"])
@requires("rating.read")
@blp.arguments(RatingArgs, location="query")
@blp.response(200, RatingSummaryOut)
def rating_summary(args):
    """Count and average stars per station and per officer, in your scope"""
    return ratings.summary(current_actor(), args)
