# The part of flask-smorest's API this project uses, typed. flask-smorest ships no type
# information; without these stubs every route decorator is Any and mypy cannot check a view.
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import flask
from apispec import APISpec

from . import pagination as pagination
from . import utils as utils

_F = TypeVar("_F", bound=Callable[..., Any])

class Blueprint(flask.Blueprint):
    ARGUMENTS_PARSER: Any
    def __init__(self, *args: Any, **kwargs: Any) -> None: ...
    def route(
        self, rule: str, *, parameters: list[Any] | None = None, tags: list[str] | None = None, **options: Any
    ) -> Callable[[_F], _F]: ...
    def arguments(
        self,
        schema: Any,
        *,
        location: str = "json",
        content_type: str | None = None,
        required: bool = True,
        description: str | None = None,
        example: Any = None,
        examples: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Callable[[_F], _F]: ...
    def response(
        self,
        status_code: int | str,
        schema: Any = None,
        *,
        content_type: str | None = None,
        description: str | None = None,
        example: Any = None,
        examples: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> Callable[[_F], _F]: ...
    def alt_response(
        self,
        status_code: int | str,
        response: Any = None,
        *,
        schema: Any = None,
        content_type: str | None = None,
        description: str | None = None,
        example: Any = None,
        examples: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        success: bool = False,
    ) -> Callable[[_F], _F]: ...
    def paginate(
        self,
        pager: Any = None,
        *,
        page: int | None = None,
        page_size: int | None = None,
        max_page_size: int | None = None,
    ) -> Callable[[_F], _F]: ...
    @staticmethod
    def doc(**kwargs: Any) -> Callable[[_F], _F]: ...
    def etag(self, obj: Any) -> Any: ...
    def register_views_in_doc(
        self, api: Api, app: flask.Flask, spec: Any, *, name: str, parameters: list[Any]
    ) -> None: ...

class Api:
    ERROR_SCHEMA: Any
    _app: flask.Flask
    spec: APISpec
    ma_plugin: Any
    def __init__(
        self, app: flask.Flask | None = None, *, spec_kwargs: dict[str, Any] | None = None, config_prefix: str = ""
    ) -> None: ...
    def init_app(self, app: flask.Flask, *, spec_kwargs: dict[str, Any] | None = None) -> None: ...
    def register_blueprint(self, blp: Blueprint, *, parameters: list[Any] | None = None, **options: Any) -> None: ...
    def register_field(self, field: type, *args: Any) -> None: ...
    def register_converter(self, converter: type, func: Callable[..., Any]) -> None: ...
    def _register_responses(self) -> None: ...
    def _register_etag_headers(self) -> None: ...
    def _register_pagination_header(self) -> None: ...

def abort(http_status_code: int, **kwargs: Any) -> Any: ...
