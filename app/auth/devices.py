"""Field tablets: registered by staff, enrolled once with a code and the tablet's own key,
revoked as lost (refused at once) or retired (may still hand in what it holds)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from flask import current_app
from jwt.algorithms import ECAlgorithm

from app import audit, quotas
from app.auth.actor import Actor
from app.auth.models import Device, RefreshToken
from app.db import affected, one_or_404, utcnow
from app.errors import Conflict, Unprocessable, field_error, phrase
from app.extensions import db
from app.org.scoping import station_id_for_write

CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O/1/I


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").strip().upper().encode()).hexdigest()


def snapshot(device: Device) -> dict[str, Any]:
    return {"id": str(device.id), "label": device.label, "status": device.status, "station_id": str(device.station_id)}


def devices_visible_to(actor: Actor) -> sa.Select[Device]:
    query = sa.select(Device).order_by(Device.created_at)
    return query if actor.is_admin else query.where(Device.station_id == actor.station_id)


def device_for(actor: Actor, device_id: UUID) -> Device:
    return one_or_404(devices_visible_to(actor).where(Device.id == device_id), "device")


def register(actor: Actor, label: str, station_id: UUID | None = None) -> tuple[Device, str]:
    quotas.check(
        sa.select(Device.id).where(
            Device.created_by_id == actor.user_id, Device.status == "pending", Device.enrollment_expires_at > utcnow()
        ),
        current_app.config["DEVICE_PENDING_MAX"],
        "label",
        "device enrolments waiting for their code",
    )
    code = "-".join("".join(secrets.choice(CODE_ALPHABET) for _ in range(4)) for _ in range(3))
    device = Device(
        label=label,
        station_id=station_id_for_write(actor, station_id),
        status="pending",
        enrollment_code_hash=_code_hash(code),
        created_by_id=actor.user_id,
        enrollment_expires_at=utcnow() + timedelta(seconds=current_app.config["DEVICE_ENROLLMENT_TTL_SECONDS"]),
    )
    db.session.add(device)
    db.session.flush()
    audit.record(actor, "device.register", "device", device.id, after=snapshot(device), station_id=device.station_id)
    db.session.flush()
    return device, code


def _public_members(jwk: object) -> dict[str, Any]:
    if not isinstance(jwk, dict) or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise field_error("public_key", "must be an EC P-256 public JWK")
    if "d" in jwk:
        raise field_error("public_key", "must not contain the private key")
    members = {k: jwk.get(k) for k in ("kty", "crv", "x", "y")}
    try:
        ECAlgorithm.from_jwk(members)
    except Exception:  # the library raises several types for a bad point or encoding
        raise field_error("public_key", "is not a valid P-256 point") from None
    return members


def enroll(code: str, public_key: dict[str, Any]) -> Device:
    members = _public_members(public_key)
    now = utcnow()
    device = db.session.execute(
        sa.select(Device).where(Device.enrollment_code_hash == _code_hash(code))
    ).scalar_one_or_none()
    if device is None or device.status != "pending" or device.enrollment_expires_at <= now:
        raise Unprocessable(
            "the enrollment code is unknown, used or expired",
            errors={"enrollment_code": ["unknown, used or expired"]},
            slug="enrollment-code-invalid",
        )
    won = affected(
        sa.update(Device)
        .where(Device.id == device.id, Device.status == "pending")
        .values(status="active", public_jwk=members, enrolled_at=now, enrollment_code_hash=None)
    )
    if not won:
        raise Conflict("the enrollment code was used concurrently", slug="enrollment-code-invalid")
    db.session.refresh(device)
    audit.record(None, "device.enroll", "device", device.id, after=snapshot(device), station_id=device.station_id)
    db.session.flush()
    return device


def revoke(actor: Actor, device_id: UUID, mode: str) -> Device:
    if mode not in ("lost", "retired"):
        raise field_error("mode", "must be 'lost' or 'retired'")
    device = device_for(actor, device_id)
    if device.status == "lost" or device.status == mode:
        raise Conflict(phrase("the device is already %(status)s", status=device.status), slug="device-already-revoked")
    before = snapshot(device)
    device.status, device.revoked_at = mode, utcnow()
    if mode == "lost":
        db.session.execute(
            sa.update(RefreshToken)
            .where(RefreshToken.device_id == device.id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    audit.record(
        actor,
        f"device.revoke_{mode}",
        "device",
        device.id,
        before=before,
        after=snapshot(device),
        station_id=device.station_id,
    )
    db.session.flush()
    return device
