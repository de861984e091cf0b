"""The security headers every server-rendered page sends (the staff console, the citizens' H5):
this host only, no inline scripts or styles, no framing, no caching of personal pages."""

from __future__ import annotations

from flask import Response

# What a page may load: this host only. Inline scripts and styles are refused, so an injected
# fragment cannot run; htmx is told not to add its indicator <style> (base templates).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def secure_page(resp: Response) -> Response:
    """Set the page headers; a page may already have narrowed its own CSP or framing."""
    resp.headers.setdefault("Content-Security-Policy", CSP)
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers["Referrer-Policy"] = "same-origin"
    resp.headers["Cache-Control"] = "no-store"
    return resp
