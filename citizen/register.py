"""Plugging the citizens' H5 into the app: its pages and its public read-only API."""

from __future__ import annotations

from flask import Flask

from app.extensions import api
from citizen import apply as _apply  # noqa: F401  (its routes join the pages blueprint)
from citizen import booking as _booking  # noqa: F401  (its routes join the pages blueprint)
from citizen import my_bookings as _my_bookings  # noqa: F401
from citizen import progress as _progress  # noqa: F401  (its pages, on the citizens' blueprint)
from citizen import rating  # noqa: F401  (its pages, on the citizens' blueprint)
from citizen import receipts as _receipts  # noqa: F401  (its pages, on the citizens' blueprint)
from citizen.api import blp as directory_api
from citizen.links import blp as links
from citizen.pages import blp as pages


def register(app: Flask) -> None:
    api.register_blueprint(directory_api)
    app.register_blueprint(pages)
    app.register_blueprint(links)
