"""Schema building blocks shared by every feature package."""
from __future__ import annotations

import flask_smorest
import marshmallow as ma
import sqlalchemy as sa
from marshmallow import fields, validate
from webargs.flaskparser import FlaskParser
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import UnsupportedMediaType

from app.extensions import db


class In(ma.Schema):
    """Input schemas refuse unknown fields: a field the caller may not set is a 422, never ignored."""

    class Meta:
        unknown = ma.RAISE


class Out(ma.Schema):
    pass


class WallTime(fields.Time):
    """A time of day on the local wall clock (Asia/Shanghai), as people book and work: "09:00".
    An offset ("09:00:00+08:00") is refused, naming the field, rather than compared later with
    the naive times slots and windows are kept in."""

    default_error_messages = {"offset": "give a local time of day without an offset, such as 09:00"}

    def _deserialize(self, value, attr, data, **kwargs):
        result = super()._deserialize(value, attr, data, **kwargs)
        if result.tzinfo is not None:
            raise self.make_error("offset")
        return result


MAX_BIGINT = 2**63 - 1  # the largest id a BIGINT column holds; above it is a 422, not a driver error


def text(max_len: int, *, min_len: int = 1, **kw):
    return fields.String(validate=validate.Length(min=min_len, max=max_len), **kw)


class TimelineOut(Out):
    """One step of a citizen-facing timeline (a booking's, an application's)."""

    at = fields.DateTime()
    action = fields.String()
    status = fields.String()
    detail = fields.Dict()


def paginate(query, pagination_parameters):
    """Run a scoped select for one page and tell flask-smorest the total for ``X-Pagination``."""
    total = db.session.execute(sa.select(sa.func.count()).select_from(query.order_by(None).subquery())).scalar_one()
    pagination_parameters.item_count = total
    return db.session.execute(
        query.limit(pagination_parameters.page_size).offset(pagination_parameters.first_item)
    ).scalars().all()


PAGINATION_KEYS = ("page", "page_size")


class StrictParser(FlaskParser):
    """Unknown query parameters are refused like unknown body fields: a misspelt filter must
    not silently return everything. ``page``/``page_size`` belong to the pagination parser."""

    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": ma.RAISE}

    def _raw_load_json(self, req):
        """A body sent as anything but JSON is a 415, not a misleading 'every field missing'."""
        if req.get_data(cache=True) and not req.is_json:
            raise UnsupportedMediaType("send the body as application/json")
        return super()._raw_load_json(req)

    def load_querystring(self, req, schema):
        args = MultiDict((k, v) for k, v in req.args.items(multi=True) if k not in PAGINATION_KEYS)
        return MultiDictProxy(args, schema)


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = StrictParser()


BODY_LOCATIONS = (None, "json", "form", "files")


def _takes_body(view) -> bool:
    doc = getattr(view, "_apidoc", None)
    if doc is None:
        return True  # not an API route (pages, metrics): its own code decides
    if any(a.get("location") in BODY_LOCATIONS for a in doc.get("arguments", {}).get("parameters", [])):
        return True
    return "requestBody" in doc.get("manual_doc", {})


def refuse_unexpected_bodies(app) -> None:
    """A body sent to a route that takes none is a 400, not ignored: a client that thinks it sent
    a note with "accept" or a reason with "start" learns at once that nothing read it."""
    from flask import request

    from app.errors import problem_response

    takes = {}

    @app.before_request
    def _refuse_body():
        if request.method not in ("POST", "PUT", "PATCH", "DELETE") or request.endpoint is None:
            return None
        if not (request.content_length or request.headers.get("Transfer-Encoding")):
            return None
        if request.endpoint not in takes:
            takes[request.endpoint] = _takes_body(app.view_functions[request.endpoint])
        if takes[request.endpoint]:
            return None
        return problem_response(400, "unexpected-body", "This request takes no body",
                                "this route takes no body; send the request without one",
                                {"body": ["this route takes no body"]})
