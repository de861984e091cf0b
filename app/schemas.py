"""Schema building blocks shared by every feature package."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import flask
import flask_smorest
import flask_smorest.pagination
import marshmallow as ma
import sqlalchemy as sa
from apispec import APISpec
from flask import Flask, Response, request
from marshmallow import fields, validate
from webargs.flaskparser import FlaskParser
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import UnsupportedMediaType
from werkzeug.routing import Rule

from app import fastdump
from app.errors import Unprocessable, problem_response
from app.extensions import db
from app.openapi import complete_operation

T = TypeVar("T")


class In(ma.Schema):
    """Input schemas refuse unknown fields: a field the caller may not set is a 422, never ignored."""

    class Meta:
        unknown = ma.RAISE


class Out(ma.Schema):
    """Output schemas dump through ``app.fastdump``: the same dict as marshmallow's, computed
    without its per-field calls (a response and an audit snapshot on every write)."""

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        dump_one = self.__dict__.get("_fast_dump", _UNPLANNED)
        if dump_one is _UNPLANNED:
            dump_one = self.__dict__["_fast_dump"] = fastdump.plan(self)
        if dump_one is None or obj is None:
            return super().dump(obj, many=many)
        if self.many if many is None else many:
            return [dump_one(each) for each in obj]
        return dump_one(obj)


_UNPLANNED = object()


class LocalTime(fields.Time):
    """A wall-clock time in Asia/Shanghai, as people say it ("09:00"). An offset would make it
    another moment than the one meant, so one is refused rather than silently dropped."""

    # marshmallow declares this class attribute; its type is marshmallow's.
    default_error_messages = {"offset": "must be a local time without a UTC offset, like 09:00"}  # noqa: RUF012
    PATTERN = r"^[0-9]{2}:[0-9]{2}(:[0-9]{2})?$"  # simple enough for generators; the parser checks ranges

    def __init__(self, **kwargs: Any) -> None:
        kwargs["metadata"] = {"pattern": self.PATTERN, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> dt.time:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        if parsed.tzinfo is not None:
            raise self.make_error("offset")
        return parsed


MAX_BIGINT = 2**63 - 1  # the largest id a BIGINT column holds; above it is a 422, not a driver error


def text(max_len: int, *, min_len: int = 1, **kw: Any) -> fields.String:
    return fields.String(validate=validate.Length(min=min_len, max=max_len), **kw)


class JsonBoolean(fields.Boolean):
    """A body's ``true`` or ``false``, nothing else: JSON has a boolean, so 0, 1 or "yes" is a
    client's mistake, said as a 422 (a query string, all text, keeps the lenient field)."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> bool:
        if type(value) is not bool:
            raise self.make_error("invalid")
        return value


class JsonInteger(fields.Integer):
    """A body's whole number as JSON writes it: ``2.5``, ``1e-42``, ``"3"`` and ``true`` are a
    client's mistake, said as a 422 rather than truncated or coerced into a valid-looking value."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class TimelineOut(Out):
    """One step of a citizen-facing timeline (a booking's, an application's)."""

    at = fields.DateTime()
    action = fields.String()
    status = fields.String()
    detail = fields.Dict()


def paginate(query: sa.Select[T], pagination_parameters: flask_smorest.pagination.PaginationParameters) -> Sequence[T]:
    """Run a scoped select for one page and tell flask-smorest the total for ``X-Pagination``."""
    total = db.session.execute(sa.select(sa.func.count()).select_from(query.order_by(None).subquery())).scalar_one()
    pagination_parameters.item_count = total
    return (
        db.session.execute(query.limit(pagination_parameters.page_size).offset(pagination_parameters.first_item))
        .scalars()
        .all()
    )


PAGINATION_KEYS = ("page", "page_size")
# Past this page an OFFSET overflows the database's 64-bit integer (a 500); no list is this long.
MAX_PAGE = 1_000_000


def _pagination_schema(def_page: int, def_page_size: int, def_max_page_size: int) -> type[ma.Schema]:
    """flask-smorest's page parameters with a ceiling on ``page``: an absurd page number is a 422
    naming ``page``, not a database error."""

    class PaginationParametersSchema(ma.Schema):
        class Meta:
            unknown = ma.EXCLUDE

        page = fields.Integer(load_default=def_page, validate=validate.Range(min=1, max=MAX_PAGE))
        page_size = fields.Integer(load_default=def_page_size, validate=validate.Range(min=1, max=def_max_page_size))

        @ma.post_load
        def make_paginator(self, data: dict[str, int], **kwargs: Any) -> flask_smorest.pagination.PaginationParameters:
            return flask_smorest.pagination.PaginationParameters(**data)

    return PaginationParametersSchema


flask_smorest.pagination._pagination_parameters_schema_factory = _pagination_schema


class StrictParser(FlaskParser):
    """Unknown query parameters are refused like unknown body fields: a misspelt filter must
    not silently return everything. ``page``/``page_size`` belong to the pagination parser."""

    # webargs declares this class attribute; its type is webargs'.
    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": ma.RAISE}  # noqa: RUF012

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._schemas: dict[type[ma.Schema], ma.Schema] = {}

    def _get_schema(self, argmap: Any, req: flask.Request) -> ma.Schema:
        """flask-smorest hands webargs the schema class, and webargs builds an instance of it for
        every request — copying each declared field, ~2% of a booking. A marshmallow 4 schema keeps
        nothing between loads (no context; errors live in the call), so one instance of each
        class serves every request, as one instance of each output schema already does."""
        if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
            schema = self._schemas.get(argmap)
            if schema is None:
                schema = self._schemas[argmap] = argmap()
            return schema
        return super()._get_schema(argmap, req)

    def _raw_load_json(self, req: flask.Request) -> Any:
        """A body sent as anything but JSON is a 415, not a misleading 'every field missing'; a
        PATCH without one changes nothing and is a client's mistake, said as a 422 naming it."""
        raw = req.get_data(cache=True)
        if raw and not req.is_json:
            raise UnsupportedMediaType("send the body as application/json")
        if not raw and req.method == "PATCH":
            raise Unprocessable(
                "body: required: the fields to change, as a JSON object",
                errors={"body": ["required: the fields to change"]},
            )
        return super()._raw_load_json(req)

    def load_querystring(self, req: flask.Request, schema: ma.Schema) -> MultiDictProxy:
        args = MultiDict((k, v) for k, v in req.args.items(multi=True) if k not in PAGINATION_KEYS)
        return MultiDictProxy(args, schema)


class _CompletingSpec:
    """The apispec object a blueprint documents its views into, with each operation completed
    (operationId, security, error responses, headers) from its view before it is added."""

    def __init__(self, spec: APISpec, app: Flask, blueprint_name: str) -> None:
        self._spec, self._app, self._name = spec, app, blueprint_name

    def __getattr__(self, name: str) -> Any:
        return getattr(self._spec, name)

    def path(self, *, rule: Rule, operations: dict[str, Any], parameters: list[dict[str, Any]]) -> APISpec:
        view = self._app.view_functions[rule.endpoint]
        for method, operation in operations.items():
            complete_operation(operation, method=method, view=view, rule=rule)
        return self._spec.path(rule=rule, operations=operations, parameters=parameters)


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = StrictParser()

    def register_views_in_doc(
        self, api: flask_smorest.Api, app: Flask, spec: APISpec, *, name: str, parameters: list[Any]
    ) -> None:
        super().register_views_in_doc(api, app, _CompletingSpec(spec, app, name), name=name, parameters=parameters)


BODY_LOCATIONS = (None, "json", "form", "files")


def _takes_body(view: Callable[..., object]) -> bool:
    doc = getattr(view, "_apidoc", None)
    if doc is None:
        return True  # not an API route (pages, metrics): its own code decides
    if any(a.get("location") in BODY_LOCATIONS for a in doc.get("arguments", {}).get("parameters", [])):
        return True
    return "requestBody" in doc.get("manual_doc", {})


def refuse_unexpected_bodies(app: Flask) -> None:
    """A body sent to a route that takes none is a 400, not ignored: a client that thinks it sent
    a note with "accept" or a reason with "start" learns at once that nothing read it."""
    takes: dict[str, bool] = {}

    @app.before_request
    def _refuse_body() -> Response | None:
        if request.method not in ("POST", "PUT", "PATCH", "DELETE") or request.endpoint is None:
            return None
        if not (request.content_length or request.headers.get("Transfer-Encoding")):
            return None
        if request.endpoint not in takes:
            takes[request.endpoint] = _takes_body(app.view_functions[request.endpoint])
        if takes[request.endpoint]:
            return None
        return problem_response(
            400,
            "unexpected-body",
            "This request takes no body",
            "this route takes no body; send the request without one",
            {"body": ["this route takes no body"]},
        )
