"""Log-in, token refresh, log-out and citizen one-time codes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from flask import current_app

from app import audit, pii, throttle
from app.auth.actor import Actor
from app.auth.credentials import issue_device_credential
from app.auth.models import Device, OtpChallenge, RefreshToken
from app.auth.passwords import verify_password
from app.auth.tokens import (
    _hash_refresh,
    check_device,
    consume_refresh_token,
    issue_access_token,
    issue_refresh_token,
    revoke_family,
)
from app.context import current_meta
from app.db import affected, utcnow
from app.errors import DomainError, Unauthorized, field_error
from app.extensions import db
from app.notify import outbox
from app.org.models import FIELD_ROLES, User
from app.unit_of_work import assert_no_transaction, commit_now


def _token_pair(user: User, device_id: UUID | None = None, family_id: UUID | None = None) -> dict[str, Any]:
    family_id = family_id or uuid.uuid4()
    refresh = issue_refresh_token(user, device_id, family_id)
    pair: dict[str, Any] = {
        "access_token": issue_access_token(user, device_id, family_id),
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": current_app.config["ACCESS_TOKEN_TTL"],
    }
    if device_id is not None:
        # Only an active tablet signs new receipts; a retired one may still refresh to hand in work.
        device = db.session.get(Device, device_id)
        if device is not None and device.status == "active" and device.public_jwk:
            pair["device_credential"] = issue_device_credential(device, user)
    return pair


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:40]


def login_account_key(username: str) -> str:
    return f"login:user:{_digest(username.lower())}"


def login_address_key(address: str) -> str:
    return f"login:addr:{_digest(address)}"


def _address() -> str:
    meta = current_meta()
    return (meta.client_addr if meta else None) or "unknown"


def login(username: str, password: str, device_id: UUID | None = None) -> dict[str, Any]:
    user = authenticate(username, password)
    if device_id is not None:
        device = db.session.get(Device, device_id)
        if user.role not in FIELD_ROLES:
            raise field_error("device_id", "only officers and auxiliary officers sign in on a device")
        if device is None or device.station_id != user.station_id:
            raise field_error("device_id", "no such device at your station")
        check_device(device, allow_retired=False)
    tokens = _token_pair(user, device_id)
    audit.record(actor_of(user, device_id), "auth.login", "user", user.id)
    db.session.flush()
    return tokens


def authenticate(username: str, password: str) -> User:
    """The password check every log-in goes through (the API's and the console's): throttled per
    account and per address, a failure audited, the attempt committed whatever the outcome. The
    caller records the successful log-in with what it opened (tokens, a console session)."""
    cfg = current_app.config
    # Keys are hashed: a citizen who types a phone number into the staff form must not leave it in
    # plain text, and a long forwarded address must not overflow the column.
    account_key, address_key = login_account_key(username), login_address_key(_address())
    account_policy = throttle.Policy(
        window=cfg["LOGIN_LOCK_SECONDS"],
        limit=cfg["LOGIN_LOCK_AFTER"],
        lock_for=cfg["LOGIN_LOCK_SECONDS"],
        slowdown_after=cfg["LOGIN_SLOWDOWN_AFTER"],
    )
    address_policy = throttle.Policy(
        window=cfg["LOGIN_LOCK_SECONDS"], limit=cfg["LOGIN_ADDRESS_LOCK_AFTER"], lock_for=cfg["LOGIN_LOCK_SECONDS"]
    )
    try:
        throttle.take_all(
            [
                (address_key, address_policy, "too many failed log-ins from this address; wait and retry"),
                (account_key, account_policy, "too many failed log-ins for this account; wait and retry"),
            ]
        )
        user = db.session.execute(
            sa.select(User).where(sa.func.lower(User.username) == username.lower())
        ).scalar_one_or_none()
        # Read now what the check needs: the commit below expires the row, and reloading it would
        # open a transaction again while the password is hashed.
        stored = user.password_hash if user else None
        active = bool(user and user.active)
        user_id = user.id if user else None
        station_id = user.station_id if user else None
    finally:
        # The attempt counts even if it is refused, or the password turns out wrong: a guesser
        # must not get a free try by failing. The commit also ends the transaction, so Argon2id
        # (about 100 ms) runs holding no lock: not SQLite's write lock, no PostgreSQL row lock.
        commit_now("log-in attempt counted")
    assert_no_transaction("verifying a password")
    # Verified even for an unknown user (against a dummy hash), so both cost the same.
    right = verify_password(stored, password)
    if user is None or not right or not active:
        audit.record(
            None,
            "auth.login_failed",
            "user",
            user_id,
            after={"username": pii.scrub(username)},
            station_id=station_id,
        )
        commit_now("failed log-in audited although the request is refused")
        raise Unauthorized("wrong username or password", slug="invalid-credentials")
    # The password was right: whatever happens with the device, this was not a guessing attempt.
    throttle.clear(account_key)
    throttle.give_back(address_key)
    # The right password was typed: the account's counter is cleared even if the log-in is then
    # refused for another reason (a device of another station), as it always was.
    commit_now("log-in throttle cleared by the right password")
    return user


def actor_of(user: User, device_id: UUID | None = None) -> Actor:
    return Actor(user_id=user.id, role=user.role, station_id=user.station_id, device_id=device_id)


def refresh(token: str) -> dict[str, Any]:
    row = consume_refresh_token(token)
    user = db.session.get(User, row.user_id)
    if user is None or not user.active:
        revoke_family(row.family_id)
        commit_now("the login of an inactive account stays revoked although the refresh is refused")
        raise Unauthorized("the account is inactive")
    if row.device_id is not None:
        try:
            device = check_device(db.session.get(Device, row.device_id), allow_retired=True)
            if device.station_id != user.station_id:
                raise Unauthorized("this device belongs to another station; log in again")
        except Unauthorized:
            revoke_family(row.family_id)
            commit_now("the login of a revoked or moved device stays revoked although the refresh is refused")
            raise
    tokens = _token_pair(user, row.device_id, row.family_id)
    db.session.flush()
    return tokens


def logout(token: str) -> None:
    """Revoke the whole login the refresh token belongs to. Unknown tokens are ignored so the
    endpoint reveals nothing."""
    row = db.session.execute(
        sa.select(RefreshToken).where(RefreshToken.token_hash == _hash_refresh(token))
    ).scalar_one_or_none()
    if row is not None:
        revoke_family(row.family_id)
        user = db.session.get_one(User, row.user_id)  # the token's account (a foreign key)
        audit.record(actor_of(user, row.device_id), "auth.logout", "user", row.user_id)
    db.session.flush()


# --- citizen one-time codes -------------------------------------------------------------


def _code_hash(challenge_id: UUID, code: str) -> str:
    key = hashlib.sha256(b"otp:" + str(current_app.config["SECRET_KEY"]).encode()).digest()
    return hmac.new(key, f"{challenge_id}:{code}".encode(), hashlib.sha256).hexdigest()


def _phone(raw: str) -> str:
    try:
        return pii.normalize_phone(raw)
    except pii.InvalidPII as exc:
        raise field_error("phone", str(exc)) from None


class SmsUnavailable(DomainError):
    status, slug, title = 503, "sms-unavailable", "The SMS could not be sent"


def request_otp(raw_phone: str, locale: str = "zh") -> dict[str, Any]:
    cfg = current_app.config
    phone = _phone(raw_phone)
    bidx = pii.blind_index(pii.PHONE, phone)
    try:
        throttle.take_all(
            [
                (
                    f"otp:addr:{_address()}",
                    throttle.Policy(window=3600, limit=cfg["OTP_ADDRESS_PER_HOUR"]),
                    "too many codes requested from this address",
                ),
                (
                    f"otp:phone:{bidx}",
                    throttle.Policy(
                        window=3600, limit=cfg["OTP_PHONE_PER_HOUR"], min_interval=cfg["OTP_PHONE_INTERVAL_SECONDS"]
                    ),
                    "a code was sent to this number recently; wait before asking again",
                ),
            ]
        )
    finally:
        commit_now("code request counted even when refused")
    now = utcnow()
    # A new code supersedes older ones, so only the latest message works.
    db.session.execute(
        sa.update(OtpChallenge)
        .where(OtpChallenge.phone_bidx == bidx, OtpChallenge.consumed_at.is_(None))
        .values(consumed_at=now)
    )
    challenge = OtpChallenge(
        id=uuid.uuid4(), phone_bidx=bidx, code_hash="", expires_at=now + timedelta(seconds=cfg["OTP_TTL_SECONDS"])
    )
    code = f"{secrets.randbelow(10**6):06d}"
    challenge.code_hash = _code_hash(challenge.id, code)
    db.session.add(challenge)
    row = outbox.enqueue("otp", "otp", {"minutes": cfg["OTP_TTL_SECONDS"] // 60}, phone=phone, locale=locale)
    if not outbox.send_immediately(row, {"code": code}):
        raise SmsUnavailable("the SMS provider did not accept the message; try again in a minute")
    return {"expires_in": cfg["OTP_TTL_SECONDS"]}


def verify_otp(raw_phone: str, code: str) -> dict[str, Any]:
    """Check the code and log the citizen in with a token pair (the mini-program's API log-in)."""
    user = citizen_by_otp(raw_phone, code)
    tokens = _token_pair(user)
    audit.record(actor_of(user), "auth.login", "user", user.id)
    db.session.flush()
    return tokens


def citizen_by_otp(raw_phone: str, code: str) -> User:
    """The citizen whose phone this code was sent to (created at the first log-in), after the
    attempt limits; every channel (API tokens, the H5's cookie session) logs in through it."""
    phone = spend_otp(raw_phone, code)
    bidx = pii.blind_index(pii.PHONE, phone)
    user = db.session.execute(
        sa.select(User).where(User.role == "citizen", User.phone_bidx == bidx)
    ).scalar_one_or_none()
    if user is None:
        user = User(role="citizen", display_name="")
        user.set_phone(phone)
        db.session.add(user)
        db.session.flush()
        audit.record(
            actor_of(user), "user.create", "user", user.id, after={"role": "citizen", "phone": pii.mask_phone(phone)}
        )
    elif not user.active:
        commit_now("the code of a disabled account stays used although the log-in is refused")
        raise Unauthorized("this account is disabled")
    return user


def spend_otp(raw_phone: str, code: str) -> str:
    """Check and use up the code last sent to this number (attempt limit and expiry as for a
    log-in) and return the number, normalised. The log-in and the H5's progress look-up, which
    proves the phone on file without opening an account, both check codes here."""
    phone = _phone(raw_phone)
    bidx = pii.blind_index(pii.PHONE, phone)
    max_attempts = current_app.config["OTP_MAX_ATTEMPTS"]
    challenge = db.session.execute(
        sa.select(OtpChallenge)
        .where(OtpChallenge.phone_bidx == bidx, OtpChallenge.consumed_at.is_(None), OtpChallenge.expires_at > utcnow())
        .order_by(OtpChallenge.created_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    if challenge is None:
        raise Unauthorized("no valid code for this number; request a new one", slug="otp-invalid")
    # Count the attempt atomically before comparing, so parallel guesses share one budget.
    counted = affected(
        sa.update(OtpChallenge)
        .where(
            OtpChallenge.id == challenge.id, OtpChallenge.attempts < max_attempts, OtpChallenge.consumed_at.is_(None)
        )
        .values(attempts=OtpChallenge.attempts + 1)
    )
    # The guess is spent whatever follows (a wrong code refuses the request): parallel guesses
    # share one budget only if each is durable before the comparison.
    commit_now("one-time code attempt counted")
    if not counted:
        raise Unauthorized("too many wrong codes; request a new one", slug="otp-invalid")
    if not hmac.compare_digest(challenge.code_hash, _code_hash(challenge.id, str(code))):
        raise Unauthorized("the code is wrong", slug="otp-invalid")
    won = affected(
        sa.update(OtpChallenge)
        .where(OtpChallenge.id == challenge.id, OtpChallenge.consumed_at.is_(None))
        .values(consumed_at=utcnow())
    )
    if not won:
        raise Unauthorized("this code was already used", slug="otp-invalid")
    return phone
