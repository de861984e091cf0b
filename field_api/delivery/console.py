"""The console's delivery receipts (送达回执): the station's recent receipts and a print view of
one, with the countersigned receipt's QR code drawn server-side as inline SVG (the API's own
``render_svg``), so the paper copy can be checked by anyone with ``POST /receipts/verify``."""

from __future__ import annotations

import uuid

from flask import g, render_template
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from app.extensions import db
from app.org.models import Station
from app.web import page_blueprint, register_nav
from app.web.access import staff_page
from field_api.delivery import receipts
from field_api.delivery.models import Receipt
from field_api.delivery.receipt_token import render_svg

pages = page_blueprint("receipts", __name__, "/console/receipts")
register_nav("receipts.recent", _l("Receipts"), 60, permission="receipt.read")

RECENT = 50
RECIPIENT = {"self": _l("The holder"), "proxy": _l("A proxy")}


@pages.route("/", methods=["GET"])
@staff_page("receipt.read")
def recent() -> ResponseReturnValue:
    rows = list(
        db.session.execute(receipts.receipts_visible_to(g.actor).order_by(Receipt.received_at.desc()).limit(RECENT))
        .scalars()
        .unique()
    )
    return render_template("console/receipts/recent.html", rows=rows, recipient_names=RECIPIENT)


@pages.route("/<uuid:receipt_id>/print", methods=["GET"])
@staff_page("receipt.read")
def print_view(receipt_id: uuid.UUID) -> ResponseReturnValue:
    """One page for paper: the permit, who took it and when, and the countersignature's QR."""
    receipt = receipts.receipt_for(g.actor, receipt_id)
    delivery = receipt.delivery
    permit = delivery.permit
    station = db.session.get(Station, delivery.station_id)
    # the SVG is the qrcode library's own output (no script, no style), safe to put in the page
    qr = Markup(render_svg(receipt.countersignature))  # noqa: S704
    return render_template(
        "console/receipts/print.html",
        receipt=receipt,
        delivery=delivery,
        permit=permit,
        station=station,
        qr=qr,
        recipient_names=RECIPIENT,
    )
