"""``python -m compose.catalogue update|compile``: the translation catalogue's upkeep
(``app.web.catalogue``) over the composed app, so every feature's problem titles are collected."""

from __future__ import annotations

import sys

from app.config import TestConfig
from app.web.catalogue import main
from compose import create_app

if __name__ == "__main__":
    create_app(TestConfig({"DOORSTEP_DATABASE_URL": "sqlite://"}))  # imports every feature's errors
    main(sys.argv)
