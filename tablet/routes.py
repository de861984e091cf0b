"""``/tablet/``: the shell, the manifest and the service worker, with a strict CSP.

The service worker's cache is named after a digest of every file it caches, so a deploy that
changes any of them installs a new worker and drops the old cache; one that changes nothing keeps
the tablet's cache as it is."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

from flask import Blueprint, Response, redirect, send_from_directory, url_for
from werkzeug.wrappers import Response as BaseResponse

from app.auth.permissions import public
from app.web.i18n import MESSAGES_LOCALE, catalogue, compiled_catalogue  # the officer reads Chinese

STATIC = Path(__file__).resolve().parent / "static"
SHELL = STATIC / "index.html"


blp = Blueprint("tablet", __name__, url_prefix="/tablet")

# This host only, no inline script or style. blob: images are the officer's own photos before they
# are uploaded; data: images are the receipt's QR code.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


@cache
def assets() -> tuple[list[str], str]:
    """Every URL the service worker caches (the shell first) and a digest of their bytes."""
    digest = hashlib.sha256()
    urls = ["/tablet/", "/tablet/manifest.webmanifest", "/tablet/messages.json"]
    digest.update(SHELL.read_bytes())
    digest.update(compiled_catalogue(MESSAGES_LOCALE).read_bytes())
    for path in sorted(STATIC.rglob("*")):
        if path.is_file() and path != SHELL and path.name not in ("LICENSE", "package.json"):
            rel = path.relative_to(STATIC).as_posix()
            urls.append(f"/tablet/static/{rel}")
            digest.update(rel.encode() + b"\0" + path.read_bytes())
    return urls, digest.hexdigest()[:16]


def _secured(resp: Response, *, cache_control: str = "no-cache") -> Response:
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Referrer-Policy"] = "same-origin"
    resp.headers["Cache-Control"] = cache_control
    return resp


@blp.after_request
def _headers(resp: Response) -> Response:
    return _secured(resp, cache_control=resp.headers.get("Cache-Control") or "no-cache")


@blp.route("", strict_slashes=False)
@public
def root() -> BaseResponse:
    return redirect(url_for("tablet.shell"), 308)  # the service worker's scope is /tablet/


@blp.route("/")
@public
def shell() -> Response:
    """The one page: screens are drawn by the modules from the local store."""
    return Response(SHELL.read_bytes(), mimetype="text/html")


@blp.route("/static/<path:filename>")
@public
def static(filename: str) -> Response:
    """The modules, styles, icons and vendored files, whole (no conditional requests): the service
    worker fetches them once per deploy and serves them from its cache."""
    return send_from_directory(STATIC, filename, max_age=0, conditional=False)


@blp.route("/manifest.webmanifest")
@public
def manifest() -> Response:
    body = {
        "name": "户籍民警平板",
        "short_name": "民警平板",
        "description": "上门走访、居住登记、证件送达，离线可用",
        "lang": "zh-CN",
        "start_url": "/tablet/",
        "scope": "/tablet/",
        "display": "standalone",
        "orientation": "any",
        "background_color": "#ffffff",
        "theme_color": "#164078",
        "icons": [
            {"src": "/tablet/static/icons/icon-192.png", "sizes": "192x192", "type": "image/png", "purpose": "any"},
            {"src": "/tablet/static/icons/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "any"},
        ],
    }
    return Response(json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json")


@blp.route("/messages.json")
@public
def messages() -> Response:
    """The server's texts in Chinese, keyed by the English the API sends in ``errors``: the tablet
    shows a refused mutation's reasons from these, offline too, so it says what the console says
    and no second list of reasons drifts from the catalogue."""
    body = json.dumps(catalogue(MESSAGES_LOCALE), ensure_ascii=False, sort_keys=True)
    return Response(body, mimetype="application/json")


@blp.route("/sw.js")
@public
def service_worker() -> Response:
    """The worker with its cache name and file list written in (it has no other way to know them)."""
    urls, version = assets()
    head = f"const VERSION = {json.dumps(version)};\nconst ASSETS = {json.dumps(urls)};\n"
    body = head + (STATIC.parent / "sw.js").read_text(encoding="utf-8")
    resp = Response(body, mimetype="text/javascript")
    resp.headers["Service-Worker-Allowed"] = "/tablet/"
    return resp
