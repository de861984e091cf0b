"""The staff console's kernel: base templates, the cookie session and CSRF, translations, template
filters, vendored static files, and the registries (dashboard panels, navigation) through which
features add their pages. It imports no feature package; features import it."""

from __future__ import annotations

from flask import Blueprint, Flask

from app.web.nav import register_nav
from app.web.panels import part, register_panel

# The features' entry points.
__all__ = ["init_app", "page_blueprint", "part", "register_nav", "register_panel"]


def page_blueprint(name: str, import_name: str, url_prefix: str) -> Blueprint:
    """A feature's console pages (see ``app.web.views.page_blueprint``)."""
    # deferred: views imports this package's modules, so the package cannot import it at load time
    from app.web import views

    return views.page_blueprint(name, import_name, url_prefix)


def init_app(app: Flask) -> None:
    # deferred, as above: the page modules import this package first
    from app.web import filters, i18n
    from app.web.views import blp

    i18n.init_app(app)
    filters.init_app(app)
    app.register_blueprint(blp)
