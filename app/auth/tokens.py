"""Access tokens (ES256 JWTs, short-lived) and refresh tokens (opaque, rotated, family-revoked)."""

from __future__ import annotations

import hashlib
import secrets
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import jwt
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm.attributes import set_committed_value

from app import clock
from app.auth import keys, proof
from app.auth.actor import Actor
from app.auth.models import Device, RefreshToken
from app.db import affected, utcnow
from app.errors import DeviceRevoked, Unauthorized
from app.extensions import db
from app.org.models import Area, User, user_area
from app.unit_of_work import commit_now

ALGORITHM = "ES256"
ACCESS_TYP = "at+jwt"
# App nodes' clocks differ a little: a token minted on one must not be "not yet valid" on another.
CLOCK_LEEWAY_SECONDS = 30


def issue_access_token(user: User, device_id: UUID | None = None, family_id: UUID | None = None) -> str:
    """``family_id``: the login (refresh-token family) the token belongs to, so that logging out,
    or any revocation of that login, ends the access token too, not at its expiry."""
    kid, private = keys.signing_key()
    now = utcnow()
    claims: dict[str, Any] = {
        "iss": current_app.config["JWT_ISSUER"],
        "aud": current_app.config["JWT_AUDIENCE"],
        "sub": str(user.id),
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(seconds=current_app.config["ACCESS_TOKEN_TTL"]),
        "jti": uuid.uuid4().hex,
        "role": user.role,
    }
    if user.station_id:
        claims["sid"] = str(user.station_id)
    if device_id:
        claims["dev"] = str(device_id)
        device = db.session.get(Device, device_id)
        if device is not None and device.public_jwk:
            claims["cnf"] = {"jkt": proof.thumbprint(device.public_jwk)}  # usable only with that key
    if family_id:
        claims["fam"] = str(family_id)
    return jwt.encode(claims, private, algorithm=ALGORITHM, headers={"kid": kid, "typ": ACCESS_TYP})


# Verifying the ES256 signature is the largest fixed cost of an authenticated request, and a given
# token verifies the same way every time: a process remembers the tokens it has verified (their
# claims, and the key object that verified them) for as long as that key is still accepted.
# Expiry and the times are checked on every request, as are the account, the device and the
# login's revocation (actor_from_access_token).
_VERIFIED: OrderedDict[tuple[str, str, str], tuple[dict[str, Any], str, object]] = OrderedDict()
_VERIFIED_MAX = 4096
_verified_lock = threading.Lock()


def decode_access_token(token: str) -> dict[str, Any]:
    """Verify signature, algorithm, key id, type and registered claims; raise Unauthorized."""
    remembered = (token, current_app.config["JWT_AUDIENCE"], current_app.config["JWT_ISSUER"])
    with _verified_lock:
        hit = _VERIFIED.get(remembered)
        if hit is not None:
            _VERIFIED.move_to_end(remembered)
    if hit is not None and keys.verification_key(hit[1]) is hit[2]:
        return _check_times(dict(hit[0]))
    claims, kid, key = _verify(token)
    with _verified_lock:
        _VERIFIED[remembered] = (claims, kid, key)
        while len(_VERIFIED) > _VERIFIED_MAX:
            _VERIFIED.popitem(last=False)
    return _check_times(dict(claims))


def _verify(token: str) -> tuple[dict[str, Any], str, object]:
    """The signature, algorithm, key id, type and the presence and shape of the registered claims."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Unauthorized("the access token is malformed") from None
    if header.get("alg") != ALGORITHM:
        raise Unauthorized("the access token is not signed with ES256")
    if header.get("typ") != ACCESS_TYP:
        raise Unauthorized("the token is not an access token")
    key = keys.verification_key(header.get("kid"))
    if key is None:
        raise Unauthorized("the access token's key is unknown or expired")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=current_app.config["JWT_AUDIENCE"],
            issuer=current_app.config["JWT_ISSUER"],
            # Times are checked below against app.clock: the library reads the wall clock, which
            # is not the server's when DOORSTEP_CLOCK_OFFSET_SECONDS moves it.
            options={
                "require": ["exp", "iat", "iss", "aud", "sub", "jti"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"the access token is invalid: {exc}") from None
    exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf", claims["iat"])
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (exp, iat, nbf)):
        raise Unauthorized("the access token is invalid: exp, iat and nbf must be numbers")
    return claims, str(header["kid"]), key


def _check_times(claims: dict[str, Any]) -> dict[str, Any]:
    """Expiry and validity against app.clock, on every request (a remembered token expires too)."""
    exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf", claims["iat"])
    now = clock.now().timestamp()
    if exp <= now - CLOCK_LEEWAY_SECONDS:
        raise Unauthorized("the access token has expired", slug="token-expired")
    if iat > now + CLOCK_LEEWAY_SECONDS or nbf > now + CLOCK_LEEWAY_SECONDS:
        raise Unauthorized("the access token is invalid: the token is not yet valid")
    return claims


def check_device(device: Device | None, *, allow_retired: bool) -> Device:
    """Lost devices are refused at once; retired ones only where they may still hand in work."""
    if device is None or device.status == "pending":
        raise DeviceRevoked("this device is not enrolled")
    if device.status == "lost" or (device.status == "retired" and not allow_retired):
        raise DeviceRevoked(f"this device is {device.status}")
    return device


@dataclass(frozen=True)
class RequestProof:
    """What a device-bound token's proof of possession is checked against (``app.auth.proof``)."""

    header: str | None
    method: str
    target: str


# Built once: composing it anew cost every request more than running it. A token without a device
# or a login binds NULL, which matches no device and no revoked family.
_AUTH_READ = (
    sa.select(
        User,
        Device,
        Area,
        sa.exists()
        .where(
            RefreshToken.family_id == sa.bindparam("family", type_=RefreshToken.family_id.type),
            RefreshToken.revoked_at.is_not(None),
        )
        .label("revoked"),
    )
    .select_from(User)
    .outerjoin(Device, Device.id == sa.bindparam("device_key", type_=Device.id.type))
    .outerjoin(user_area, user_area.c.user_id == User.id)
    .outerjoin(Area, Area.id == user_area.c.area_id)
    .where(User.id == sa.bindparam("user_id", type_=User.id.type))
)


def actor_from_access_token(
    token: str, *, allow_retired_device: bool = False, request_proof: RequestProof | None = None
) -> Actor:
    """Every authenticated request pays for this: the account, its device and its areas are read
    in one query (a row per area), so revocation is seen at once at the cost of one round trip;
    the account stays in the session with its areas loaded, for the route to read without another.
    A token bound to a device key needs ``request_proof`` signed by that key."""
    claims = decode_access_token(token)
    try:
        user_id = uuid.UUID(claims["sub"])
        device_key = uuid.UUID(claims["dev"]) if claims.get("dev") else None
        family = uuid.UUID(claims["fam"]) if claims.get("fam") else None
    except (ValueError, TypeError, AttributeError):
        raise Unauthorized("the access token is invalid: malformed subject, device or login") from None
    rows = db.session.execute(_AUTH_READ, {"user_id": user_id, "device_key": device_key, "family": family}).all()
    user = rows[0][0] if rows else None
    if user is None or not user.active or user.role != claims.get("role"):
        raise Unauthorized("the account is inactive or has changed; log in again")
    # Held for the request (the identity map holds objects weakly), so a route reading its own
    # account (GET /me, the console's header) finds it in memory instead of asking again.
    db.session.info["authenticated_user"] = user
    areas = sorted(filter(None, (row[2] for row in rows)), key=lambda a: a.code)  # (None: no area)
    if "areas" not in user.__dict__:  # the relationship as its lazy load would have read it
        set_committed_value(user, "areas", areas)
    device_id = None
    if device_key is not None:
        device = check_device(rows[0][1], allow_retired=allow_retired_device)
        if device.station_id != user.station_id:  # moved to another station since signing in on it
            raise Unauthorized("this device belongs to another station; log in again")
        _check_possession(device, claims, token, request_proof)
        device_id = device.id
        # The identity map holds objects weakly: kept here, the request's later look-ups of this
        # device (sync stamps it on every push and pull) are served from memory.
        db.session.info["authenticated_device"] = device
    if rows[0][3]:
        raise Unauthorized("this login has ended (logged out or revoked); log in again", slug="token-revoked")
    area_ids: frozenset[UUID] = frozenset()
    if user.role in ("officer", "auxiliary"):
        area_ids = frozenset(area.id for area in areas)
    return Actor(user_id=user.id, role=user.role, station_id=user.station_id, device_id=device_id, area_ids=area_ids)


def _check_possession(device: Device, claims: dict[str, Any], token: str, request_proof: RequestProof | None) -> None:
    """A device with a key uses its tokens only with that key: a token copied off the tablet (or
    out of a log) is refused without the key's signature over this very request."""
    if not device.public_jwk:
        return  # never enrolled with a key (only fixtures of benchmarks): nothing to bind to
    if claims.get("cnf", {}).get("jkt") not in (None, proof.thumbprint(device.public_jwk)):
        raise Unauthorized("this token is bound to another key of this device; log in again")
    request_proof = request_proof or RequestProof(None, "", "")
    now_seconds = int(utcnow().timestamp())
    try:
        proof.verify(
            request_proof.header,
            jwk=device.public_jwk,
            method=request_proof.method,
            target=request_proof.target,
            access_token=token,
            now_seconds=now_seconds,
            max_age=current_app.config["DEVICE_PROOF_MAX_AGE"],
        )
    except proof.ProofError as exc:
        # The server's clock comes with the refusal: a tablet whose clock is wrong (they often
        # are, in villages) signs its next proof by the server's time instead of being locked out.
        raise Unauthorized(str(exc), slug="device-proof-required", server_time=now_seconds) from None


def _hash_refresh(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_refresh_token(user: User, device_id: UUID | None = None, family_id: UUID | None = None) -> str:
    token = secrets.token_urlsafe(32)
    db.session.add(
        RefreshToken(
            family_id=family_id or uuid.uuid4(),
            user_id=user.id,
            device_id=device_id,
            token_hash=_hash_refresh(token),
            expires_at=utcnow() + timedelta(seconds=current_app.config["REFRESH_TOKEN_TTL"]),
        )
    )
    return token


def revoke_family(family_id: UUID) -> None:
    # The family's rows locked oldest first — the order in which refreshing takes them (a token,
    # then the one issued for it) — before revoking: concurrent reuses of one token all revoke the
    # same family, and taking its rows in whatever order an UPDATE met them deadlocked on PostgreSQL.
    db.session.execute(
        sa.select(RefreshToken.id)
        .where(RefreshToken.family_id == family_id)
        .order_by(RefreshToken.issued_at, RefreshToken.id)
        .with_for_update()
    ).all()
    db.session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def consume_refresh_token(token: str) -> RefreshToken:
    """Mark the token used exactly once. A second use of any token revokes its family: the
    legitimate holder and a thief cannot both go on, so both must log in again."""
    row = db.session.execute(
        sa.select(RefreshToken).where(RefreshToken.token_hash == _hash_refresh(token))
    ).scalar_one_or_none()
    if row is None:
        raise Unauthorized("the refresh token is not recognised")
    now = utcnow()
    if row.revoked_at is not None or row.expires_at <= now:
        raise Unauthorized("the refresh token is revoked or expired")
    # Conditional update: of two concurrent uses exactly one wins.
    won = affected(
        sa.update(RefreshToken).where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None)).values(used_at=now)
    )
    if not won:
        revoke_family(row.family_id)
        # The theft response must hold although this request is refused.
        commit_now("a reused refresh token revokes its family")
        raise Unauthorized(
            "the refresh token was already used; every session of this login is revoked", slug="refresh-token-reused"
        )
    return row
