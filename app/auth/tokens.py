"""Access tokens (ES256 JWTs, short-lived) and refresh tokens (opaque, rotated, family-revoked)."""

from __future__ import annotations

import hashlib
import secrets
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar
from uuid import UUID

import jwt
import sqlalchemy as sa
from flask import current_app

from app import clock, pii
from app.auth import keys, proof
from app.auth.actor import Actor
from app.auth.models import Device, RefreshToken
from app.db import affected, table_of, utcnow
from app.errors import DeviceRevoked, Unauthorized, phrase
from app.extensions import db
from app.org.models import User, user_area
from app.prepared import Prepared
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


class HasStatus(Protocol):
    @property
    def status(self) -> str | None: ...


D = TypeVar("D", bound=HasStatus)


def check_device(device: D | None, *, allow_retired: bool) -> D:
    """Lost devices are refused at once; retired ones only where they may still hand in work."""
    if device is None or device.status == "pending":
        raise DeviceRevoked("this device is not enrolled")
    if device.status == "lost" or (device.status == "retired" and not allow_retired):
        raise DeviceRevoked(phrase("this device is %(status)s", status=device.status))
    return device


@dataclass(frozen=True)
class RequestProof:
    """What a device-bound token's proof of possession is checked against (``app.auth.proof``)."""

    header: str | None
    method: str
    target: str


@dataclass(frozen=True)
class Account:
    """The caller's account as this request's authentication read it: what ``GET /me`` answers
    with, so the route needs no second read of the row the request has just checked."""

    id: UUID
    username: str | None
    role: str
    station_id: UUID | None
    display_name: str
    phone_enc: str | None
    active: bool
    created_at: datetime
    area_ids: frozenset[UUID]

    @property
    def phone(self) -> str | None:
        return pii.decrypt(pii.PHONE, self.phone_enc)


@dataclass(frozen=True)
class TokenDevice:
    """The token's device as the authentication read it (status, station and key, no more)."""

    id: UUID
    status: str
    station_id: UUID
    public_jwk: dict[str, Any] | None


@dataclass(frozen=True)
class Authenticated:
    actor: Actor
    account: Account


_USER, _DEVICE, _REFRESH = table_of(User), table_of(Device), table_of(RefreshToken)
# Built once (composing it anew cost every request more than running it), and run as Core rows:
# the ORM's statement set-up and object loading cost more than the query itself, and the request
# needs the values, not objects. A token without a device or a login binds NULL, which matches no
# device and no revoked family.
_AUTH_READ = Prepared(
    sa.select(
        _USER.c.id,
        _USER.c.username,
        _USER.c.role,
        _USER.c.station_id,
        _USER.c.display_name,
        _USER.c.phone_enc,
        _USER.c.active,
        _USER.c.created_at,
        _DEVICE.c.id.label("device_id"),
        _DEVICE.c.status.label("device_status"),
        _DEVICE.c.station_id.label("device_station_id"),
        _DEVICE.c.public_jwk.label("device_jwk"),
        user_area.c.area_id,
        sa.exists()
        .where(
            _REFRESH.c.family_id == sa.bindparam("family", type_=_REFRESH.c.family_id.type),
            _REFRESH.c.revoked_at.is_not(None),
        )
        .label("revoked"),
    )
    .select_from(_USER)
    .outerjoin(_DEVICE, _DEVICE.c.id == sa.bindparam("device_key", type_=_DEVICE.c.id.type))
    .outerjoin(user_area, user_area.c.user_id == _USER.c.id)
    .where(_USER.c.id == sa.bindparam("user_id", type_=_USER.c.id.type))
)


def actor_from_access_token(
    token: str, *, allow_retired_device: bool = False, request_proof: RequestProof | None = None
) -> Actor:
    return authenticate(token, allow_retired_device=allow_retired_device, request_proof=request_proof).actor


def authenticate(
    token: str, *, allow_retired_device: bool = False, request_proof: RequestProof | None = None
) -> Authenticated:
    """Every authenticated request pays for this: the account, its device, its areas and the
    login's revocation are read in one query (a row per area) in the request's transaction, so a
    disabled account, a lost device, a revoked login or changed areas are refused or seen on the
    very next request. A token bound to a device key needs ``request_proof`` signed by that key."""
    claims = decode_access_token(token)
    try:
        user_id = uuid.UUID(claims["sub"])
        device_key = uuid.UUID(claims["dev"]) if claims.get("dev") else None
        family = uuid.UUID(claims["fam"]) if claims.get("fam") else None
    except (ValueError, TypeError, AttributeError):
        raise Unauthorized("the access token is invalid: malformed subject, device or login") from None
    rows = _AUTH_READ.all({"user_id": user_id, "device_key": device_key, "family": family})
    first = rows[0] if rows else None
    if first is None or not first.active or first.role != claims.get("role"):
        raise Unauthorized("the account is inactive or has changed; log in again")
    device_id = None
    if device_key is not None:
        device = check_device(
            TokenDevice(first.device_id, first.device_status, first.device_station_id, first.device_jwk)
            if first.device_id is not None
            else None,
            allow_retired=allow_retired_device,
        )
        if device.station_id != first.station_id:  # moved to another station since signing in on it
            raise Unauthorized("this device belongs to another station; log in again")
        _check_possession(device, claims, token, request_proof)
        device_id = device.id
    if first.revoked:
        raise Unauthorized("this login has ended (logged out or revoked); log in again", slug="token-revoked")
    areas = frozenset(row.area_id for row in rows if row.area_id is not None)
    account = Account(
        first.id,
        first.username,
        first.role,
        first.station_id,
        first.display_name,
        first.phone_enc,
        first.active,
        first.created_at,
        areas,
    )
    actor = Actor(
        user_id=first.id,
        role=first.role,
        station_id=first.station_id,
        device_id=device_id,
        area_ids=areas if first.role in ("officer", "auxiliary") else frozenset(),
    )
    return Authenticated(actor, account)


def _check_possession(
    device: TokenDevice, claims: dict[str, Any], token: str, request_proof: RequestProof | None
) -> None:
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
