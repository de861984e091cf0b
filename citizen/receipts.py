"""Journey 7, the receipt: a logged-in citizen sees the signed delivery receipt of their own permit
with its QR code (the API's ``render_svg`` of the server's countersignature, as the console prints
it), and ``/m/verify`` lets anyone type or paste a receipt's code and see the three facts the
API's ``POST /receipts/verify`` gives: the signatures verify, the server recorded the handover,
the tablet was not revoked before it signed. Both call the API's own functions
(``field_api.delivery.receipts``): the citizen's scope and the verification's rate limit are theirs."""

from __future__ import annotations

import uuid

from flask import g, render_template, request
from markupsafe import Markup
from marshmallow import validate
from werkzeug.wrappers import Response as BaseResponse

from app.auth import services as auth_services
from app.auth.actor import Actor
from app.auth.permissions import public
from app.errors import TooManyRequests
from app.extensions import db
from citizen import public_forms, session
from citizen.pages import blp
from doorstep_protocol.receipts import mask_name
from field_api.delivery import receipts
from field_api.delivery.services import Delivery, Receipt, VerifyIn, render_svg


def _max_length(field: str) -> int:
    """The ``Length(max=…)`` of one of the API's input fields."""
    rule = VerifyIn().fields[field].validate
    if not isinstance(rule, validate.Length) or rule.max is None:
        raise TypeError(f"VerifyIn.{field} has no Length(max=...)")
    return rule.max


MAX_CODE = _max_length("token")  # the API's own limit on what it reads


def _actor() -> Actor:
    return auth_services.actor_of(g.citizen_session.user)


def _recipient(delivery: Delivery) -> str:
    name = delivery.recipient_name or ""
    return mask_name(name) if name.strip() else ""


@blp.route("/receipts")
@public
@session.signed_in
def receipts_list() -> str:
    """The citizen's delivered permits, newest first, each opening onto its receipt."""
    rows = (
        db.session.execute(receipts.receipts_visible_to(_actor()).order_by(Receipt.received_at.desc()))
        .scalars()
        .unique()
        .all()
    )
    return render_template("citizen/receipt_list.html", rows=rows)


@blp.route("/receipts/<uuid:receipt_id>")
@public
@session.signed_in
def receipt_page(receipt_id: uuid.UUID) -> str:
    """One receipt: the permit, when and to whom it was handed, the QR and its code to copy."""
    receipt = receipts.receipt_for(_actor(), receipt_id)
    # the SVG is the qrcode library's own output (no script, no style), safe to put in the page
    qr = Markup(render_svg(receipt.countersignature))  # noqa: S704
    return render_template(
        "citizen/receipt.html",
        receipt=receipt,
        delivery=receipt.delivery,
        permit=receipt.delivery.permit,
        recipient=_recipient(receipt.delivery),
        qr=qr,
    )


@blp.route("/verify")
@public
def verify() -> BaseResponse:
    """Check a receipt: a box to type or paste its code into."""
    return public_forms.render("citizen/verify.html")


@blp.route("/verify", methods=["POST"])
@public
def verify_submit() -> BaseResponse:
    """The API's verification of the code, shown as three facts and a verdict in words."""
    code = "".join((request.form.get("code") or "").split())  # a pasted code may wrap over lines
    if not code:
        return public_forms.render("citizen/verify.html", status=422, error="empty")
    if len(code) > MAX_CODE:
        return public_forms.render("citizen/verify.html", status=422, error="long", code="")
    try:
        verdict = receipts.verify_public(code)
    except TooManyRequests as exc:
        minutes = max(1, -(-int(exc.extra.get("retry_after", 60)) // 60))
        return public_forms.render("citizen/verify.html", status=429, error="limit", minutes=minutes, code=code)
    return public_forms.render("citizen/verify.html", verdict=verdict, code=code)


public_forms.nonce_form("citizen_pages.verify_submit")
