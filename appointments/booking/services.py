"""Bookings: a citizen (mini-program) or staff (for a caller on the phone) reserve a window;
each booking becomes a visit to dispatch."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from app import audit, bulk, pii, quotas, workdays
from app.db import Written, insert_for, one_or_404, table_of, utcnow, with_defaults
from app.errors import Conflict, DomainError, Forbidden, Unprocessable, field_error, phrase
from app.extensions import db
from app.notify import outbox
from app.org.models import FIELD_ROLES, User
from app.org.scoping import sees_area
from app.prepared import Prepared
from app.unit_of_work import writing
from appointments.booking import reference
from appointments.booking.calendar import booking_event as booking_event  # re-exported for the H5 (decision 96)
from appointments.booking.models import Booking as Booking  # re-exported: other features type by it
from appointments.booking.reminders import enqueue_evening_reminders as enqueue_evening_reminders  # for the job
from appointments.booking.schemas import BookingIn as BookingIn  # re-exported: the H5 loads its form with it
from appointments.booking.schemas import BookingOut
from appointments.dispatch import services as dispatch
from appointments.dispatch import states as visit_states
from appointments.dispatch.services import transition
from appointments.notices import notice, notify
from appointments.timeline import TimelineEvent
from appointments.windows import services as windows

REFERENCE_ALPHABET = reference.ALPHABET
new_reference = reference.new  # permit applications draw theirs from the same alphabet
booking_snapshot = BookingOut().dump
# What each purpose is called on a page; the console and the windows page both label by it.
PURPOSE_LABELS = {
    "registration": _l("Residence registration"),
    "permit_application": _l("Residence permit application"),
    "permit_delivery": _l("Permit delivery"),
    "other": _l("Other"),
}


def bookings_visible_to(actor):
    query = sa.select(Booking).order_by(Booking.created_at.desc())
    if actor.is_admin:
        return query
    if actor.role == "citizen":
        return query.where(Booking.citizen_id == actor.user_id)
    if actor.role in FIELD_ROLES:
        return query.where(Booking.id.in_(dispatch.booking_ids_assigned_to(actor.user_id)))
    return query.where(Booking.station_id == actor.station_id)


def booking_for(actor, booking_id, *, lock: bool = False) -> Booking:
    query = bookings_visible_to(actor).where(Booking.id == booking_id)
    return one_or_404(query.with_for_update() if lock else query, "booking")


def search(actor, filters: dict):
    query = bookings_visible_to(actor)
    if filters.get("reference"):
        try:  # the nine characters with their check, or the stored eight as older SMS texts show
            stored = reference.parse(filters["reference"])
        except reference.InvalidReference as exc:
            raise field_error("reference", str(exc)) from None
        query = query.where(Booking.reference == stored)
    for key, column in (
        ("day", Booking.day),
        ("status", Booking.status),
        ("purpose", Booking.purpose),
        ("area_id", Booking.area_id),
    ):
        if filters.get(key) is not None:
            query = query.where(column == filters[key])
    return query


def _request_hash(data: dict) -> str:
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()


class IdempotencyKeyReused(Unprocessable):
    slug, title = "idempotency-key-reused", "This Idempotency-Key was used for another request"


class ActiveBookingExists(Conflict):
    slug, title = "active-booking-exists", "You already hold an open booking for this purpose"


def _open_window(area_id, day, start, *, field: str = "window_start") -> windows.Window:
    window = windows.window_on(area_id, day, start)
    if window is None:
        raise field_error(field, "no visit window starts then on that day")
    why = windows.booking_closed_reason(window)
    if why == "past_cutoff":
        raise field_error(field, "the window has started or is too close to change online")
    if why:
        raise field_error(field, "the window is too far ahead to book yet")
    return window


def _channel_fields(actor, data: dict) -> dict:
    """Citizens book for themselves in the mini-program; staff book for a caller by phone."""
    if actor.role == "citizen":
        for f in ("caller_name", "caller_phone"):
            if data.get(f):
                raise field_error(f, "is recorded only for bookings taken by phone")
        return {"channel": "mini_program", "citizen_id": actor.user_id, "caller_name": None, "caller_phone_enc": None}
    for f in ("caller_name", "caller_phone"):
        if not data.get(f):
            raise field_error(f, "is required for a phone booking")
    caller_phone = _phone(data["caller_phone"], "caller_phone")
    return {
        "channel": "phone",
        "citizen_id": _citizen_with_phone(caller_phone),
        "caller_name": data["caller_name"],
        "caller_phone_enc": pii.encrypt(pii.PHONE, caller_phone),
    }


# Statements every booking runs, built once: building one per call costs more in SQLAlchemy's
# construction and cache key than SQLite spends running it.
_CITIZEN_WITH_PHONE = Prepared(
    sa.select(User.id).where(User.role == "citizen", User.active.is_(True), User.phone_bidx == sa.bindparam("bidx"))
)
_REPLAY = Prepared(
    sa.select(Booking.id, Booking.request_hash).where(
        Booking.created_by_id == sa.bindparam("created_by"), Booking.idempotency_key == sa.bindparam("key")
    )
)


def _citizen_with_phone(phone: str) -> object | None:
    """A caller who already has a citizen account (by the phone's blind index) gets the booking in
    their own list, with the same one-open-booking-per-purpose rule as booking for themselves."""
    bidx = pii.blind_index(pii.PHONE, phone)
    return _CITIZEN_WITH_PHONE.scalar({"bidx": bidx})


def _phone(raw: str, field: str) -> str:
    try:
        return pii.normalize_phone(raw)
    except pii.InvalidPII as exc:
        raise field_error(field, str(exc)) from None


def _replay(actor, key: str, request_hash: str) -> Booking | None:
    found = _REPLAY.first({"created_by": actor.user_id, "key": key})
    if found is None:
        return None
    if found.request_hash != request_hash:
        raise IdempotencyKeyReused(
            "the same Idempotency-Key came with a different request body",
            errors={"Idempotency-Key": ["already used for a different request"]},
        )
    return db.session.get(Booking, found.id)


def create(actor, data: dict, idempotency_key: str | None) -> tuple[Booking | Written, bool]:
    """Returns (booking, created). A retry with the same key and body returns the first booking
    (loaded); a new one is the rows as written (``app.db.Written``), read as the ORM object is."""
    idempotency_key = (idempotency_key or "").strip()
    if not idempotency_key or len(idempotency_key) > 100:
        raise field_error("Idempotency-Key", "a header of 1-100 characters is required", cls=DomainError)
    request_hash = _request_hash(data)
    existing = _replay(actor, idempotency_key, request_hash)
    if existing is not None:
        return existing, False
    area = windows.area_info(data["area_id"])
    if area is None or not area.active:
        raise field_error("area_id", "no such area")
    if actor.role != "citizen" and not sees_area(actor, area.id, area.station_id):
        raise field_error("area_id", "not an area of your station")
    channel = _channel_fields(actor, data)
    contact_phone = _phone(data["contact_phone"], "contact_phone")
    window = _open_window(area.id, data["day"], data["window_start"])
    # What the booking writes is made before its write section: the rows, the audit snapshot, the
    # confirmation's outbox row. On SQLite the write lock is then held for the statements alone,
    # and the lock is what every booking of every worker waits for (decision 121).
    row = _booking_row(actor, data, idempotency_key, request_hash, area, window, channel, contact_phone)
    made = _made(actor, row)
    # Everything above only read. The write section starts here (on SQLite: the write lock), and
    # what must hold at commit is checked inside it: the quota counts the bookings committed
    # before this one, the seat and the unique keys are the database's guards.
    writing()
    if actor.role == "citizen":  # each booking sends an SMS: booking and cancelling must not loop
        quotas.check(
            sa.select(Booking.id).where(
                Booking.created_by_id == actor.user_id, Booking.created_at > utcnow() - timedelta(hours=24)
            ),
            current_app.config["BOOKING_DAILY_MAX"],
            "purpose",
            "bookings in 24 hours",
        )
    try:
        slot_id = windows.take_seat(area.id, window)
    except windows.SlotFull:
        existing = _replay(actor, idempotency_key, request_hash)
        if existing is not None:  # a concurrent retry of this very request won the last seat
            return existing, False
        raise
    row["slot_id"] = slot_id
    for attempt in range(3):
        if attempt:  # the reference code collided: another is drawn, and what shows it made again
            row["reference"] = new_reference()
            made = _made(actor, row)
        if _insert_booking(row):
            return _written(actor, row, made), True
        # The row was not written: a unique key held by a row committed first. Nothing else of
        # the transaction is undone (no savepoint: ON CONFLICT skips the row), so look which.
        existing = _replay(actor, idempotency_key, request_hash)
        if existing is not None:  # a concurrent retry of this very request won: its seat stands, not ours
            windows.release_seat(slot_id)
            return existing, False
        if row["active_key"] and (_ACTIVE.first({"active_key": row["active_key"]}) is not None):
            raise ActiveBookingExists(
                f"you already hold an open {data['purpose']} booking; change or cancel it instead",
                errors={"purpose": ["an open booking exists"]},
            )
    raise Conflict("could not allocate a booking reference; retry")


_ACTIVE = Prepared(sa.select(Booking.id).where(Booking.active_key == sa.bindparam("active_key")))
_BOOKING = table_of(Booking)
_TIMELINE = table_of(TimelineEvent)


@functools.cache
def _insert_statement(insert: Callable[[Any], Any], columns: tuple[str, ...]) -> Prepared:
    """The booking's INSERT in the dialect's construct, built once per set of columns: a row
    whose unique key (reference, Idempotency-Key, one open booking per purpose) is taken is
    skipped rather than failing the transaction, and no id back says so."""
    return Prepared(insert(_BOOKING).on_conflict_do_nothing().returning(_BOOKING.c.id), columns)


def _insert_booking(row: dict) -> bool:
    """Write the booking's row; False when a unique key stopped it."""
    return _insert_statement(insert_for(db.session), tuple(row)).first(row) is not None


def _booking_row(actor, data, key, request_hash, area, window, channel, contact_phone) -> dict:
    """Every column of the new booking, the model's defaults filling what the booking does not
    say (``app.db.with_defaults``): the row is written with Core and is what the response and the
    audit snapshot are made from, so nothing is read back. Its seat is taken in the write section
    (``slot_id`` is set then), and its reference drawn again if the first collides."""
    now = utcnow()
    return with_defaults(
        _BOOKING,
        {
            "reference": new_reference(),
            "station_id": area.station_id,
            "area_id": area.id,
            "slot_id": None,
            "day": window.day,
            "window_start": window.start,
            "window_end": window.end,
            "purpose": data["purpose"],
            "created_by_id": actor.user_id,
            "address": data["address"],
            "contact_name": data["contact_name"],
            "contact_phone_enc": pii.encrypt(pii.PHONE, contact_phone),
            "active_key": f"{channel['citizen_id']}:{data['purpose']}" if channel["citizen_id"] else None,
            "idempotency_key": key,
            "request_hash": request_hash,
            "created_at": now,
            "updated_at": now,
            **channel,
            # the form's own (an H5 or console body has both; the model's defaults otherwise)
            **{k: data[k] for k in ("notes", "locale") if k in data},
        },
    )


@dataclass(slots=True)
class _Made:
    """What follows a new booking's row, made from it: its visit's and its first timeline event's
    rows as they will be written, the booking's audit snapshot, and its confirmation's outbox row."""

    visit: dict
    booked: dict
    snapshot: dict
    notice: dict


def _made(actor, row: dict) -> _Made:
    """What follows a booking's row, made before its write section from the row alone: the visit,
    the timeline event, the audit snapshot (the booking's output schema), and the confirmation
    (its recipient's number decrypted and encrypted again for the outbox: ``notices.notice``)."""
    visit = dispatch.booking_visit_row(row)
    booked = {
        "booking_id": row["id"],
        "at": row["created_at"],
        "action": "booked",
        "status": "confirmed",
        "detail": {"channel": row["channel"]},
        "actor_role": actor.role,
    }
    booking = _as_written(row, visit, booked)
    confirmation = notice("booking_confirmed", booking, f"booking-confirmed:{row['id']}")
    return _Made(visit, booked, booking_snapshot(booking), confirmation)


def _as_written(row: dict, visit: dict, booked: dict) -> Written:
    return Written(row, visit=Written(visit), events=[Written(booked)])


def _written(actor, row: dict, made: _Made) -> Written:
    """Write what follows a booking's row: its visit and its timeline event, the audit event and
    the confirmation notice. The rows go in as Core INSERTs (the ORM's flush of them cost more than
    the rest of the write section); the booking the audit snapshot, the notice and the response
    read is made of the rows as written (``app.db.Written``), not of ORM objects."""
    booking = _as_written(row, made.visit, made.booked)  # with its seat, taken since it was made
    dispatch.open_booking_visit(made.visit)
    bulk.insert_rows(_TIMELINE, [made.booked])
    audit.record(actor, "booking.create", "booking", booking.id, after=made.snapshot, station_id=booking.station_id)
    outbox.add(made.notice)
    return booking


def _may_change(actor, booking: Booking, reason: str | None) -> None:
    if booking.status != "confirmed":
        raise visit_states.InvalidTransition(phrase("the booking is %(status)s", status=booking.status))
    if actor.role == "citizen":
        cutoff = timedelta(hours=current_app.config["BOOKING_CUTOFF_HOURS"])
        if workdays.local_datetime(booking.day, booking.window_start) - cutoff <= workdays.local_now():
            raise Forbidden("it is too late to change this booking online; please call the station", slug="past-cutoff")
    elif not reason:
        raise field_error("reason", "staff give a reason when they change a booking")


def change_refusal(actor, booking: Booking) -> DomainError | None:
    """Why ``actor`` may not cancel or move ``booking`` now, or None: the same rule the changes
    enforce, for a page that offers the buttons only when they would work."""
    try:
        _may_change(actor, booking, "-")
    except DomainError as exc:
        return exc
    return None


def cancel(actor, booking_id, reason: str | None) -> Booking:
    booking = booking_for(actor, booking_id, lock=True)
    _may_change(actor, booking, reason)
    before = booking_snapshot(booking)
    windows.release_seat(booking.slot_id)
    booking.status, booking.active_key = "cancelled", None
    transition(actor, booking.visit, "cancelled", "cancelled", reason=reason, officer_id=None)
    audit.record(
        actor,
        "booking.cancel",
        "booking",
        booking.id,
        before=before,
        after=booking_snapshot(booking),
        station_id=booking.station_id,
    )
    notify("visit_cancelled", booking, f"visit-cancelled:{booking.visit.id}")
    db.session.flush()
    return booking


def reschedule(actor, booking_id, day, window_start, reason: str | None) -> Booking:
    """Move the booking to another window of its area: the new seat is taken and the old one
    released in one transaction, so a full window leaves the booking where it was."""
    booking = booking_for(actor, booking_id, lock=True)
    _may_change(actor, booking, reason)
    if (day, window_start) == (booking.day, booking.window_start):
        raise field_error("window_start", "the booking is already in that window")
    window = _open_window(booking.area_id, day, window_start)
    before = booking_snapshot(booking)
    new_slot = windows.take_seat(booking.area_id, window)
    windows.release_seat(booking.slot_id)
    booking.slot_id, booking.day, booking.window_start, booking.window_end = (
        new_slot,
        window.day,
        window.start,
        window.end,
    )
    transition(
        actor,
        booking.visit,
        "rescheduled",
        "rescheduled",
        reason=reason,
        officer_id=None,
        assigned_at=None,
        day=window.day,
        window_start=window.start,
        window_end=window.end,
    )
    audit.record(
        actor,
        "booking.reschedule",
        "booking",
        booking.id,
        before=before,
        after=booking_snapshot(booking),
        station_id=booking.station_id,
    )
    notify("visit_moved", booking, f"visit-moved:{booking.visit.id}:{booking.visit.version}")
    db.session.flush()
    return booking


def read_pii(actor, booking_id) -> Booking:
    """Full contact numbers, for staff and the officer holding the visit; the read is audited."""
    booking = booking_for(actor, booking_id)
    audit.record(
        actor,
        "pii.read",
        "booking",
        booking.id,
        after={"fields": ["contact_phone", "caller_phone"]},
        station_id=booking.station_id,
    )
    db.session.flush()
    return booking


def confirmed_on_slots(actor, slot_ids) -> list[Booking]:
    """The confirmed bookings the actor may see that hold a seat in one of the slots, by day and
    window: what a change to those slots would strand."""
    query = bookings_visible_to(actor).where(Booking.slot_id.in_(slot_ids), Booking.status == "confirmed")
    return list(db.session.execute(query.order_by(None).order_by(Booking.day, Booking.window_start)).scalars())


def citizen_booking_ids(citizen_id) -> sa.Select:
    """The ids of a citizen's own bookings, as a subquery for the features that follow them."""
    return sa.select(Booking.id).where(Booking.citizen_id == citizen_id)


def booking_by_reference(reference: str) -> Booking | None:
    """The booking an SMS link names (app.short_links): unscoped, because the signed link itself
    is the capability, and the page it opens shows no address, phone or full name."""
    return db.session.execute(sa.select(Booking).where(Booking.reference == reference)).scalar_one_or_none()
