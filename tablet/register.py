"""Plugging the tablet into the app: one blueprint, no API, no database."""

from __future__ import annotations

from flask import Flask

from tablet.routes import blp


def register(app: Flask) -> None:
    app.register_blueprint(blp)
