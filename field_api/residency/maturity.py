"""Six months of residence mature: the resident is told they can apply for a residence permit
(and, ``DOORSTEP_MATURITY_PRENOTICE_DAYS`` before, that they soon can), and the area's officers
find the resident on the station's daily list.

What is due is a database fact, not a plan, and a tick reads only what is due however many
matured registrations the table keeps. Most registrations are made the day residence starts,
months before they mature: they are SCHEDULED (``registration.maturity_notice_stage`` = 3) and the
job finds them by their date. ``maturity_progress`` keeps, per clock, the last day done; a tick
takes the scheduled registrations maturing after it and up to today (up to the end of the
pre-notice window, for the pre-notice) through the index ``(status, maturity_notice_stage,
maturity_date)``, and moves the clock on. A tick after days of downtime takes every day it
missed; a tick run again finds its clock already there. The job never writes to these
registrations: on PostgreSQL updating a registration writes a new entry into each of its seven
indexes, which costs more than all the rest of the job.

A registration that matures too soon after it is made — a start date six months back or more, a
tablet's late sync — may arrive after the clock passed its date, so it is QUEUED (0) instead
(``field_api.residency.models.initial_maturity_stage``), and the job empties that queue row by row: the
pre-notice moves a row to 1, the maturity notice to 2 (DONE); a row a concurrent end holds locked
is skipped, and is gone (ended) or back next tick.

A clock's run is one transaction: lock its progress row, queue the SMS with one ``INSERT …
SELECT`` from the due rows (ids, parameters and dedupe keys made by the database, no row crossing
to Python), take the queued rows, move the clock, commit. The insert ignores a dedupe key already
present (``maturity:<registration>``, ``maturity-pre:<registration>``, the id as 32 hex digits:
``maturity_key``), so a clock set back, or two schedulers overlapping for a moment, still send one
message. The daily list is not written at
all: it is read from the registrations the job has dealt with (``field_api.residency.models.MaturityNotice``).

The resident's phone ciphertext is copied as it is into the outbox row: both columns hold
``pii.PHONE`` ciphertexts (the purpose is the AES-GCM associated data), so nothing is decrypted
on this path and a scan of a million rows does no cryptography. The message's parameters (station
name, ISO day) are the row's ``params``, which the dispatcher renders at send time as for any
other outbox row.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import contains_eager

from app.bulk import id_in, new_uuid, uuid_hex, uuid_key
from app.db import UTCDateTime, insert_for, table_of, utcnow
from app.extensions import db
from app.notify.models import Notification
from app.notify.templates import TEMPLATES
from app.org.models import FIELD_ROLES, Station
from app.workdays import LOCAL_TZ
from field_api.residency import hooks
from field_api.residency.models import (
    DONE,
    NOTICE_CLOCK,
    NOTICE_KEY,
    PRENOTICE_CLOCK,
    PRENOTICE_KEY,
    PRENOTICED,
    QUEUED,
    SCHEDULED,
    MaturityNotice,
    MaturityProgress,
    Registration,
    Resident,
)

BATCH = 2000
LINK_PURPOSE = "R"  # app.short_links: a residence registration's page

TEMPLATES.update(
    {
        "maturity_reached": {
            "zh": "【{station}】您的居住登记已于{day}满六个月，可申领居住证：{link}",
            "en": "[{station}] Permit: apply from {day} at {link}",
        },
        "maturity_soon": {
            "zh": "【{station}】您的居住登记将于{day}满六个月，届时可申领居住证：{link}",
            "en": "[{station}] Permit: apply from {day} at {link}",
        },
    }
)


# The messages' outbox keys and stored link name the registration by its id's compact form (32 hex
# digits, ``uuid.UUID.hex``), as the job makes them in SQL (``app.bulk.uuid_key``): on SQLite that
# is the stored id itself. Any form of the id is accepted here.
def maturity_key(registration_id: uuid.UUID | str) -> str:
    return f"{NOTICE_KEY}{uuid_hex(registration_id)}"


def prenotice_key(registration_id: uuid.UUID | str) -> str:
    return f"{PRENOTICE_KEY}{uuid_hex(registration_id)}"


def maturity_link(registration_id: uuid.UUID | str) -> str:
    """The messages' stored ``link`` (app.short_links reads the id in either form)."""
    return f"{LINK_PURPOSE}:{uuid_hex(registration_id)}"


def local_today(now: datetime) -> date:
    return now.astimezone(LOCAL_TZ).date()


def _clock(kind: str) -> date | None:
    """The last day this clock has done (None: it never ran), its row locked for the run (made the
    first time): a second scheduler waits, then finds the clock moved on; an end waits
    (``cancel_reminders``)."""
    table = table_of(MaturityProgress)
    query = sa.select(table.c.through).where(table.c.kind == kind).with_for_update()
    row = db.session.execute(query).first()
    if row is None:
        db.session.execute(
            insert_for(db.session)(table).values(kind=kind, through=None, updated_at=utcnow()).on_conflict_do_nothing()
        )
        row = db.session.execute(query).one()
    return row.through


def _move(kind: str, through: date | None, to: date) -> None:
    """Move the clock on to ``to`` (never back: a tick with an earlier clock changes nothing)."""
    if through is None or to > through:
        table = table_of(MaturityProgress)
        db.session.execute(sa.update(table).where(table.c.kind == kind).values(through=to, updated_at=utcnow()))


def _scheduled(after: date | None, upto: date) -> list:
    """Scheduled registrations maturing after ``after`` (the clock's last day; None: it never
    ran) and up to ``upto``: one range of the due index."""
    r = Registration
    where = [r.status == "active", r.maturity_notice_stage == SCHEDULED, r.maturity_date <= upto]
    if after is not None:
        where.append(r.maturity_date > after)
    return where


def _queued(stage: int, where: list):
    """The queue's active registrations at ``stage`` matching ``where``, oldest first. One stage at
    a time, in date order, so the index yields the rows first to last and the planner takes it
    even when its statistics — which cannot know that stage and date go together — expect far
    more rows (it would read the whole table to find the first)."""
    r = Registration
    return (
        sa.select(r.id).where(r.status == "active", r.maturity_notice_stage == stage, *where).order_by(r.maturity_date)
    )


def _look(scheduled: list, queue: dict[int, list]) -> tuple[int, list[int]]:
    """What is due, in one read before any write: how many scheduled registrations, and which
    stages of the queue hold a due row — an empty queue, the usual case, costs no UPDATE."""
    count = sa.select(sa.func.count()).select_from(Registration).where(*scheduled).scalar_subquery()
    firsts = [_queued(stage, where).limit(1).scalar_subquery().is_not(None) for stage, where in queue.items()]
    row = db.session.execute(sa.select(count, *firsts)).one()
    return row[0], [stage for stage, waiting in zip(queue, row[1:], strict=True) if waiting]


def _take(stage: int, to: int, where: list) -> list:
    """One batch off the queue (see ``_queued``), moved to stage ``to``; returns its ids. A row a
    concurrent end holds locked is skipped: it is ended, or back, next tick."""
    table = table_of(Registration)
    batch = _queued(stage, where).limit(BATCH).with_for_update(skip_locked=True)
    # A plain table UPDATE: bookkeeping, not a change of the record (no version, no updated_at,
    # nothing for the tablets' change feed).
    return list(
        db.session.execute(
            sa.update(table)
            .where(table.c.id.in_(batch))
            .values(maturity_notice_stage=to, updated_at=table.c.updated_at)
            .returning(table.c.id)
        ).scalars()
    )


def _message_params(station, day, registration_id):
    """The template's parameters as the database's JSON: ``{"station": <name>, "day": "<ISO date>",
    "link": "R:<registration id, 32 hex>"}`` (``maturity_link``; the link is signed when the text is
    sent: app.short_links)."""
    station_key: sa.ColumnClause[str] = sa.literal_column("'station'")
    day_key: sa.ColumnClause[str] = sa.literal_column("'day'")
    link_key: sa.ColumnClause[str] = sa.literal_column("'link'")
    link = sa.literal(f"{LINK_PURPOSE}:") + uuid_key(registration_id)
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.func.json_build_object(
            station_key, station, day_key, sa.func.to_char(day, sa.literal_column("'YYYY-MM-DD'")), link_key, link
        )
    return sa.func.json_object(station_key, station, day_key, day, link_key, link)  # a date is its ISO text


def _queue(kind: str, key_prefix: str, where: list, now: datetime) -> int:
    """One outbox row of ``kind`` for every registration matching ``where`` whose resident has a
    phone and has not applied on it already, straight from the rows: one ``INSERT … SELECT``,
    dedupe keys already there ignored. Returns how many were new. The columns are those
    ``app.notify.outbox.outbox_row`` fills."""
    r, p, s = Registration, Resident, Station
    applied = hooks.already_applied(r)  # permits register theirs: residency does not import them
    stamp = sa.literal(now, UTCDateTime())
    values = {
        "id": new_uuid(),
        "kind": sa.literal(kind),
        "template": sa.literal(kind),
        "params": _message_params(s.name, r.maturity_date, r.id),
        "locale": sa.literal("zh"),
        "recipient_phone_enc": p.phone_enc,
        "recipient_bidx": p.phone_bidx,
        "station_id": r.station_id,
        "due_at": stamp,
        "next_attempt_at": stamp,
        "status": sa.literal("pending"),
        "attempts": sa.literal(0),
        "dedupe_key": sa.literal(key_prefix) + uuid_key(r.id),  # maturity_key / prenotice_key
        "created_at": stamp,
    }
    rows = (
        sa.select(*values.values())
        .select_from(r)
        .join(p, p.id == r.resident_id)
        .join(s, s.id == r.station_id)
        .where(*where, p.phone_enc.is_not(None), *(~clause for clause in applied))
    )
    insert = (
        insert_for(db.session)(table_of(Notification))
        .from_select(list(values), rows)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
    # An INSERT's result is a CursorResult, which knows its row count.
    inserted = cast(CursorResult[Any], db.session.execute(insert, execution_options={"preserve_rowcount": True}))
    return inserted.rowcount


def notify_matured(now: datetime) -> dict:
    """Every active registration whose maturity date has come (local date) and that has had no
    notice yet: one SMS (unless no phone, or the resident already applied on it), and the line
    on the daily list. ``matured`` counts the registrations, ``sms`` the messages queued."""
    today = local_today(now)
    through = _clock(NOTICE_CLOCK)
    scheduled = _scheduled(through, today)
    matured_by_date = [Registration.maturity_date <= today]
    matured, waiting = _look(scheduled, {PRENOTICED: matured_by_date, QUEUED: matured_by_date})
    sms = _queue("maturity_reached", NOTICE_KEY, scheduled, now) if matured else 0
    for stage in waiting:
        while ids := _take(stage, DONE, matured_by_date):
            matured += len(ids)
            sms += _queue("maturity_reached", NOTICE_KEY, [id_in(Registration.id, ids)], now)
            if len(ids) < BATCH:
                break
    _move(NOTICE_CLOCK, through, today)
    db.session.flush()
    return {"matured": matured, "sms": sms}


def notify_soon(now: datetime) -> dict:
    """The pre-notice: registrations maturing within the next N days that have had nothing yet."""
    days = current_app.config["MATURITY_PRENOTICE_DAYS"]
    if days <= 0:
        return {"prenotices": 0}
    today = local_today(now)
    end = today + timedelta(days=days)
    through = _clock(PRENOTICE_CLOCK)
    scheduled = _scheduled(max(through or today, today), end)
    in_window = [Registration.maturity_date > today, Registration.maturity_date <= end]
    due, waiting = _look(scheduled, {QUEUED: in_window})
    sent = _queue("maturity_soon", PRENOTICE_KEY, scheduled, now) if due else 0
    for stage in waiting:
        while ids := _take(stage, PRENOTICED, in_window):
            sent += _queue("maturity_soon", PRENOTICE_KEY, [id_in(Registration.id, ids)], now)
            if len(ids) < BATCH:
                break
    _move(PRENOTICE_CLOCK, through, end)
    db.session.flush()
    return {"prenotices": sent}


def run(now: datetime) -> dict:
    return {**notify_matured(now), **notify_soon(now)}


def cancel_reminders(registration_id) -> int:
    """Called in the transaction that ends a registration: its reminders not yet handed to a
    provider die with it (``dead``, 'registration ended'). One already ``sending`` goes out.

    The job reads scheduled registrations without locking them, so it may have read this one as
    active and be about to commit its SMS. Holding the clocks' rows shared first orders the two:
    a run in progress commits before the update below looks, and a run that starts later waits
    for this end and finds the registration ended. (The rows are made here if a clock never ran:
    a first run making its row at this moment is waited for as well.)"""
    progress = table_of(MaturityProgress)
    db.session.execute(
        insert_for(db.session)(progress)
        .values([{"kind": kind, "through": None, "updated_at": utcnow()} for kind in (NOTICE_CLOCK, PRENOTICE_CLOCK)])
        .on_conflict_do_nothing()
    )
    db.session.execute(sa.select(progress.c.kind).with_for_update(read=True, key_share=True)).all()
    table = table_of(Notification)
    result = cast(  # an UPDATE's result is a CursorResult, which knows its row count
        CursorResult[Any],
        db.session.execute(
            sa.update(table)
            .where(
                table.c.dedupe_key.in_([maturity_key(registration_id), prenotice_key(registration_id)]),
                table.c.status.in_(("pending", "failed")),
            )
            .values(status="dead", last_error="registration ended")
        ),
    )
    return result.rowcount


def daily_list(actor, day: date, area_id=None):
    """The station's list for ``day`` as the caller may see it: officers their areas, staff their
    station, administrators every station."""
    query = (
        sa.select(MaturityNotice)
        .join(Registration, Registration.id == MaturityNotice.registration_id)
        .join(Resident, Resident.id == Registration.resident_id)
        .options(contains_eager(MaturityNotice.registration).contains_eager(Registration.resident))
        .where(MaturityNotice.day == day)
        .order_by(MaturityNotice.area_id, Resident.name, Resident.id)
    )
    if area_id is not None:
        query = query.where(MaturityNotice.area_id == area_id)
    if actor.is_admin:
        return query
    if actor.role in FIELD_ROLES:
        return query.where(MaturityNotice.area_id.in_(actor.area_ids))
    return query.where(MaturityNotice.station_id == actor.station_id)


def registration_for_link(registration_id: str) -> Registration | None:
    """The registration a six-months SMS link names (app.short_links): unscoped, because the
    signed link is the capability; the page it opens shows the station, the date and a masked name."""
    try:
        key = uuid.UUID(registration_id)
    except ValueError:
        return None
    return db.session.get(Registration, key)
