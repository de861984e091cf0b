"""The composition root: which features make up Doorstep, in the order they plug into the kernel.

``wsgi`` serves ``create_app()``; the tests, the benches and the tools build their apps here too,
so every app is composed the same way. The kernel (``app``) never imports a feature; this is the
one place that names them all."""

from __future__ import annotations

from flask import Flask

from app import create_app as create_kernel_app
from app.config import Config
from appointments import register as appointments
from citizen import register as citizen
from compose import seed_demo, seed_scale
from field_api import register as field_api
from sync import register as sync
from tablet import register as tablet

# The order the features register: their blueprints appear in the API document in this order.
FEATURES = (appointments, field_api, sync, tablet, citizen, seed_scale, seed_demo)


def create_app(config: Config | None = None) -> Flask:
    return create_kernel_app(config, features=FEATURES)
