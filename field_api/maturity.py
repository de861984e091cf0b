"""Six months of residence mature: the resident is told they can apply for a residence permit
(and, ``DOORSTEP_MATURITY_PRENOTICE_DAYS`` before, that they soon can), and the area's officers
find the resident on the station's daily list.

What is due is a database fact, not a plan: ``registration.maturity_notice_stage`` is 0 until the
pre-notice is queued (1) and until the maturity notice is done (2), and the index
``(status, maturity_notice_stage, maturity_date)`` holds exactly the active registrations still
owed something, in date order. A tick therefore reads only the due rows however many matured
registrations the table keeps, and a tick after days of downtime reads every day it missed. Each
batch queues the SMS, writes the list line and advances the stage in one transaction; the SMS
insert ignores a dedupe key already present (``maturity:<registration>``), so two schedulers
overlapping for a moment still send one message.

The resident's phone ciphertext is copied as it is into the outbox row: both columns hold
``pii.PHONE`` ciphertexts (the purpose is the AES-GCM associated data), so nothing is decrypted
on this path and a scan of a million rows does no cryptography.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import contains_eager

from app.bulk import id_in, insert_ignoring
from app.extensions import db
from app.notify.jobs import enqueue_absent, outbox_row
from app.notify.models import Notification
from app.notify.templates import TEMPLATES
from app.org.models import FIELD_ROLES, Station
from app.workdays import LOCAL_TZ
from field_api.models import MaturityNotice, PermitApplication, Registration, Resident

NONE, PRENOTICED, DONE = 0, 1, 2
BATCH = 2000

TEMPLATES.update({
    "maturity_reached": {
        "zh": "【{station}】您的居住登记已于{day}满六个月，可以申领居住证了：在小程序在线申请，或预约民警上门办理。",
        "en": "[{station}] Six months of residence reached {day}: apply for a residence permit in the "
              "mini-program or book a visit.",
    },
    "maturity_soon": {
        "zh": "【{station}】您的居住登记将于{day}满六个月，届时可在小程序申领居住证，或预约民警上门办理。",
        "en": "[{station}] Six months of residence on {day}: then apply for a residence permit in the "
              "mini-program or book a visit.",
    },
})


def maturity_key(registration_id) -> str:
    return f"maturity:{registration_id}"


def prenotice_key(registration_id) -> str:
    return f"maturity-pre:{registration_id}"


def local_today(now: datetime) -> date:
    return now.astimezone(LOCAL_TZ).date()


def _due(today: date, stage: int, *, after: date | None = None):
    """One stage at a time, in date order: the index then yields exactly the due rows, first to
    last, and the planner takes it even when its statistics — which cannot know that stage and
    date go together — expect a fifth of the table."""
    r = Registration
    applied = sa.exists().where(PermitApplication.resident_id == r.resident_id,
                                PermitApplication.registration_id == r.id)
    query = (sa.select(r.id, r.station_id, r.area_id, r.maturity_date, Resident.phone_enc, Resident.phone_bidx,
                       Station.name, applied.label("applied"))
             .join(Resident, Resident.id == r.resident_id).join(Station, Station.id == r.station_id)
             .where(r.status == "active", r.maturity_notice_stage == stage, r.maturity_date <= today))
    if after is not None:
        query = query.where(r.maturity_date > after)
    # A registration being ended right now is skipped, not waited for: it is gone next tick.
    return query.order_by(r.maturity_date).limit(BATCH).with_for_update(of=r, skip_locked=True)


def _advance(ids: list, stage: int) -> None:
    table = Registration.__table__
    # A plain table UPDATE: bookkeeping, not a change of the record (no version, no updated_at,
    # nothing for the tablets' change feed).
    db.session.execute(sa.update(table).where(id_in(table.c.id, ids), table.c.maturity_notice_stage < stage)
                       .values(maturity_notice_stage=stage, updated_at=table.c.updated_at))


def notify_matured(now: datetime) -> dict:
    """Every active registration whose maturity date has come (local date) and that has no notice
    yet: one SMS (unless no phone, or the resident already applied on it) and one list line."""
    today = local_today(now)
    matured = sms = 0
    for stage in (PRENOTICED, NONE):
        done = _notify_matured(today, stage, now)
        matured, sms = matured + done[0], sms + done[1]
    return {"matured": matured, "sms": sms}


def _notify_matured(today: date, stage: int, now: datetime) -> tuple[int, int]:
    matured = sms = 0
    while True:
        rows = db.session.execute(_due(today, stage)).all()
        if not rows:
            break
        lines, messages = [], []
        for reg_id, station_id, area_id, day, phone_enc, phone_bidx, station, applied in rows:
            send = phone_enc is not None and not applied
            lines.append({"registration_id": reg_id, "station_id": station_id, "area_id": area_id, "day": day,
                          "sms": send, "created_at": now})
            if send:
                messages.append(outbox_row("maturity_reached", {"station": station, "day": day.isoformat()},
                                           phone_enc, phone_bidx, station_id=station_id,
                                           dedupe_key=maturity_key(reg_id), now=now))
        insert_ignoring(MaturityNotice.__table__, lines, ["registration_id"])
        sms += enqueue_absent(messages)
        _advance([r[0] for r in rows], DONE)
        db.session.commit()
        matured += len(rows)
        if len(rows) < BATCH:
            break
    return matured, sms


def notify_soon(now: datetime) -> dict:
    """The pre-notice: registrations maturing within the next N days that have had nothing yet."""
    days = current_app.config["MATURITY_PRENOTICE_DAYS"]
    if days <= 0:
        return {"prenotices": 0}
    today = local_today(now)
    sent = 0
    while True:
        rows = db.session.execute(_due(today + timedelta(days=days), NONE, after=today)).all()
        if not rows:
            break
        messages = [outbox_row("maturity_soon", {"station": station, "day": day.isoformat()}, phone_enc, phone_bidx,
                               station_id=station_id, dedupe_key=prenotice_key(reg_id), now=now)
                    for reg_id, station_id, _area, day, phone_enc, phone_bidx, station, applied in rows
                    if phone_enc is not None and not applied]
        sent += enqueue_absent(messages)
        _advance([r[0] for r in rows], PRENOTICED)
        db.session.commit()
        if len(rows) < BATCH:
            break
    return {"prenotices": sent}


def run(now: datetime) -> dict:
    return {**notify_matured(now), **notify_soon(now)}


def cancel_reminders(registration_id) -> int:
    """Called in the transaction that ends a registration: its reminders not yet handed to a
    provider die with it (``dead``, 'registration ended'). One already ``sending`` goes out."""
    table = Notification.__table__
    result = db.session.execute(sa.update(table).where(
        table.c.dedupe_key.in_([maturity_key(registration_id), prenotice_key(registration_id)]),
        table.c.status.in_(("pending", "failed"))).values(status="dead", last_error="registration ended"))
    return result.rowcount


def daily_list(actor, day: date, area_id=None):
    """The station's list for ``day`` as the caller may see it: officers their areas, staff their
    station, administrators every station."""
    query = (sa.select(MaturityNotice).join(Registration, Registration.id == MaturityNotice.registration_id)
             .join(Resident, Resident.id == Registration.resident_id)
             .options(contains_eager(MaturityNotice.registration).contains_eager(Registration.resident))
             .where(MaturityNotice.day == day).order_by(MaturityNotice.area_id, Resident.name, Resident.id))
    if area_id is not None:
        query = query.where(MaturityNotice.area_id == area_id)
    if actor.is_admin:
        return query
    if actor.role in FIELD_ROLES:
        return query.where(MaturityNotice.area_id.in_(actor.area_ids))
    return query.where(MaturityNotice.station_id == actor.station_id)
