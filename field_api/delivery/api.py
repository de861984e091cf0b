"""Deliveries, handovers, receipts and their public verification."""

from __future__ import annotations

from flask import Response

from app.auth.permissions import current_actor, public, requires
from app.headers import locates
from app.openapi import rate_limited
from app.schemas import paginate
from field_api.blueprint import blp
from field_api.delivery import receipts
from field_api.delivery import services as deliveries
from field_api.delivery.receipt_token import render_png, render_svg
from field_api.delivery.schemas import (
    DeliveryIn,
    DeliveryOut,
    HandoverIn,
    ManifestEntryOut,
    QrArgs,
    ReceiptOut,
    VerifyIn,
    VerifyOut,
)
from field_api.delivery.services import deliveries_visible_to, delivery_for


@blp.route("/deliveries", methods=["POST"])
@requires("delivery.manage")
@blp.arguments(DeliveryIn)
@blp.response(201, DeliveryOut)
@locates("field.get_delivery", delivery_id="id")
def create_delivery(body):
    """Schedule door-to-door delivery of an issued permit: a visit of kind delivery to dispatch"""
    return deliveries.create_delivery(
        current_actor(), body["permit_id"], body["day"], body["window_start"], body["window_end"]
    )


@blp.route("/deliveries", methods=["GET"])
@requires("delivery.read")
@blp.response(200, DeliveryOut(many=True))
@blp.paginate()
def list_deliveries(pagination_parameters):
    """Deliveries in your scope"""
    return paginate(deliveries_visible_to(current_actor()), pagination_parameters)


@blp.route("/deliveries/manifest", methods=["GET"])
@requires("delivery.handover", writes=True)
@blp.response(200, ManifestEntryOut(many=True))
def manifest():
    """The signed manifest of this device's open deliveries (device-bound tokens only)"""
    return deliveries.manifest(current_actor())


@blp.route("/deliveries/<uuid:delivery_id>", methods=["GET"])
@requires("delivery.read")
@blp.response(200, DeliveryOut)
def get_delivery(delivery_id):
    """One delivery"""
    return delivery_for(current_actor(), delivery_id)


@blp.route("/deliveries/<uuid:delivery_id>/handover", methods=["POST"])
@requires("delivery.handover")
@blp.arguments(HandoverIn)
@blp.response(200, DeliveryOut)
def handover(body, delivery_id):
    """Record the handover at the door with the receipt the tablet signed"""
    return deliveries.handover(current_actor(), delivery_id, body)


@blp.route("/receipts/<uuid:receipt_id>", methods=["GET"])
@requires("receipt.read")
@blp.response(200, ReceiptOut)
def get_receipt(receipt_id):
    """A receipt and the server's countersignature"""
    return receipts.receipt_for(current_actor(), receipt_id)


@blp.route("/receipts/<uuid:receipt_id>/qr.<any(png, svg):fmt>", methods=["GET"])
@requires("receipt.read")
@blp.arguments(QrArgs, location="query")
def receipt_qr(args, receipt_id, fmt):
    """The QR code of the countersigned receipt (or of the tablet's receipt) as PNG or SVG"""
    receipt = receipts.receipt_for(current_actor(), receipt_id)
    token = receipt.countersignature if args["of"] == "countersignature" else receipt.token
    if fmt == "png":
        return Response(render_png(token), mimetype="image/png")
    return Response(render_svg(token), mimetype="image/svg+xml")


@blp.route("/receipts/verify", methods=["POST"])
@public
@rate_limited
@blp.arguments(VerifyIn)
@blp.response(200, VerifyOut)
def verify(body):
    """Check a receipt or a countersignature: anyone may ask (rate-limited)"""
    return receipts.verify_public(body["token"])
