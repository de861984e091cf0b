"""The console's tablets page (平板): the station's devices with their state, last contact and
clock skew; registering a tablet, whose one-time enrolment code is shown once, in words and as a
QR code; and revoking one (lost: its tokens die at once and the tablet wipes itself at its next
contact; retired: it simply stops). Each action is the API's ``/devices`` twin, same service and
audit event."""

from __future__ import annotations

import uuid

import qrcode
from flask import g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from qrcode.image.svg import SvgPathImage

from app.auth import devices
from app.errors import DomainError
from app.extensions import db
from app.web import page_blueprint, register_nav
from app.web.access import staff_page

pages = page_blueprint("tablets", __name__, "/console/devices")
register_nav("tablets.list_devices", _l("Tablets"), 85, permission="device.read")

STATUS = {
    "pending": (_l("Waiting for its code"), "warn"),
    "active": (_l("In use"), "ok"),
    "lost": (_l("Reported lost"), "bad"),
    "retired": (_l("Retired"), ""),
}


def _qr_svg(text: str) -> str:
    """The code as an SVG QR symbol (one path, crisp at any size; no script, no inline style)."""
    symbol = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    symbol.add_data(text)
    return str(symbol.make_image(image_factory=SvgPathImage).to_string(encoding="unicode"))


def _page(
    *, enrolled: dict[str, object] | None = None, errors: dict[str, str] | None = None, code: int = 200
) -> tuple[str, int]:
    rows = list(db.session.execute(devices.devices_visible_to(g.actor)).scalars())
    return render_template(
        "console/devices/list.html",
        rows=rows,
        statuses=STATUS,
        enrolled=enrolled,
        errors=errors or {},
        can_manage=g.actor.can("device.manage"),
    ), code


@pages.route("/", methods=["GET"])
@staff_page("device.read")
def list_devices() -> ResponseReturnValue:
    return _page()


@pages.route("/", methods=["POST"])
@staff_page("device.manage")
def register() -> ResponseReturnValue:
    """Register a tablet: its code is on this response only (the server keeps just its hash)."""
    label = request.form.get("label", "").strip()
    if not 1 <= len(label) <= 100:
        return _page(errors={"label": _("Name the tablet, e.g. 北山社区-1.")}, code=422)
    try:
        device, one_time = devices.register(g.actor, label)
    except DomainError as exc:
        db.session.rollback()
        return _page(errors={"label": exc.detail}, code=exc.status if exc.status < 500 else 422)
    return _page(enrolled={"device": device, "code": one_time, "qr": _qr_svg(one_time)}, code=201)


@pages.route("/<uuid:device_id>/revoke", methods=["POST"])
@staff_page("device.manage")
def revoke(device_id: uuid.UUID) -> ResponseReturnValue:
    mode = request.form.get("mode", "")
    devices.device_for(g.actor, device_id)  # another station's tablet, or none: not found
    if mode not in ("lost", "retired"):
        return _page(errors={str(device_id): _("Choose: report lost, or retire.")}, code=422)
    try:
        devices.revoke(g.actor, device_id, mode)
    except DomainError as exc:
        if exc.status == 404:
            raise
        db.session.rollback()
        return _page(errors={str(device_id): _("This tablet cannot be revoked again.")}, code=409)
    return redirect(url_for("tablets.list_devices"), code=303)


__all__ = ["pages"]
