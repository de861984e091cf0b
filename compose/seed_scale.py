"""``flask --app wsgi seed-scale``: a realistic data set at the size of the sub-bureau (27 stations,
2.5 million residents), to measure and rehearse operations at scale.

Why it is written the way it is:

* **Bulk Core inserts, not the ORM.** The ORM with the feed's commit hook costs milliseconds per
  record; 2.5 million residents would take hours. Each batch is built as plain tuples and written
  with PostgreSQL ``COPY`` (psycopg's ``cursor.copy``) or, on SQLite, one ``executemany``.
* **The change feed is written directly.** Tablets only see what is in ``sync_record``, and the
  ORM hook (sync/feed.py) never fires for Core inserts. So each batch also writes its feed rows —
  the same document text ``sync.documents`` builds (tests/test_seed_scale.py compares them), one row
  per record per scope — and takes its positions from the ``sync_counter`` row, locked last in the
  batch's transaction and advanced by the batch size, exactly as ``feed.publish`` does: positions
  stay in commit order even while the app is serving.
* **Resumable.** Every id is a UUIDv5 of (kind, index), and a batch is one transaction with its feed
  rows and counter advance. Re-running skips batches whose last resident exists, fills in a batch
  a smaller earlier run left partial, and goes on where it stopped.
* **Only valid personal data.** Identity numbers follow GB 11643 (real region codes, real birth
  dates, the check character from ``app.pii``), unique by construction (a bijection from the
  resident's index); numbers are encrypted and blind-indexed through ``app.pii`` like any other.

Not written: audit events (a seed is not an officer's act; the audit chain stays untouched) and
SMS (registrations already matured are marked as notified so the scheduler does not send 2 million
messages on its first tick).

It writes the tables of every domain at once (organisation, residency, bookings and visits, the
change feed), so it lives with the composition root, the one place that may know them all.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import Protocol, TypedDict

import click
import orjson
import sqlalchemy as sa
from flask import Flask
from flask.cli import with_appcontext
from tqdm import tqdm

from app import pii, unit_of_work
from app.auth.passwords import hash_password
from app.db import locked_row, table_of, utcnow
from app.extensions import db
from app.org.models import Area, Station, User
from app.workdays import local_now
from appointments.booking.models import Booking
from appointments.booking.services import REFERENCE_ALPHABET
from appointments.dispatch.models import Visit
from appointments.timeline import TimelineEvent
from appointments.windows.models import Slot, WindowTemplate
from doorstep_protocol.identity import check_character, mask, mask_phone
from field_api.residency.models import DONE, Registration, Resident, stage_for
from field_api.residency.services import maturity_date
from sync.feed import COUNTER_ID
from sync.models import ChangeCounter, SyncRecord

NAMESPACE = uuid.UUID("6f0d8c36-2f5e-5d1a-9a57-5eed5ca1e000")
AREAS_PER_STATION = 8
STAFF_PER_STATION = 2
AUXILIARIES_PER_STATION = 4
WINDOWS = ((9, 10), (10, 11), (14, 15), (15, 16))
WINDOW_CAPACITY = 4
HISTORY_DAYS = 730

# Real county-level region codes (GB/T 2260) with the province of the hukou address.
REGIONS = (
    ("110101", "北京市东城区"),
    ("110105", "北京市朝阳区"),
    ("120101", "天津市和平区"),
    ("130102", "河北省石家庄市长安区"),
    ("130602", "河北省保定市竞秀区"),
    ("140105", "山西省太原市小店区"),
    ("150102", "内蒙古呼和浩特市新城区"),
    ("210102", "辽宁省沈阳市和平区"),
    ("220102", "吉林省长春市南关区"),
    ("230102", "黑龙江省哈尔滨市道里区"),
    ("310101", "上海市黄浦区"),
    ("320102", "江苏省南京市玄武区"),
    ("320311", "江苏省徐州市泉山区"),
    ("330106", "浙江省杭州市西湖区"),
    ("330302", "浙江省温州市鹿城区"),
    ("340102", "安徽省合肥市瑶海区"),
    ("341202", "安徽省阜阳市颍州区"),
    ("350102", "福建省福州市鼓楼区"),
    ("360102", "江西省南昌市东湖区"),
    ("370102", "山东省济南市历下区"),
    ("371302", "山东省临沂市兰山区"),
    ("410102", "河南省郑州市中原区"),
    ("411502", "河南省信阳市浉河区"),
    ("411602", "河南省周口市川汇区"),
    ("420102", "湖北省武汉市江岸区"),
    ("421102", "湖北省黄冈市黄州区"),
    ("430102", "湖南省长沙市芙蓉区"),
    ("431102", "湖南省永州市零陵区"),
    ("440103", "广东省广州市荔湾区"),
    ("441302", "广东省惠州市惠城区"),
    ("450102", "广西南宁市兴宁区"),
    ("500101", "重庆市万州区"),
    ("500233", "重庆市忠县"),
    ("510104", "四川省成都市锦江区"),
    ("511302", "四川省南充市顺庆区"),
    ("520102", "贵州省贵阳市南明区"),
    ("530102", "云南省昆明市五华区"),
    ("610102", "陕西省西安市新城区"),
    ("620102", "甘肃省兰州市城关区"),
    ("640104", "宁夏银川市兴庆区"),
)
BORN_FROM = date(1950, 1, 1)
BORN_DAYS = (date(2007, 12, 31) - BORN_FROM).days + 1
SERIALS = 1000
SPACE = len(REGIONS) * BORN_DAYS * SERIALS  # distinct (region, birth date, serial) triples
# A multiplier coprime with SPACE makes index -> triple a bijection that still scatters neighbours.
STRIDE = next(p for p in (2_654_435_761, 2_246_822_519, 3_266_489_917, 668_265_263) if math.gcd(p, SPACE) == 1)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英霞平刚桂兰华建国红梅玉兰文辉志强海燕宇浩然欣怡子轩梓涵晨阳"
STREETS = ("北山街道", "东湖路", "滨江大道", "解放路", "人民路", "建设路", "和平里", "幸福巷", "工业园路", "学院路")
COMMUNITIES = ("北山", "东湖", "西溪", "南苑", "滨江", "翠苑", "文新", "古荡", "蒋村", "三墩", "祥符", "良渚")
EMPLOYERS = ("华东机械有限公司", "顺丰速运", "美团配送站", "永辉超市", "富士康科技", "城建集团项目部")
ETHNICITIES = ("汉族",) * 18 + ("回族", "壮族")
PHONE_PREFIXES = (
    "130",
    "131",
    "132",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "158",
    "159",
    "177",
    "180",
    "186",
    "187",
    "188",
    "189",
    "199",
)


def _id(*parts: object) -> uuid.UUID:
    """Deterministic ids: what makes a re-run find what an earlier one wrote."""
    return uuid.uuid5(NAMESPACE, ":".join(str(p) for p in parts))


def _h(i: int, salt: int) -> int:
    """A cheap deterministic scramble of an index, for spreading attributes without a PRNG's state."""
    return ((i + 1) * 0x9E3779B1 + salt * 0x85EBCA77) & 0xFFFFFFFF


def identity_number(i: int) -> str:
    """The i-th seeded identity number: unique for i < SPACE, valid under GB 11643."""
    x = (i * STRIDE + 12_345) % SPACE
    serial, x = x % SERIALS, x // SERIALS
    born = BORN_FROM + timedelta(days=x % BORN_DAYS)
    first17 = f"{REGIONS[x // BORN_DAYS][0]}{born:%Y%m%d}{serial:03d}"
    return first17 + check_character(first17)


def _hukou(identity: str, i: int) -> str:
    province = dict(REGIONS)[identity[:6]]
    return f"{province}{COMMUNITIES[_h(i, 3) % len(COMMUNITIES)]}村{_h(i, 4) % 40 + 1}组"


def _name(i: int, male: bool) -> str:
    h = _h(i, 1)
    given = GIVEN[(h >> 8) % len(GIVEN)] + ("" if h % 3 == 0 else GIVEN[(h >> 16) % len(GIVEN)])
    return SURNAMES[h % len(SURNAMES)] + given


def _phone(i: int) -> str | None:
    h = _h(i, 2)
    if h % 10 == 0:
        return None  # about one in ten has no mobile on file
    return PHONE_PREFIXES[h % len(PHONE_PREFIXES)] + f"{(i * 7_919 + h) % 10**8:08d}"


def _dump(data: dict[str, object]) -> str:
    return orjson.dumps(data).decode()


# --- writing in bulk -----------------------------------------------------------------------------

Row = tuple[object, ...]  # one table row, in the order of the columns it is written with
Change = tuple[str, str, str, str, int, str]  # entity, record id, scope kind, scope id, version, doc


def _bulk(table: sa.Table, columns: list[str], rows: list[Row]) -> None:
    """COPY on PostgreSQL (the driver streams rows; no per-row statement), executemany elsewhere.
    Runs on the session's connection, so it is part of the batch's transaction."""
    if not rows:
        return
    conn = db.session.connection()
    if conn.dialect.name == "postgresql":
        json_at = [k for k, c in enumerate(columns) if isinstance(table.c[c].type, sa.JSON)]
        raw = conn.connection.driver_connection
        if raw is None:  # a checked-out connection always has its driver's
            raise RuntimeError("the session's connection has no driver connection")
        quoted = ", ".join(f'"{c}"' for c in columns)
        with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
            for row in rows:
                values = list(row)
                for k in json_at:
                    values[k] = json.dumps(values[k], ensure_ascii=False)
                copy.write_row(values)
        return
    conn.execute(sa.insert(table), [dict(zip(columns, row, strict=True)) for row in rows])


SYNC_COLUMNS = ["entity", "record_id", "scope_kind", "scope_id", "seq", "op", "version", "doc", "reason", "changed_at"]


def _publish(changes: list[Change]) -> None:
    """Feed rows for (entity, record_id, scope_kind, scope_id, version, doc), numbered from the
    counter row, which is locked here — the last thing the batch does before it commits, as in
    ``sync.feed.publish`` — and advanced past them."""
    if not changes:
        return
    counter = locked_row(db.session, ChangeCounter, {"id": COUNTER_ID}, {"last_seq": 0, "pruned_before": 0})
    first, now = counter.last_seq + 1, utcnow()
    rows: list[Row] = [
        (entity, record_id, kind, scope, first + k, "upsert", version, doc, None, now)
        for k, (entity, record_id, kind, scope, version, doc) in enumerate(changes)
    ]
    _bulk(table_of(SyncRecord), SYNC_COLUMNS, rows)
    counter.last_seq = first + len(changes) - 1
    db.session.flush()


# --- the organisation: stations, areas, accounts, windows (ORM: small, and the feed hook publishes areas)


class _Org:
    """What the resident and visit batches need to know about one station."""

    def __init__(
        self, station_id: uuid.UUID, areas: list[uuid.UUID], officers: list[uuid.UUID], staff_id: uuid.UUID
    ) -> None:
        self.station_id, self.areas, self.officers, self.staff_id = station_id, areas, officers, staff_id


def seed_org(stations: int, password_hash: str, prefix: str) -> tuple[list[_Org], int]:
    """The stations with their areas and accounts; returns them and how many stations were new."""
    out, created = [], 0
    for s in range(stations):
        code = f"{prefix}{s + 1:02d}"
        station_id = _id("station", prefix, s)
        area_ids = [_id("area", prefix, s, a) for a in range(AREAS_PER_STATION)]
        officer_ids = [_id("officer", prefix, s, a) for a in range(AREAS_PER_STATION)]
        staff_id = _id("staff", prefix, s, 0)
        if db.session.get(Station, station_id) is None:
            created += 1
            db.session.add(Station(id=station_id, code=code, name=f"第{s + 1}派出所"))
            db.session.flush()
            areas = []
            for a, area_id in enumerate(area_ids):
                kind = "police_point" if a == AREAS_PER_STATION - 1 else "community"
                name = (
                    f"{COMMUNITIES[(s + a) % len(COMMUNITIES)]}{'警务室' if kind == 'police_point' else '社区'}{a + 1}"
                )
                area = Area(id=area_id, station_id=station_id, code=f"{code}-A{a + 1}", name=name, kind=kind)
                areas.append(area)
                db.session.add(area)
                for weekday in range(7):
                    for start, end in WINDOWS:
                        db.session.add(
                            WindowTemplate(
                                area_id=area_id,
                                weekday=weekday,
                                start_time=clock(start),
                                end_time=clock(end),
                                capacity=WINDOW_CAPACITY,
                            )
                        )
            db.session.flush()
            low = code.lower()
            for k in range(STAFF_PER_STATION):
                db.session.add(
                    User(
                        id=_id("staff", prefix, s, k),
                        username=f"{low}.staff{k + 1}",
                        role="staff",
                        station_id=station_id,
                        password_hash=password_hash,
                        display_name=f"接警员{k + 1}",
                    )
                )
            for a, officer_id in enumerate(officer_ids):
                officer = User(
                    id=officer_id,
                    username=f"{low}.officer{a + 1}",
                    role="officer",
                    station_id=station_id,
                    password_hash=password_hash,
                    display_name=f"社区民警{a + 1}",
                )
                officer.areas = [areas[a]]
                db.session.add(officer)
            for k in range(AUXILIARIES_PER_STATION):
                aux = User(
                    id=_id("auxiliary", prefix, s, k),
                    username=f"{low}.aux{k + 1}",
                    role="auxiliary",
                    station_id=station_id,
                    password_hash=password_hash,
                    display_name=f"辅警{k + 1}",
                )
                aux.areas = [areas[2 * k % AREAS_PER_STATION], areas[(2 * k + 1) % AREAS_PER_STATION]]
                db.session.add(aux)
            # Each station durable on its own (the feed hook publishes its areas to the station's
            # tablets at this commit); a stopped seed resumes with the next station.
            unit_of_work.commit_now("seed: one station's organisation")
        out.append(_Org(station_id, area_ids, officer_ids, staff_id))
    return out, created


# --- residents and registrations -------------------------------------------------------------------

RESIDENT_COLUMNS = [
    "id",
    "name",
    "sex",
    "ethnicity",
    "identity_enc",
    "identity_bidx",
    "phone_enc",
    "phone_bidx",
    "hukou_address",
    "photo_sha256",
    "version",
    "field_versions",
    "created_by_id",
    "created_at",
    "updated_at",
]
REGISTRATION_COLUMNS = [
    "id",
    "resident_id",
    "station_id",
    "area_id",
    "address",
    "start_date",
    "maturity_date",
    "reason",
    "housing",
    "landlord_name",
    "landlord_phone_enc",
    "employer_name",
    "status",
    "end_date",
    "end_reason",
    "active_key",
    "registered_by_id",
    "device_id",
    "version",
    "field_versions",
    "maturity_notice_stage",
    "created_at",
    "updated_at",
]


class _Planned(TypedDict):
    """One registration a seeded resident gets (``_registrations``)."""

    n: int
    area: int
    start: date
    end: date | None
    end_reason: str | None
    maturity: date


def _registrations(i: int, today: date) -> list[_Planned]:
    """One active registration for most people; one in twenty moved away (an ended registration
    only), one in twenty moved within the station (an ended one, then an active one in another area).
    ``n`` numbers them for their ids; ``area`` is the index of the area in the station."""
    h = _h(i, 5)
    kind = h % 20
    area = (i // 97) % AREAS_PER_STATION  # neighbours in index order live in the same area
    start = today - timedelta(days=h % HISTORY_DAYS)
    out: list[_Planned]
    if kind == 0:
        out = [
            {
                "n": 0,
                "area": area,
                "start": start,
                "end": min(today, start + timedelta(days=60 + h % 300)),
                "end_reason": "moved_away",
                "maturity": maturity_date(start),
            }
        ]
    elif kind == 1:
        earlier = start - timedelta(days=90 + h % 200)
        out = [
            {
                "n": 1,
                "area": (area + 1) % AREAS_PER_STATION,
                "start": earlier,
                "end": start - timedelta(days=1),
                "end_reason": "moved_away",
                "maturity": maturity_date(earlier),
            },
            {"n": 0, "area": area, "start": start, "end": None, "end_reason": None, "maturity": maturity_date(start)},
        ]
    else:
        out = [
            {"n": 0, "area": area, "start": start, "end": None, "end_reason": None, "maturity": maturity_date(start)}
        ]
    return out


def _resident_batch(
    indices: list[int], orgs: list[_Org], today: date, now: datetime
) -> tuple[list[Row], list[Row], list[Change]]:
    """(resident rows, registration rows, feed changes) for these resident indices."""
    residents: list[Row] = []
    registrations: list[Row] = []
    changes: list[Change] = []
    n_st = len(orgs)
    for i in indices:
        org = orgs[i % n_st]
        identity = identity_number(i)
        male = int(identity[16]) % 2 == 1
        phone = _phone(i)
        rid = _id("resident", i)
        name, sex, ethnicity = _name(i, male), "male" if male else "female", ETHNICITIES[_h(i, 6) % len(ETHNICITIES)]
        hukou = _hukou(identity, i)
        created = datetime.combine(today - timedelta(days=_h(i, 5) % HISTORY_DAYS + 120), clock(9), UTC)
        residents.append(
            (
                rid,
                name,
                sex,
                ethnicity,
                pii.encrypt(pii.IDENTITY, identity),
                pii.blind_index(pii.IDENTITY, identity),
                pii.encrypt(pii.PHONE, phone),
                pii.blind_index(pii.PHONE, phone),
                hukou,
                None,
                1,
                {},
                org.officers[0],
                created,
                now,
            )
        )
        active_areas = []
        for reg in _registrations(i, today):
            area_id = org.areas[reg["area"]]
            gid = _id("registration", i, reg["n"])
            h = _h(i, 7)
            housing = ("rented", "rented", "owned", "employer", "relatives")[h % 5]
            landlord = f"{SURNAMES[h % len(SURNAMES)]}先生" if housing == "rented" else None
            landlord_phone = _phone(i + 7_777_777) if housing == "rented" and h % 2 else None
            employer = EMPLOYERS[h % len(EMPLOYERS)] if housing == "employer" else None
            reason = ("work", "work", "work", "family", "study", "other")[(h >> 4) % 6]
            street = STREETS[(i // 97) % len(STREETS)]
            address = f"{street}{_h(i, 8) % 300 + 1}号{_h(i, 9) % 6 + 1}幢{_h(i, 10) % 20 + 1}0{_h(i, 11) % 4 + 1}室"
            active = reg["end"] is None
            # already matured: the notices are history, not something the scheduler should send now;
            # the rest as the app writes them (most found by date, the last few days queued)
            stage = DONE if (not active or reg["maturity"] <= today) else stage_for(reg["maturity"], today)
            registrations.append(
                (
                    gid,
                    rid,
                    org.station_id,
                    area_id,
                    address,
                    reg["start"],
                    reg["maturity"],
                    reason,
                    housing,
                    landlord,
                    pii.encrypt(pii.PHONE, landlord_phone),
                    employer,
                    "active" if active else "ended",
                    reg["end"],
                    reg["end_reason"],
                    f"{rid}:{org.station_id}" if active else None,
                    org.officers[reg["area"]],
                    None,
                    1,
                    {},
                    stage,
                    created,
                    now,
                )
            )
            if active:
                active_areas.append(str(area_id))
                changes.append(
                    (
                        "registration",
                        str(gid),
                        "area",
                        str(area_id),
                        1,
                        _dump(
                            {
                                "resident_id": str(rid),
                                "area_id": str(area_id),
                                "station_id": str(org.station_id),
                                "address": address,
                                "start_date": reg["start"].isoformat(),
                                "maturity_date": reg["maturity"].isoformat(),
                                "reason": reason,
                                "housing": housing,
                                "landlord_name": landlord,
                                "employer_name": employer,
                                "status": "active",
                            }
                        ),
                    )
                )
        if active_areas:
            doc = _dump(
                {
                    "name": name,
                    "sex": sex,
                    "ethnicity": ethnicity,
                    "identity_number": mask(identity),
                    "phone": mask_phone(phone),
                    "hukou_address": hukou,
                    "photo_sha256": None,
                }
            )
            for scope in sorted(set(active_areas)):
                changes.append(("resident", str(rid), "area", scope, 1, doc))
    return residents, registrations, changes


def _missing(batch: range) -> list[int]:
    """The indices of this batch not yet in the database: all, none, or (a smaller earlier run
    stopped inside this batch) the rest."""

    def exists(i: int) -> bool:
        return db.session.execute(sa.select(Resident.id).where(Resident.id == _id("resident", i))).first() is not None

    if exists(batch[-1]):
        return []
    if not exists(batch[0]):
        return list(batch)
    have = set(
        db.session.execute(sa.select(Resident.id).where(Resident.id.in_([_id("resident", i) for i in batch]))).scalars()
    )
    return [i for i in batch if _id("resident", i) not in have]


class _Progress(Protocol):
    """What the resident seeding reports to (a tqdm bar)."""

    def update(self, n: int) -> object: ...


def seed_residents(
    orgs: list[_Org], total: int, batch_size: int, today: date, progress: _Progress
) -> tuple[int, float]:
    """Returns (residents inserted by this run, seconds spent inserting them)."""
    inserted, busy = 0, 0.0
    for start in range(0, total, batch_size):
        batch = range(start, min(start + batch_size, total))
        todo = _missing(batch)
        db.session.rollback()  # end the read transaction: the write below takes its own locks
        if todo:
            began = time.perf_counter()
            residents, registrations, changes = _resident_batch(todo, orgs, today, utcnow())
            _bulk(table_of(Resident), RESIDENT_COLUMNS, residents)
            _bulk(table_of(Registration), REGISTRATION_COLUMNS, registrations)
            _publish(changes)
            unit_of_work.commit_now("seed: one batch of residents, so a stopped seed resumes after it")
            busy += time.perf_counter() - began
            inserted += len(todo)
        progress.update(len(batch))
    return inserted, busy


# --- bookings and visits for the coming days ---------------------------------------------------------


def seed_visits(orgs: list[_Org], days: int, today: date) -> int:
    """Per area and day, 0–3 phone bookings per window (within the officer's daily limit of 12),
    each with its visit: tomorrow's and the day after's dispatched to the area's officer, later
    days still waiting for staff. One station per transaction, skipped when already there."""
    slot_cols = ["id", "area_id", "day", "start_time", "end_time", "capacity", "booked"]
    booking_cols = [
        "id",
        "reference",
        "station_id",
        "area_id",
        "slot_id",
        "day",
        "window_start",
        "window_end",
        "purpose",
        "channel",
        "citizen_id",
        "created_by_id",
        "address",
        "contact_name",
        "contact_phone_enc",
        "caller_name",
        "caller_phone_enc",
        "notes",
        "locale",
        "status",
        "active_key",
        "idempotency_key",
        "request_hash",
        "created_at",
        "updated_at",
    ]
    visit_cols = [
        "id",
        "kind",
        "booking_id",
        "station_id",
        "area_id",
        "day",
        "window_start",
        "window_end",
        "address",
        "status",
        "officer_id",
        "assigned_at",
        "outcome_note",
        "version",
        "created_at",
        "updated_at",
    ]
    timeline_cols = ["booking_id", "at", "action", "status", "detail", "actor_role"]
    made = 0
    for s, org in enumerate(orgs):
        marker = _id("visit", org.station_id, 0, 0, 0, 0)
        if db.session.get(Visit, marker) is not None:
            continue
        now = utcnow()
        slots: list[Row] = []
        bookings: list[Row] = []
        visits: list[Row] = []
        timeline: list[Row] = []
        changes: list[Change] = []
        for a, area_id in enumerate(org.areas):
            for d in range(days):
                day = today + timedelta(days=d + 1)
                for w, (start, end) in enumerate(WINDOWS):
                    count = (0, 1, 2, 3)[_h(s * 1000 + a * 100 + d * 10 + w, 12) % 4] if (a, d, w) != (0, 0, 0) else 1
                    if not count:
                        continue
                    slot_id = _id("slot", org.station_id, a, d, w)
                    slots.append((slot_id, area_id, day, clock(start), clock(end), WINDOW_CAPACITY, count))
                    for n in range(count):
                        key = (org.station_id, a, d, w, n)
                        vid, bid = _id("visit", *key), _id("booking", *key)
                        digest = hashlib.sha256(bid.bytes).digest()
                        reference = "".join(REFERENCE_ALPHABET[b % len(REFERENCE_ALPHABET)] for b in digest[:8])
                        k = _h(int.from_bytes(digest[8:12], "big"), 13)
                        phone = PHONE_PREFIXES[k % len(PHONE_PREFIXES)] + f"{k % 10**8:08d}"
                        contact = SURNAMES[k % len(SURNAMES)] + GIVEN[(k >> 8) % len(GIVEN)]
                        purpose = ("registration", "registration", "permit_application", "other")[k % 4]
                        address = f"{STREETS[k % len(STREETS)]}{k % 300 + 1}号{(k >> 5) % 20 + 1}0{n + 1}室"
                        officer = org.officers[a] if d < 2 else None
                        status = "assigned" if officer else "requested"
                        bookings.append(
                            (
                                bid,
                                reference,
                                org.station_id,
                                area_id,
                                slot_id,
                                day,
                                clock(start),
                                clock(end),
                                purpose,
                                "phone",
                                None,
                                org.staff_id,
                                address,
                                contact,
                                pii.encrypt(pii.PHONE, phone),
                                None,
                                None,
                                "",
                                "zh",
                                "confirmed",
                                None,
                                f"seed-{bid}",
                                hashlib.sha256(f"seed-{bid}".encode()).hexdigest(),
                                now,
                                now,
                            )
                        )
                        version = 2 if officer else 1  # booked (1), then dispatched (2), as the services do
                        visits.append(
                            (
                                vid,
                                "booking",
                                bid,
                                org.station_id,
                                area_id,
                                day,
                                clock(start),
                                clock(end),
                                address,
                                status,
                                officer,
                                now if officer else None,
                                None,
                                version,
                                now,
                                now,
                            )
                        )
                        timeline.append((bid, now, "booked", "confirmed", {"channel": "phone"}, "staff"))
                        if officer:
                            timeline.append(
                                (bid, now, "visit_assigned", "assigned", {"officer": f"社区民警{a + 1}"}, "staff")
                            )
                            changes.append(
                                (
                                    "visit",
                                    str(vid),
                                    "officer",
                                    str(officer),
                                    version,
                                    _dump(
                                        {
                                            "kind": "booking",
                                            "status": status,
                                            "day": day.isoformat(),
                                            "window_start": f"{start:02d}:00",
                                            "window_end": f"{end:02d}:00",
                                            "address": address,
                                            "area_id": str(area_id),
                                            "officer_id": str(officer),
                                            "booking_reference": reference,
                                            "purpose": purpose,
                                            "contact_name": contact,
                                            "contact_phone": mask_phone(phone),
                                            "outcome_note": None,
                                        }
                                    ),
                                )
                            )
        # the marker visit (area 0, tomorrow, first window, first booking) is always among them
        _bulk(table_of(Slot), slot_cols, slots)
        _bulk(table_of(Booking), booking_cols, bookings)
        _bulk(table_of(Visit), visit_cols, visits)
        _bulk(table_of(TimelineEvent), timeline_cols, timeline)
        _publish(changes)
        unit_of_work.commit_now("seed: one day of visits, so a stopped seed resumes after it")
        made += len(visits)
    return made


# --- the command ------------------------------------------------------------------------------------


@click.command("seed-scale")
@click.option("--stations", default=27, show_default=True, type=click.IntRange(1, 99))
@click.option("--residents", default=2_500_000, show_default=True, type=click.IntRange(0, SPACE))
@click.option(
    "--batch",
    "batch_size",
    default=5_000,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Residents per transaction; keep it the same when resuming",
)
@click.option(
    "--visit-days",
    default=3,
    show_default=True,
    type=click.IntRange(0, 30),
    help="Coming days that get bookings and visits",
)
@click.option("--password", default=None, help="Password of every seeded account (default: a random one, printed once)")
@click.option("--prefix", default="SC", show_default=True, help="Station code prefix (SC01, SC02, …)")
@click.option("--no-progress", is_flag=True, help="No progress bar (logs, CI)")
@with_appcontext
@unit_of_work.in_unit
def seed_scale(
    stations: int,
    residents: int,
    batch_size: int,
    visit_days: int,
    password: str | None,
    prefix: str,
    no_progress: bool,
) -> None:
    """A realistic data set at scale (resumable: run it again to continue where it stopped)."""
    started = time.perf_counter()
    today = local_now().date()
    shown = password is None
    password = password or secrets.token_urlsafe(12)
    # One hash for every account: Argon2id is deliberately slow, and hundreds of hashes would cost a minute.
    orgs, new_stations = seed_org(stations, hash_password(password), prefix)
    click.echo(
        f"organisation: {stations} stations, {stations * AREAS_PER_STATION} areas, "
        f"{stations * (STAFF_PER_STATION + AREAS_PER_STATION + AUXILIARIES_PER_STATION)} accounts "
        f"(usernames {prefix.lower()}01.staff1, {prefix.lower()}01.officer1, {prefix.lower()}01.aux1, …)"
    )
    if shown and new_stations:
        click.echo(f"password of the {new_stations} new stations' accounts (shown once): {password}")
    with tqdm(
        total=residents,
        unit="res",
        unit_scale=True,
        disable=no_progress,
        file=sys.stderr,
        desc="residents",
        smoothing=0.1,
    ) as progress:
        inserted, busy = seed_residents(orgs, residents, batch_size, today, progress)
    visits = seed_visits(orgs, visit_days, today)
    click.echo(
        f"residents: {inserted} inserted this run ({residents - inserted} already there); "
        f"visits: {visits} inserted this run; total {time.perf_counter() - started:.1f} s"
    )
    if inserted:
        click.echo(f"seconds per 100,000 residents: {busy / inserted * 100_000:.1f}")
    else:
        click.echo("seconds per 100,000 residents: n/a (nothing left to insert)")


def register(app: Flask) -> None:
    """``seed-scale`` on the app's command line."""
    app.cli.add_command(seed_scale)
