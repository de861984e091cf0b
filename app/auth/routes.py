"""Log-in, tokens, citizen codes, devices and the public key set."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from flask import Response, jsonify
from flask_smorest.pagination import PaginationParameters

from app.auth import devices, keys, services
from app.auth.models import Device
from app.auth.permissions import current_account, current_actor, public, requires
from app.auth.schemas import (
    DeviceCreatedOut,
    DeviceIn,
    DeviceOut,
    EnrollIn,
    EnrollOut,
    LoginIn,
    OtpRequestIn,
    OtpRequestOut,
    OtpVerifyIn,
    RefreshIn,
    RevokeIn,
    TokenOut,
)
from app.auth.tokens import Account
from app.headers import locates
from app.openapi import json_example, rate_limited
from app.org.schemas import MeOut
from app.schemas import Blueprint, paginate

blp = Blueprint("auth", __name__, url_prefix="/api/v1", description="Authentication and devices")
wellknown = Blueprint("wellknown", __name__, description="Public keys")


@blp.route("/auth/login", methods=["POST"])
@public
@rate_limited
@blp.arguments(LoginIn)
@blp.response(200, TokenOut)
def login(body: dict[str, Any]) -> dict[str, Any]:
    """Log in with a username and password (and a device id on a tablet)"""
    return services.login(body["username"], body["password"], body["device_id"])


@blp.route("/auth/refresh", methods=["POST"])
@public
@blp.arguments(RefreshIn)
@blp.response(200, TokenOut)
def refresh(body: dict[str, Any]) -> dict[str, Any]:
    """Trade a refresh token for a new pair; the old one stops working"""
    return services.refresh(body["refresh_token"])


@blp.route("/auth/logout", methods=["POST"])
@public
@blp.arguments(RefreshIn)
@blp.response(204)
def logout(body: dict[str, Any]) -> None:
    """Revoke this login's refresh tokens"""
    services.logout(body["refresh_token"])


@blp.route("/auth/otp", methods=["POST"])
@public
@rate_limited
@blp.arguments(OtpRequestIn)
@blp.response(202, OtpRequestOut)
def otp_request(body: dict[str, Any]) -> dict[str, Any]:
    """Send a citizen a 6-digit sign-in code by SMS"""
    return services.request_otp(body["phone"], body["locale"])


@blp.route("/auth/otp/verify", methods=["POST"])
@public
@rate_limited
@blp.arguments(OtpVerifyIn)
@blp.response(200, TokenOut)
def otp_verify(body: dict[str, Any]) -> dict[str, Any]:
    """Sign a citizen in with the code; the account is created on first use"""
    return services.verify_otp(body["phone"], body["code"])


@blp.route("/me", methods=["GET"])
@requires("self.read")
@blp.response(200, MeOut)
def me() -> Account:
    """The signed-in account and what it may do"""
    return current_account()


@blp.route("/devices", methods=["POST"])
@requires("device.manage")
@blp.arguments(DeviceIn)
@blp.response(201, DeviceCreatedOut)
@locates("auth.get_device", device_id="id")
def register_device(body: dict[str, Any]) -> dict[str, Any]:
    """Register a tablet and get its single-use enrollment code (valid 24 h)"""
    device, code = devices.register(current_actor(), body["label"], body["station_id"])
    return {
        "id": device.id,
        "station_id": device.station_id,
        "enrollment_code": code,
        "enrollment_expires_at": device.enrollment_expires_at,
    }


@blp.route("/devices", methods=["GET"])
@requires("device.read")
@blp.response(200, DeviceOut(many=True))
@blp.paginate()
def list_devices(pagination_parameters: PaginationParameters) -> Sequence[Device]:
    """Tablets of your station (all stations for administrators)"""
    return paginate(devices.devices_visible_to(current_actor()), pagination_parameters)


@blp.route("/devices/<uuid:device_id>", methods=["GET"])
@requires("device.read")
@blp.response(200, DeviceOut)
def get_device(device_id: UUID) -> Device:
    """One tablet"""
    return devices.device_for(current_actor(), device_id)


@blp.route("/devices/enroll", methods=["POST"])
@public
@blp.arguments(EnrollIn)
@blp.response(201, EnrollOut)
@locates("auth.get_device", device_id="id")
def enroll_device(body: dict[str, Any]) -> Device:
    """A tablet enrols with its code and the public half of the key it generated"""
    return devices.enroll(body["enrollment_code"], body["public_key"])


@blp.route("/devices/<uuid:device_id>/revoke", methods=["POST"])
@requires("device.manage")
@blp.arguments(RevokeIn)
@blp.response(200, DeviceOut)
def revoke_device(body: dict[str, Any], device_id: UUID) -> Device:
    """Revoke a tablet: `lost` refuses it at once, `retired` lets it hand in what it holds"""
    return devices.revoke(current_actor(), device_id, body["mode"])


@wellknown.route("/.well-known/jwks.json", methods=["GET"])
@public
@wellknown.doc(
    **json_example(
        {
            "keys": [
                {
                    "kty": "EC",
                    "crv": "P-256",
                    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
                    "use": "sig",
                    "alg": "ES256",
                    "kid": "9c2f1a7e5b3d4c60",
                }
            ]
        }
    )
)
def jwks() -> Response:
    """The server's public keys: access tokens, device credentials, receipt countersignatures"""
    resp = jsonify(keys.jwks())
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp
