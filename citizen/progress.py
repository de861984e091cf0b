"""Journey 5, 进度查询: anyone holding a booking's or an application's reference sees its progress,
no account session needed, once they type the SMS code sent to the phone on file with it.

- **No enumeration.** Asking for a code answers the same whether the reference exists or not
  ("if it is on file, a code was sent"); a wrong code and an unknown reference get the same
  refusal, word for word and status for status. Only a malformed reference (wrong length, a
  character the references never use, a wrong check character) is said to be one: anyone can
  compute that without the database.
- **Limits.** A code request is counted per address and per reference (the OTP's hourly and
  per-number limits, applied to the reference so a known and an unknown one are limited alike);
  the OTP's own limits then apply to the phone, and their refusals are kept silent for the same
  reason. A check is counted per address; each code takes the OTP's five attempts.
- **Nothing personal** beyond what was typed: the domains' ``progress`` functions return
  statuses, dates and counts only; no name, address, phone or officer.
- The code is the log-in's: ``app.auth.services.request_otp`` sends it and ``spend_otp`` checks
  it (the log-in's attempt limit and expiry), without opening an account."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from flask import current_app, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response as BaseResponse

from app import throttle
from app.auth import services as auth_services
from app.auth.permissions import public
from app.context import current_meta
from app.errors import DomainError, TooManyRequests, Unauthorized
from app.unit_of_work import commit_now
from appointments.booking import progress as booking_progress
from appointments.booking import reference as references
from citizen import public_forms
from citizen.pages import blp
from field_api.permits import progress as application_progress

log = logging.getLogger("doorstep.citizen.progress")

REFUSED = "the reference or the code is not right"

STATUS = {
    # a booking and its visit
    "confirmed": _l("Booked"),
    "requested": _l("Waiting for an officer"),
    "assigned": _l("An officer is assigned"),
    "en_route": _l("The officer is on the way"),
    "completed": _l("Visit done"),
    "not_home": _l("Nobody was at home"),
    "cancelled": _l("Cancelled"),
    "rescheduled": _l("Moved to another time"),
    # a permit application
    "submitted": _l("Submitted"),
    "accepted": _l("Accepted"),
    "under_review": _l("Under review"),
    "returned": _l("Returned for correction"),
    "approved": _l("Approved"),
    "rejected": _l("Not approved"),
    "issued": _l("Permit made"),
    "out_for_delivery": _l("Out for delivery"),
    "delivered": _l("Delivered"),
}


# --- the look-up ------------------------------------------------------------------------------


def _address() -> str:
    meta = current_meta()
    return (meta.client_addr if meta else None) or "unknown"


def _digest(value: str) -> str:
    return hashlib.sha256(f"progress:{value}".encode()).hexdigest()[:32]


def _found(stored: str) -> tuple[Any, Any] | None:
    """The record a reference names and its domain's progress module: a booking first, then an
    application (both draw eight characters from one alphabet)."""
    for module in (booking_progress, application_progress):
        record = module.find(stored)
        if record is not None:
            return record, module
    return None


def request_code(stored: str) -> None:
    """Send a code to the phone on file with the reference, if there is one; answer alike if not."""
    cfg = current_app.config
    try:
        throttle.take_all(
            [
                (
                    f"progress:addr:{_address()}",
                    throttle.Policy(window=3600, limit=cfg["OTP_ADDRESS_PER_HOUR"]),
                    "too many codes requested from this address",
                ),
                (
                    f"progress:ref:{_digest(stored)}",
                    throttle.Policy(
                        window=3600, limit=cfg["OTP_PHONE_PER_HOUR"], min_interval=cfg["OTP_PHONE_INTERVAL_SECONDS"]
                    ),
                    "a code was asked for this reference recently; wait before asking again",
                ),
            ]
        )
    finally:
        # Counted even when refused, as the OTP's requests are.
        commit_now("progress code request counted even when refused")
    found = _found(stored)
    phone = found[1].phone_on_file(found[0]) if found else None
    if not phone:
        return
    try:
        auth_services.request_otp(phone, "zh")
    except DomainError as exc:  # said aloud, it would tell a known reference from an unknown one
        log.info("progress code not sent: %s", exc.slug)


def check(stored: str, code: str) -> dict[str, Any]:
    """The progress of the record the reference names, once the code sent to its phone is right;
    one refusal for an unknown reference and for a wrong, used or expired code."""
    cfg = current_app.config
    try:
        throttle.take(
            f"progress:check:{_address()}",
            throttle.Policy(window=3600, limit=cfg["OTP_ADDRESS_PER_HOUR"] * cfg["OTP_MAX_ATTEMPTS"]),
            "too many progress checks from this address",
        )
    finally:
        commit_now("progress check counted even when refused")
    found = _found(stored)
    if found is None:
        raise Unauthorized(REFUSED, slug="progress-refused")
    record, module = found
    phone = module.phone_on_file(record)
    if not phone:
        raise Unauthorized(REFUSED, slug="progress-refused")
    try:
        auth_services.spend_otp(phone, code)
    except Unauthorized:
        raise Unauthorized(REFUSED, slug="progress-refused") from None
    result: dict[str, Any] = module.progress(record)
    return result


# --- the pages --------------------------------------------------------------------------------


def _minutes(exc: TooManyRequests) -> int:
    return max(1, -(-int(exc.extra.get("retry_after", 60)) // 60))


def _page(step: str = "reference", status: int = 200, **context: Any) -> BaseResponse:
    return public_forms.render("citizen/progress.html", status=status, step=step, labels=STATUS, **context)


def _reference_error(text: str) -> str | None:
    if not text.strip():
        return str(_("Enter the reference of your booking or application."))
    try:
        references.parse(text)
    except references.InvalidReference:
        return str(_("That is not a reference we give out. Please check each character."))
    return None


@blp.route("/progress")
@public
def progress() -> BaseResponse:
    """进度查询, step 1: the reference."""
    return _page(reference=request.args.get("reference", "")[:20])


@blp.route("/progress/code", methods=["POST"])
@public
def progress_code() -> BaseResponse:
    """Step 2: a code to the phone on file (if the reference is on file: the answer is the same)."""
    text = (request.form.get("reference") or "").strip()[:20]
    error = _reference_error(text)
    if error:
        return _page(status=422, reference=text, error=error)
    try:
        request_code(references.parse(text))
    except TooManyRequests as exc:
        return _page(
            status=429,
            reference=text,
            error=_("Too many codes were asked for. Please try again in %(minutes)d minutes.", minutes=_minutes(exc)),
        )
    return _page("code", reference=text)


@blp.route("/progress", methods=["POST"])
@public
def progress_check() -> BaseResponse:
    """Step 3: the code checked, then the progress (or one refusal for every reason)."""
    text = (request.form.get("reference") or "").strip()[:20]
    code = (request.form.get("code") or "").strip()[:12]
    error = _reference_error(text)
    if error:
        return _page(status=422, reference=text, error=error)
    if not code:
        return _page("code", status=422, reference=text, error=_("Enter the code from the text message."))
    try:
        found = check(references.parse(text), code)
    except TooManyRequests as exc:
        return _page(
            "code",
            status=429,
            reference=text,
            error=_("Too many attempts. Please try again in %(minutes)d minutes.", minutes=_minutes(exc)),
        )
    except Unauthorized as exc:
        return _page(
            "code",
            status=exc.status,
            reference=text,
            error=_("The reference or the code is not right. Check both, or ask for a new code."),
        )
    return _page("result", reference=text, found=found)


public_forms.nonce_form("citizen_pages.progress_code")
public_forms.nonce_form("citizen_pages.progress_check")
