"""Reading and publicly verifying handover receipts and their countersignatures."""

from __future__ import annotations

import base64
import hashlib
import uuid

import jwt
import sqlalchemy as sa

from app import throttle
from app.auth import keys
from app.auth.actor import Actor
from app.auth.models import Device
from app.context import current_meta
from app.db import one_or_404
from app.extensions import db
from app.unit_of_work import commit_now
from doorstep_protocol.receipts import is_compact
from field_api.delivery.models import Delivery, Receipt
from field_api.delivery.receipt_token import verify_receipt
from field_api.delivery.services import COUNTERSIGN_TYP, deliveries_visible_to, device_revoked_before, signed_at_of

MAX_TOKEN = 2000


def receipts_visible_to(actor: Actor) -> sa.Select[Receipt]:
    return sa.select(Receipt).where(
        Receipt.delivery_id.in_(deliveries_visible_to(actor).with_only_columns(Delivery.id).order_by(None))
    )


def receipt_for(actor, receipt_id) -> Receipt:
    return one_or_404(receipts_visible_to(actor).where(Receipt.id == receipt_id), "receipt")


def _verify_countersignature(token: str) -> dict:
    try:
        header = jwt.get_unverified_header(token)
        key = next((k for k in keys.jwks()["keys"] if k.get("kid") == header.get("kid")), None)
        if key is None:
            return _verdict(False, False, False, ["unknown-key"], {})
        claims = jwt.decode(token, jwt.PyJWK(key).key, algorithms=["ES256"], options={"verify_exp": False})
    except jwt.PyJWTError:
        return {"valid": False, "reasons": ["signature-invalid"], "claims": {}}
    receipt = db.session.execute(sa.select(Receipt).where(Receipt.jti == claims.get("j"))).scalar_one_or_none()
    if receipt is None:
        return _verdict(True, False, False, ["not-recorded"], {})
    digest = base64.urlsafe_b64encode(hashlib.sha256(receipt.token.encode()).digest()).rstrip(b"=").decode()[:22]
    if claims.get("h") != digest:
        return _verdict(True, False, False, ["receipt-mismatch"], {})
    return _verdict(
        True,
        True,
        False,
        [],
        {
            "kind": "countersignature",
            "jti": receipt.jti,
            "permit_number": claims.get("p"),
            "recorded_at": receipt.received_at.isoformat(),
            "signed_at": receipt.signed_at.isoformat(),
            "seq": receipt.seq,
            "device_id": str(receipt.device_id),
            "recorded": True,
        },
    )


def _verdict(signature_valid: bool, recorded: bool, revoked: bool, reasons: list, claims: dict) -> dict:
    """A receipt is good only if its signatures verify, the server recorded it and its device was
    not revoked before it was signed; each is reported on its own, since a verifier acts on them
    differently (a lost tablet's receipt verifies offline, yet no permit was handed over)."""
    return {
        "valid": signature_valid and recorded and not revoked and not reasons,
        "signature_valid": signature_valid,
        "recorded": recorded,
        "revoked": revoked,
        "reasons": reasons,
        "claims": claims,
    }


def verify_public(token: str) -> dict:
    """Anyone may check a receipt or a countersignature. Rate-limited per address: it is a
    signature oracle, not a search engine."""
    meta = current_meta()
    try:
        throttle.take(
            f"verify:addr:{meta.client_addr if meta else 'unknown'}",
            throttle.Policy(window=60, limit=60),
            "too many verifications from this address",
        )
    finally:
        # Counted even when refused: the limit is what keeps the endpoint from being an oracle.
        commit_now("receipt verification counted")
    if len(token) > MAX_TOKEN:
        return _verdict(False, False, False, ["oversized"], {})
    try:
        # a compact receipt (DR2-…) is no JWS; a first-format receipt and a countersignature are
        typ = None if is_compact(token) else jwt.get_unverified_header(token).get("typ")
    except jwt.PyJWTError:
        return _verdict(False, False, False, ["malformed"], {})
    if typ == COUNTERSIGN_TYP:
        return _verify_countersignature(token)
    result = verify_receipt(token, keys.jwks())
    claims = dict(result.claims)
    reasons = list(result.reasons)
    recorded = revoked = False
    if result.valid:
        device = db.session.get(Device, uuid.UUID(claims["device_id"]))
        if device is None:
            reasons.append("device-unknown")
        elif device_revoked_before(device, signed_at_of(claims)):
            revoked = True
            reasons.append("device-revoked")
        stored = db.session.execute(sa.select(Receipt.token).where(Receipt.jti == claims["jti"])).scalar()
        recorded = stored == token
        claims["recorded"] = recorded
        if stored is not None and stored != token:
            reasons.append("jti-reused")
        elif stored is None:
            reasons.append("not-recorded")
    return _verdict(result.valid, recorded, revoked, reasons, {"kind": "receipt", **claims})
