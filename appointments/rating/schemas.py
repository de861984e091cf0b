from __future__ import annotations

from marshmallow import fields, validate

from app.schemas import In, JsonInteger, Out
from appointments.rating.models import COMMENT_MAX, MAX_STARS, MIN_STARS


class RatingIn(In):
    stars = JsonInteger(required=True, validate=validate.Range(min=MIN_STARS, max=MAX_STARS))
    comment = fields.String(load_default="", validate=validate.Length(max=COMMENT_MAX))


class RatingArgs(In):
    station_id = fields.UUID()
    officer_id = fields.UUID()
    from_ = fields.Date(data_key="from", attribute="from", metadata={"description": "rated on or after this local day"})
    to = fields.Date(metadata={"description": "rated on or before this local day"})


class RatingOut(Out):
    id = fields.UUID()
    visit_id = fields.UUID()
    station_id = fields.UUID()
    officer_id = fields.UUID(allow_none=True)
    officer_name = fields.Function(lambda r: (r.officer.display_name or r.officer.username) if r.officer else None)
    visit_day = fields.Function(lambda r: r.visit.day.isoformat())
    stars = fields.Integer()
    comment = fields.String()
    created_at = fields.DateTime()


class StationScoreOut(Out):
    station_id = fields.UUID()
    count = fields.Integer()
    average = fields.Float(allow_none=True)


class OfficerScoreOut(StationScoreOut):
    officer_id = fields.UUID(allow_none=True)
    officer_name = fields.String(allow_none=True)


class RatingSummaryOut(Out):
    count = fields.Integer()
    average = fields.Float(allow_none=True, metadata={"description": "mean stars, 2 decimals; null with none"})
    stations = fields.List(fields.Nested(StationScoreOut))
    officers = fields.List(fields.Nested(OfficerScoreOut))
