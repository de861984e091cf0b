"""The demo's day at the station, so every panel of the console has something to show on a
fresh ``make run``: visit windows, phone bookings for the coming days (some assigned), today's
visits at every stage, thirty days of past visits, residents whose six months mature this week, a
review past its deadline, an SMS that failed, and a tablet's sync conflict and rejected change.

What lies ahead goes through the services (bookings, assignments, registrations), exactly as a
clerk's work would. The past cannot: no service books a window that has closed or backdates an
outcome, so the history (past visits, the overdue review, the failed message) is written as rows
dated in the past. It writes several domains' tables, so it lives at the composition root."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from flask import Flask

from app import clock, pii, unit_buffer
from app.auth.actor import Actor
from app.auth.models import Device
from app.cli import add_demo_populator
from app.db import utcnow
from app.extensions import db
from app.notify.models import Notification
from app.org.models import Area, Station, User
from app.workdays import is_workday
from appointments.booking import services as bookings
from appointments.booking.models import Booking
from appointments.booking.services import new_reference
from appointments.dispatch import services as visits
from appointments.dispatch.models import Visit
from appointments.rating import services as ratings
from appointments.windows import services as windows
from appointments.windows.models import Slot
from doorstep_protocol.identity import check_character
from field_api.permits.models import PermitApplication
from field_api.residency import services as residents
from field_api.residency.models import Resident
from sync import push as sync_push

WINDOWS = [(time(9), time(12)), (time(14), time(17))]
STREETS = ["北山路", "东湖路", "学院路", "文三路", "天目山路", "莫干山路"]
NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄勇", "周婷", "吴强", "徐丽", "孙浩"]


def populate(station: Station, areas: Sequence[Area], staff: User, officers: Sequence[User]) -> dict[str, int]:
    """Fill the demo station; returns counts for the command to print."""
    rng = random.Random(20261204)  # noqa: S311 (a repeatable demo, not a secret)
    actor = Actor(user_id=staff.id, role="staff", station_id=station.id)
    for area in areas:
        windows.replace_template(
            actor, area.id, [{"weekday": d, "start": s, "end": e, "capacity": 8} for d in range(7) for s, e in WINDOWS]
        )
    today = clock.today()
    ahead = [d for d in (today + timedelta(days=k) for k in range(1, 15)) if is_workday(d)][:3]
    made = 0
    for day in (ahead[0], ahead[0], ahead[0], ahead[1], ahead[1], ahead[2]):
        area = areas[made % len(areas)]
        start, _end = WINDOWS[made % 2]
        booking, _created = bookings.create(
            actor,
            {
                "area_id": area.id,
                "day": day,
                "window_start": start,
                "purpose": "registration" if made % 3 else "permit_application",
                "address": f"{STREETS[made % len(STREETS)]}{10 + made}号{made + 1}0{made + 1}室",
                "contact_name": NAMES[made],
                "contact_phone": f"1391234{5600 + made:04d}",
                "caller_name": NAMES[made],
                "caller_phone": f"1391234{5600 + made:04d}",
                "notes": "",
            },
            f"demo-booking-{made}",
        )
        if made % 2 == 0 and officers and area.id in {a.id for a in officers[0].areas}:
            visits.assign(actor, booking.visit.id, officers[0].id)
        made += 1
    history = _history(rng, station, areas, staff, officers, today)
    _ratings(rng, station)
    matured = _maturing(actor, areas, today)
    _overdue_review(station, staff, areas, today)
    _failed_sms(station)
    _tablet_work(station, areas, staff, officers, today)
    db.session.flush()  # the seed-demo command's unit of work commits
    return {"bookings": made, "past_visits": history, "maturing": matured}


def _visit_row(
    station: Station,
    area: Area,
    staff: User,
    day: date,
    window: tuple[time, time],
    status: str,
    officer: User | None = None,
    done_at: datetime | None = None,
    created_at: datetime | None = None,
    n: int = 0,
) -> Visit:
    slot = db.session.execute(
        sa.select(Slot).where(Slot.area_id == area.id, Slot.day == day, Slot.start_time == window[0])
    ).scalar_one_or_none()
    if slot is None:
        slot = Slot(area_id=area.id, day=day, start_time=window[0], end_time=window[1], capacity=8, booked=0)
        db.session.add(slot)
        db.session.flush()
    slot.booked += 1
    created = created_at or datetime.combine(day - timedelta(days=2), time(10), tzinfo=clock.LOCAL_TZ)
    phone = f"1371234{n % 10000:04d}"
    booking = Booking(
        reference=new_reference(),
        station_id=station.id,
        area_id=area.id,
        slot_id=slot.id,
        day=day,
        window_start=window[0],
        window_end=window[1],
        purpose="registration",
        channel="phone",
        created_by_id=staff.id,
        address=f"{STREETS[n % len(STREETS)]}{n % 90 + 1}号",
        contact_name=NAMES[n % len(NAMES)],
        contact_phone_enc=pii.encrypt(pii.PHONE, phone),
        caller_name=NAMES[n % len(NAMES)],
        caller_phone_enc=pii.encrypt(pii.PHONE, phone),
        idempotency_key=f"demo-history-{n}",
        request_hash="demo",
        status={"completed": "completed", "not_home": "not_home"}.get(status, "confirmed"),
        created_at=created,
        updated_at=created,
    )
    db.session.add(booking)
    db.session.flush()
    visit = Visit(
        kind="booking",
        booking_id=booking.id,
        station_id=station.id,
        area_id=area.id,
        day=day,
        window_start=window[0],
        window_end=window[1],
        address=booking.address,
        status=status,
        officer_id=officer.id if officer else None,
        assigned_at=created if officer else None,
        created_at=created,
        updated_at=done_at or created,
    )
    db.session.add(visit)
    return visit


def _history(
    rng: random.Random,
    station: Station,
    areas: Sequence[Area],
    staff: User,
    officers: Sequence[User],
    today: date,
) -> int:
    """Thirty days of visits behind today, most done in their window, some late or not at home;
    and today's visits at every stage."""
    n = 1000
    for back in range(30, 0, -1):
        day = today - timedelta(days=back)
        for _i in range(rng.randint(1, 5)):
            window = WINDOWS[rng.randint(0, 1)]
            late = rng.random() < 0.15
            closes = datetime.combine(day, window[1], tzinfo=clock.LOCAL_TZ)
            done_at = closes + timedelta(hours=2) if late else closes - timedelta(minutes=rng.randint(20, 150))
            status = "not_home" if rng.random() < 0.1 else "completed"
            created = datetime.combine(
                day - timedelta(days=rng.randint(1, 4)), time(rng.randint(8, 19)), tzinfo=clock.LOCAL_TZ
            )
            _visit_row(
                station,
                areas[n % len(areas)],
                staff,
                day,
                window,
                status,
                officers[n % len(officers)] if officers else None,
                done_at,
                created,
                n,
            )
            n += 1
    officer = officers[0] if officers else None
    now = clock.now()
    for i, status in enumerate(
        ("requested", "requested", "requested", "assigned", "assigned", "en_route", "completed")
    ):
        window = WINDOWS[i % 2]
        _visit_row(
            station,
            areas[0],
            staff,
            today,
            window,
            status,
            None if status == "requested" else officer,
            now - timedelta(minutes=30) if status == "completed" else None,
            now - timedelta(hours=20 - i),
            n,
        )
        n += 1
    return n - 1000


def _ratings(rng: random.Random, station: Station) -> int:
    """Stars for about half of the past month's completed visits, given through the rating service
    by a demo citizen whose bookings they become (the history is phone bookings, which have no
    account), so the dashboard's ratings panel has figures to show."""
    citizen = User(role="citizen", display_name="")
    citizen.set_phone("13700001234")
    db.session.add(citizen)
    db.session.flush()
    done = (
        db.session.execute(
            sa.select(Visit)
            .where(Visit.station_id == station.id, Visit.status == "completed", Visit.day < clock.today())
            .order_by(Visit.day, Visit.window_start)
        )
        .scalars()
        .all()
    )
    who = Actor(user_id=citizen.id, role="citizen", station_id=None)
    rated = 0
    for visit in done[::2]:
        visit.booking.citizen_id = citizen.id
        db.session.flush()
        ratings.rate(who, visit.id, rng.choice((5, 5, 5, 4, 4, 3, 2)), rng.choice(("", "", "民警很耐心", "准时上门")))
        rated += 1
    return rated


def _identity(serial: int) -> str:
    first17 = f"33010619{88 + serial % 10:02d}0{serial % 9 + 1}1{serial % 9}{serial % 1000:03d}"
    return first17 + check_character(first17)


def _maturing(actor: Actor, areas: Sequence[Area], today: date) -> int:
    """Residents whose six months mature from today to a week on, registered the day they moved in."""
    count = 0
    for k in range(7):
        start = today + timedelta(days=k) - relativedelta(months=6)
        if residents.maturity_date(start) != today + timedelta(days=k):
            continue  # month ends: no start date matures that day
        residents.register_residence(
            actor,
            {
                "area_id": areas[k % len(areas)].id,
                "address": f"{STREETS[k % len(STREETS)]}{k + 3}号",
                "start_date": start,
                "reason": "work",
                "housing": "rented",
                "landlord_name": "王先生",
                "resident": {
                    "name": NAMES[(k + 5) % len(NAMES)],
                    "sex": "male" if k % 2 else "female",
                    "identity_number": _identity(k + 1),
                    "phone": f"1381234{5700 + k:04d}",
                },
            },
        )
        count += 1
    return count


def _overdue_review(station: Station, staff: User, areas: Sequence[Area], today: date) -> None:
    """An application under review whose 15 working days ran out three days ago (history)."""
    actor = Actor(user_id=staff.id, role="staff", station_id=station.id)
    registration = residents.register_residence(
        actor,
        {
            "area_id": areas[0].id,
            "address": "学院路88号",
            "start_date": today - relativedelta(months=8),
            "reason": "work",
            "housing": "owned",
            "resident": {"name": "周婷", "sex": "female", "identity_number": _identity(40), "phone": "13812349900"},
        },
    )
    accepted = datetime.combine(today - timedelta(days=24), time(10), tzinfo=clock.LOCAL_TZ)
    db.session.add(
        PermitApplication(
            reference=new_reference(),
            resident_id=registration.resident_id,
            registration_id=registration.id,
            channel="window",
            accepting_station_id=station.id,
            station_id=station.id,
            status="under_review",
            open_key=str(registration.resident_id),
            accepted_at=accepted,
            review_deadline=today - timedelta(days=3),
            created_by_id=staff.id,
            created_at=accepted,
            updated_at=accepted,
        )
    )
    db.session.flush()


def _failed_sms(station: Station) -> None:
    """The provider refused two bookings' confirmations for good: staff see them and may retry
    them (two, so that a walk can send one again and the dashboard still has one to show).
    The bookings' confirmations are still buffered for the unit's commit: written now, to be found."""
    unit_buffer.write_now(db.session())
    rows = db.session.execute(
        sa.select(Notification).where(Notification.station_id == station.id).order_by(Notification.created_at)
    ).scalars()
    dead: list[Notification] = []
    for row in rows:  # the first, and the first to another number
        if len(dead) < 2 and all(row.recipient_bidx != d.recipient_bidx for d in dead):
            dead.append(row)
    for row in dead:
        row.status, row.attempts, row.last_error = "dead", 6, "provider: 号码无法接通 (unreachable number)"


def _tablet_work(station: Station, areas: Sequence[Area], staff: User, officers: Sequence[User], today: date) -> None:
    """What an officer's tablet brought back that sync could not settle alone, through the push
    service as a real tablet's push: a resident whose name, household address and phone were
    corrected at the desk while the officer, offline, corrected them otherwise (a conflict), and a
    registration in an area not the officer's (a rejected change)."""
    if not officers or not officers[0].areas:
        return
    officer = officers[0]
    mine = officer.areas[0]
    other = next((a for a in areas if a.id not in {x.id for x in officer.areas}), None)
    desk = Actor(user_id=staff.id, role="staff", station_id=station.id)
    registration = residents.register_residence(
        desk,
        {
            "area_id": mine.id,
            "address": "北山路66号2单元301",
            "start_date": today - relativedelta(months=2),
            "reason": "work",
            "housing": "rented",
            "landlord_name": "钱房东",
            "landlord_phone": "13812347700",
            "resident": {
                "name": "孙浩",
                "sex": "male",
                "identity_number": _identity(41),
                "phone": "13812347701",
                "hukou_address": "安徽省合肥市蜀山区",
            },
        },
    )
    resident_id = registration.resident_id
    base = db.session.get_one(Resident, resident_id).version  # registered just above
    residents.update_resident(
        desk, resident_id, {"name": "孙皓", "hukou_address": "安徽省合肥市包河区", "phone": "13812347702"}
    )
    device = Device(station_id=station.id, label="北山社区-1", status="active", enrolled_at=utcnow())
    db.session.add(device)
    db.session.flush()
    tablet = Actor(
        user_id=officer.id,
        role=officer.role,
        station_id=station.id,
        device_id=device.id,
        area_ids=frozenset(a.id for a in officer.areas),
    )
    occurred = utcnow().isoformat()
    mutations: list[dict[str, object]] = [
        {
            "mutation_id": uuid.uuid4(),
            "seq": 1,
            "entity": "resident",
            "op": "update",
            "id": str(resident_id),
            "base_version": base,
            "data": {"name": "孙浩然", "hukou_address": "安徽省六安市金安区", "phone": "13812347703"},
            "occurred_at": occurred,
        }
    ]
    if other is not None:
        mutations.append(
            {
                "mutation_id": uuid.uuid4(),
                "seq": 2,
                "entity": "registration",
                "op": "create",
                "id": str(uuid.uuid4()),
                "base_version": None,
                "data": {
                    "resident_id": None,
                    "resident": {
                        "name": "吴强",
                        "sex": "male",
                        "identity_number": _identity(42),
                        "phone": "13812347704",
                    },
                    "area_id": str(other.id),
                    "address": "东湖路9号",
                    "start_date": (today - relativedelta(months=1)).isoformat(),
                    "reason": "family",
                    "housing": "owned",
                },
                "occurred_at": occurred,
            }
        )
    sync_push.push(tablet, device.id, mutations, occurred)


def register(app: Flask) -> None:
    """Fill ``seed-demo``'s station with the demo's day (the kernel's command calls it)."""
    add_demo_populator(app, _populate_and_summarise)


def _populate_and_summarise(station: Station, areas: Sequence[Area], staff: User, officers: Sequence[User]) -> str:
    made = populate(station, areas, staff, officers)
    return (
        f"Demo station {station.name}: {made['bookings']} bookings ahead, {made['past_visits']} visits "
        f"in the last 30 days, {made['maturing']} residences maturing this week."
    )
