"""Field work's scheduled jobs. Each tick selects what is due and not yet done, and the outbox's
dedupe key makes "done" a database fact, so a tick repeated, overlapped or run days late queues
each message once.

The decision and permit-ready notices are not here: ``field_api.permits.services`` queues them in
the transaction that decides (``application-decided:<id>``, ``permit-ready:<id>``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import sqlalchemy as sa
from flask import current_app

from app import workdays
from app.extensions import db
from app.notify.jobs import enqueue_absent
from app.notify.models import Notification
from app.notify.outbox import outbox_row
from app.notify.templates import TEMPLATES
from app.org.models import Station, User
from app.scheduler import job
from appointments.dispatch import states as visit_states
from appointments.dispatch.services import Visit
from field_api.delivery.services import Delivery
from field_api.permits.services import MATERIAL_NAMES, Material, Permit, PermitApplication
from field_api.residency.services import Resident, local_today, send_maturity_notices

# Owed materials matter while the case can still go on: approval is refused while any is owed.
OWING_STATUSES = ("submitted", "accepted", "under_review")
UNDECIDED = ("accepted", "under_review")

TEMPLATES.update(
    {
        "delivery_scheduled": {
            "zh": "【{station}】您的居住证{number}将于{day} {start}-{end}送证上门，请本人带身份证在家等候。",
            "en": "[{station}] Your permit {number} comes to your door {day} {start}-{end}. Please be home with "
            "your ID card.",
        },
        "materials_owed": {
            "zh": "【{station}】您的居住证申请{reference}尚缺{materials}，请于{due}前在小程序上传，或交给上门民警。",
            "en": "[{station}] Application {reference} needs {materials}: upload by {due} in the mini-program "
            "or hand to the officer.",
        },
        "review_deadline": {
            "zh": "【{station}】居住证申请{reference}的审核期限是{deadline}，请在期限前办结。",
            "en": "[{station}] Permit application {reference} must be decided by {deadline}.",
        },
    }
)


@job("field.maturity")
def maturity_notices(now: datetime) -> dict:
    """Six months matured today (or on a day the scheduler missed), and the pre-notice."""
    return send_maturity_notices(now)


def delivery_key(delivery_id) -> str:
    return f"delivery:{delivery_id}"


@job("field.delivery_scheduled")
def delivery_notices(now: datetime) -> dict:
    """A delivery visit exists: tell the resident its day and window, once per delivery."""
    today = local_today(now)
    rows = db.session.execute(
        sa.select(
            Delivery.id,
            Delivery.station_id,
            Permit.number,
            Visit.day,
            Visit.window_start,
            Visit.window_end,
            Resident.phone_enc,
            Resident.phone_bidx,
            Station.name,
        )
        .join(Visit, Visit.id == Delivery.visit_id)
        .join(Permit, Permit.id == Delivery.permit_id)
        .join(Resident, Resident.id == Permit.resident_id)
        .join(Station, Station.id == Delivery.station_id)
        .where(
            Delivery.status == "pending",
            Visit.status.in_(visit_states.OPEN),
            Visit.day >= today,
            Resident.phone_enc.isnot(None),
        )
    ).all()
    messages = [
        outbox_row(
            "delivery_scheduled",
            {
                "station": station,
                "number": number,
                "day": day.isoformat(),
                "start": start.strftime("%H:%M"),
                "end": end.strftime("%H:%M"),
            },
            phone_enc,
            phone_bidx,
            station_id=station_id,
            dedupe_key=delivery_key(delivery_id),
            now=now,
        )
        for delivery_id, station_id, number, day, start, end, phone_enc, phone_bidx, station in rows
    ]
    return {"delivery_notices": _absent_only(messages)}


def _absent_only(messages: list[dict]) -> int:
    """Skip the keys already queued with one indexed look-up, then insert the rest (the insert
    still ignores a key that appeared meanwhile)."""
    if not messages:
        return 0

    keys = [m["dedupe_key"] for m in messages]
    present = set(
        db.session.execute(sa.select(Notification.dedupe_key).where(Notification.dedupe_key.in_(keys))).scalars()
    )
    queued = enqueue_absent([m for m in messages if m["dedupe_key"] not in present])
    db.session.flush()
    return queued


def materials_key(application_id, n: int) -> str:
    return f"materials:{application_id}:{n}"


@job("field.materials_owed")
def materials_reminders(now: datetime) -> dict:
    """容缺: every N days after acceptance, while anything is still owed and the case is open,
    remind the resident. After downtime only the current period's reminder goes out (reminder
    n = whole periods since acceptance): three stale reminders at once would help nobody."""
    every = current_app.config["MATERIALS_REMINDER_DAYS"]
    if every <= 0:
        return {"materials_reminders": 0}
    today = local_today(now)
    rows = db.session.execute(
        sa.select(
            PermitApplication.id,
            PermitApplication.reference,
            PermitApplication.station_id,
            PermitApplication.accepted_at,
            Material.kind,
            Material.due_date,
            Resident.phone_enc,
            Resident.phone_bidx,
            Station.name,
        )
        .join(PermitApplication, PermitApplication.id == Material.application_id)
        .join(Resident, Resident.id == PermitApplication.resident_id)
        .join(Station, Station.id == PermitApplication.station_id)
        .where(
            Material.status == "owed",
            Material.due_date.isnot(None),
            PermitApplication.accepted_at.isnot(None),
            PermitApplication.status.in_(OWING_STATUSES),
            Resident.phone_enc.isnot(None),
        )
        .order_by(PermitApplication.id, Material.kind)
    ).all()
    owed = defaultdict(list)
    for app_id, reference, station_id, accepted_at, kind, due, phone_enc, phone_bidx, station in rows:
        owed[(app_id, reference, station_id, local_today(accepted_at), phone_enc, phone_bidx, station)].append(
            (kind, due)
        )
    messages = []
    for (app_id, reference, station_id, accepted_day, phone_enc, phone_bidx, station), items in owed.items():
        n = (today - accepted_day).days // every
        if n < 1:
            continue
        names = "、".join(MATERIAL_NAMES.get(kind, kind) for kind, _ in items)
        messages.append(
            outbox_row(
                "materials_owed",
                {
                    "station": station,
                    "reference": reference,
                    "materials": names,
                    "due": min(due for _, due in items).isoformat(),
                },
                phone_enc,
                phone_bidx,
                station_id=station_id,
                dedupe_key=materials_key(app_id, n),
                now=now,
            )
        )
    return {"materials_reminders": _absent_only(messages)}


def deadline_key(application_id, user_id) -> str:
    return f"deadline:{application_id}:{user_id}"


@job("field.review_deadline")
def deadline_warnings(now: datetime) -> dict:
    """Undecided applications whose review deadline is at most N working days away: one SMS per
    application to each active staff account of the competent station that has a phone. Staff,
    not the citizen: the promise is the station's to keep."""
    today = local_today(now)
    horizon = workdays.add_working_days(today, current_app.config["DEADLINE_WARNING_WORKING_DAYS"])
    apps = db.session.execute(
        sa.select(
            PermitApplication.id,
            PermitApplication.reference,
            PermitApplication.station_id,
            PermitApplication.review_deadline,
            Station.name,
        )
        .join(Station, Station.id == PermitApplication.station_id)
        .where(PermitApplication.status.in_(UNDECIDED), PermitApplication.review_deadline.between(today, horizon))
    ).all()
    if not apps:
        return {"deadline_warnings": 0}
    staff = defaultdict(list)
    for user_id, station_id, phone_enc, phone_bidx in db.session.execute(
        sa.select(User.id, User.station_id, User.phone_enc, User.phone_bidx).where(
            User.role == "staff",
            User.active.is_(True),
            User.phone_enc.isnot(None),
            User.station_id.in_({a.station_id for a in apps}),
        )
    ).all():
        staff[station_id].append((user_id, phone_enc, phone_bidx))
    messages = [
        outbox_row(
            "review_deadline",
            {"station": station, "reference": reference, "deadline": deadline.isoformat()},
            phone_enc,
            phone_bidx,
            station_id=station_id,
            user_id=user_id,
            dedupe_key=deadline_key(app_id, user_id),
            now=now,
        )
        for app_id, reference, station_id, deadline, station in apps
        for user_id, phone_enc, phone_bidx in staff[station_id]
    ]
    return {"deadline_warnings": _absent_only(messages)}
