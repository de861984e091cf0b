"""``/m/``: the citizens' pages. The kernel's security headers (CSP: this host only, no inline
script or style) and the vendored stylesheet; Chinese first."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, render_template, send_from_directory

from app.auth.permissions import public
from app.org.scoping import public_directory
from app.web.security import secure_page

STATIC = Path(__file__).resolve().parent / "static"

blp = Blueprint("citizen_pages", __name__, url_prefix="/m", template_folder="templates")
blp.after_request(secure_page)


@blp.route("/static/<path:filename>")
@public
def static(filename: str) -> Response:
    """The H5's own stylesheet (the vendored Pico and htmx come from the kernel's static files)."""
    return send_from_directory(STATIC, filename, max_age=3600)


@blp.route("/")
@public
def directory() -> str:
    """Find the service: stations, their areas, and what to have ready for the visit."""
    return render_template("citizen/directory.html", listing=public_directory())


@blp.route("", strict_slashes=False)
@public
def root() -> Response:
    return Response(status=308, headers={"Location": "/m/"})
