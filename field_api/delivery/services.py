"""送证上门: a delivery visit for an issued permit, the device's signed manifest, the identity
check at the door, and the receipt the tablet signs — accepted, recorded and countersigned."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime, time

import jwt
import sqlalchemy as sa

from app import audit, pii
from app.auth import keys
from app.auth.models import Device
from app.db import insert_for, one_or_404, utcnow
from app.errors import Conflict, Forbidden, NotFound, Unprocessable, field_error, phrase
from app.extensions import db
from app.org.models import FIELD_ROLES
from appointments.dispatch import states as visit_states
from appointments.dispatch.services import Visit, visit_ids_of_officer
from appointments.dispatch.services import transition as visit_transition
from doorstep_protocol.identity import mask as mask_identity
from doorstep_protocol.receipts import identity_hint
from field_api.delivery.models import Delivery as Delivery  # re-exported: other features type by it
from field_api.delivery.models import ManifestEntry
from field_api.delivery.models import Receipt as Receipt  # re-exported, as above
from field_api.delivery.receipt_token import render_svg as render_svg  # re-exported: the H5 draws the QR code
from field_api.delivery.receipt_token import verify_receipt
from field_api.delivery.schemas import VerifyIn as VerifyIn  # re-exported: the H5's form takes its limits
from field_api.permits.services import Permit, citizen_permit_ids, permits_visible_to, transition_application

MANIFEST_TYP = "dlv+jwt"
COUNTERSIGN_TYP = "rcs+jwt"


class ReceiptRefused(Unprocessable):
    slug, title = "receipt-refused", "The receipt cannot be accepted"


def deliveries_visible_to(actor):
    """An officer the deliveries of the visits they hold, a citizen those bringing their
    household's permits, staff their station's."""
    query = sa.select(Delivery).order_by(Delivery.created_at.desc())
    if actor.is_admin:
        return query
    if actor.role in FIELD_ROLES:
        return query.where(Delivery.visit_id.in_(visit_ids_of_officer(actor.user_id)))
    if actor.role == "citizen":
        return query.where(Delivery.permit_id.in_(citizen_permit_ids(actor)))
    return query.where(Delivery.station_id == actor.station_id)


def delivery_for(actor, delivery_id, *, lock: bool = False) -> Delivery:
    query = deliveries_visible_to(actor).where(Delivery.id == delivery_id)
    return one_or_404(query.with_for_update() if lock else query, "delivery")


def create_delivery(actor, permit_id, day, window_start: time, window_end: time) -> Delivery:
    """Staff schedule the delivery; it becomes a visit of kind ``delivery`` for normal dispatch."""
    permit = one_or_404(permits_visible_to(actor).where(Permit.id == permit_id).with_for_update(), "permit")
    if permit.status != "issued":
        raise Conflict(phrase("the permit is %(status)s", status=permit.status), slug="invalid-transition")
    if window_end <= window_start:
        raise field_error("window_end", "must be after window_start")
    registration = permit.application.registration
    visit = Visit(
        kind="delivery",
        station_id=permit.station_id,
        area_id=registration.area_id,
        day=day,
        window_start=window_start,
        window_end=window_end,
        address=registration.address,
        status="requested",
    )
    db.session.add(visit)
    db.session.flush()
    delivery = Delivery(permit_id=permit.id, visit_id=visit.id, station_id=permit.station_id)
    db.session.add(delivery)
    permit.status = "out_for_delivery"
    transition_application(actor, permit.application, "out_for_delivery", "out_for_delivery", day=day.isoformat())
    db.session.flush()
    audit.record(
        actor,
        "delivery.create",
        "delivery",
        delivery.id,
        after={"permit": permit.number, "visit_id": str(visit.id), "day": day.isoformat()},
        station_id=delivery.station_id,
    )
    db.session.flush()
    return delivery


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def identity_masked(identity_number: str | None) -> str | None:
    """What a tablet checks an ID card against at the door, offline: the masked form every staff
    view shows. A hash of the number, salted or not, would hand the device the number itself —
    the ID space is small and structured enough to search in under a second — and a key the
    device holds protects nothing. The full number is checked when the handover reaches us."""
    return mask_identity(identity_number)


def manifest_claims(delivery: Delivery, officer_id) -> str:
    """The server's signed word that this delivery is the officer's to hand over."""
    kid, private = keys.signing_key()
    claims = {"dlv": str(delivery.id), "pn": delivery.permit.number, "sub": str(officer_id), "iat": utcnow()}
    return jwt.encode(claims, private, algorithm="ES256", headers={"kid": kid, "typ": MANIFEST_TYP})


def record_manifest(delivery_ids, device_id) -> None:
    """Remember which device was handed which deliveries: only those can be receipted by it."""
    if delivery_ids:
        insert = insert_for(db.session)
        db.session.execute(
            insert(ManifestEntry)
            .values([{"delivery_id": d, "device_id": device_id, "issued_at": utcnow()} for d in delivery_ids])
            .on_conflict_do_nothing()
        )


def manifest(actor) -> list[dict]:
    """The open deliveries assigned to the signed-in officer, each signed by the server and
    recorded as handed to this device: only these can be receipted by it."""
    if actor.device_id is None:
        raise Forbidden("the manifest is issued to an enrolled device; sign in on the tablet", slug="device-required")
    rows = db.session.execute(
        sa.select(Delivery, Visit, Permit)
        .join(Visit, Visit.id == Delivery.visit_id)
        .join(Permit, Permit.id == Delivery.permit_id)
        .where(Visit.officer_id == actor.user_id, Delivery.status == "pending")
    ).all()
    record_manifest([d.id for d, _v, _p in rows], actor.device_id)
    entries = []
    for delivery, visit, permit in rows:
        resident = permit.resident
        entries.append(
            {
                "delivery_id": delivery.id,
                "permit_number": permit.number,
                "resident_name": resident.name,
                "address": visit.address,
                "day": visit.day,
                "window_start": visit.window_start,
                "window_end": visit.window_end,
                "identity_masked": identity_masked(pii.decrypt(pii.IDENTITY, resident.identity_enc)),
                "entry": manifest_claims(delivery, actor.user_id),
            }
        )
    audit.record(
        actor, "delivery.manifest", "device", actor.device_id, after={"deliveries": [str(d.id) for d, _v, _p in rows]}
    )
    db.session.flush()
    return entries


def signed_at_of(claims: dict) -> datetime:
    signed_at = datetime.fromisoformat(claims["iat"])
    return signed_at if signed_at.tzinfo else signed_at.replace(tzinfo=UTC)


def device_revoked_before(device: Device | None, signed_at: datetime) -> bool:
    """Receipts signed after a device's revocation are refused; earlier ones still count. Receipts
    carry whole seconds, so one signed in the second of the revocation counts as after it."""
    return (
        device is not None and device.revoked_at is not None and device.revoked_at.replace(microsecond=0) <= signed_at
    )


def accept_receipt(actor, delivery: Delivery, token: str, recipient_identity: str) -> Receipt:
    """The checks of a receipt reaching the server, in order; the first failure refuses it."""
    result = verify_receipt(token, keys.jwks())
    if not result.valid:
        raise ReceiptRefused(
            "the receipt does not verify: " + ", ".join(result.reasons), errors={"receipt": result.reasons}
        )
    claims = result.claims
    signed_at = signed_at_of(claims)
    device_id = uuid.UUID(claims["device_id"])
    device = db.session.get(Device, device_id)
    reasons = []
    if device is None:
        reasons.append("device-unknown")
    elif device_revoked_before(device, signed_at):
        reasons.append("device-revoked")
    if actor.device_id is not None and actor.device_id != device_id:
        reasons.append("device-mismatch")
    if claims["permit_number"] != delivery.permit.number:
        reasons.append("permit-mismatch")
    if db.session.get(ManifestEntry, (delivery.id, device_id)) is None:
        reasons.append("not-on-manifest")
    if claims["identity_hint"] != identity_hint(claims["jti"], recipient_identity):
        reasons.append("identity-hint-mismatch")
    if db.session.execute(sa.select(Receipt.id).where(Receipt.jti == claims["jti"])).first():
        reasons.append("jti-reused")
    if db.session.execute(
        sa.select(Receipt.id).where(Receipt.device_id == device_id, Receipt.seq == claims["seq"])
    ).first():
        reasons.append("seq-reused")
    if reasons:
        raise ReceiptRefused("the receipt is refused: " + ", ".join(reasons), errors={"receipt": reasons})
    receipt = Receipt(
        jti=claims["jti"],
        delivery_id=delivery.id,
        device_id=device_id,
        seq=claims["seq"],
        token=token,
        signed_at=signed_at,
        countersignature="",
    )
    receipt.countersignature = countersign(receipt, delivery.permit.number)
    db.session.add(receipt)
    return receipt


def countersign(receipt: Receipt, permit_number: str) -> str:
    """The server's word that it recorded this receipt: short enough for its own QR."""
    kid, private = keys.signing_key()
    claims = {
        "j": receipt.jti,
        "p": permit_number,
        "t": int(utcnow().timestamp()),
        "h": _b64(hashlib.sha256(receipt.token.encode()).digest())[:22],
    }
    return jwt.encode(claims, private, algorithm="ES256", headers={"kid": kid, "typ": COUNTERSIGN_TYP})


def handover_fact(actor, delivery_id, data: dict) -> tuple[Delivery, bool]:
    """From a tablet's push: a handover that happened is recorded even if the delivery visit was
    reassigned meanwhile (the receipt checks still demand it was on that device's manifest)."""
    try:
        return handover(actor, delivery_id, data), False
    except NotFound:
        pass
    station_scoped = sa.select(Delivery).where(Delivery.id == delivery_id, Delivery.station_id == actor.station_id)
    return handover(actor, delivery_id, data, lookup=station_scoped), True


def handover(actor, delivery_id, data: dict, *, lookup=None) -> Delivery:
    """At the door: check who takes the permit, record the handover and accept the tablet's
    receipt, all or nothing. A handover is a fact: it is recorded even if the visit was changed
    meanwhile (the visit is completed whatever its state was)."""
    delivery = (
        one_or_404(lookup.with_for_update(), "delivery")
        if lookup is not None
        else delivery_for(actor, delivery_id, lock=True)
    )
    if delivery.status == "delivered":
        raise Conflict("the permit has already been delivered", slug="already-delivered")
    resident = delivery.permit.resident
    try:
        identity = pii.normalize_identity(data["identity_number"])
    except pii.InvalidPII as exc:
        raise field_error("identity_number", str(exc)) from None
    if data["recipient"] == "self":
        if pii.blind_index(pii.IDENTITY, identity) != resident.identity_bidx:
            raise field_error("identity_number", "does not match the permit holder's identity number")
        name = resident.name
    else:
        if not data.get("proxy_name") or not data.get("proxy_relation"):
            raise field_error(
                "proxy_name" if not data.get("proxy_name") else "proxy_relation",
                "is required when someone else takes the permit",
            )
        name = data["proxy_name"]
    receipt = accept_receipt(actor, delivery, data["receipt"], identity)
    delivery.status, delivery.recipient_kind, delivery.recipient_name = "delivered", data["recipient"], name
    delivery.proxy_relation = data.get("proxy_relation")
    delivery.proxy_identity_enc = pii.encrypt(pii.IDENTITY, identity) if data["recipient"] == "proxy" else None
    delivery.signature_sha256 = data.get("signature_sha256")
    delivery.handed_over_at = data.get("handed_over_at") or receipt.signed_at
    delivery.permit.status = "delivered"
    transition_application(actor, delivery.permit.application, "delivered", "delivered", receipt=receipt.jti)
    _complete_visit(actor, delivery.visit)
    audit.record(
        actor,
        "delivery.handover",
        "delivery",
        delivery.id,
        after={
            "recipient": data["recipient"],
            "recipient_name": name[:1] + "*" * (len(name) - 1),
            "receipt": receipt.jti,
            "seq": receipt.seq,
        },
        station_id=delivery.station_id,
    )
    db.session.flush()
    return delivery


def _complete_visit(actor, visit) -> None:
    """Field facts are not refused for being late: complete the visit from whatever state staff
    left it in, and flag it in the audit trail when that state did not expect it."""
    if visit.status == "completed":
        return
    if "completed" in visit_states.TRANSITIONS[visit.status]:
        visit_transition(actor, visit, "completed", "completed", reason="permit handed over")
        return
    before = visit.status
    visit.status, visit.version = "completed", visit.version + 1
    audit.record(
        actor,
        "visit.completed_flagged",
        "visit",
        visit.id,
        before={"status": before},
        after={"status": "completed", "flag": "handover recorded after the visit left this state"},
        station_id=visit.station_id,
    )
