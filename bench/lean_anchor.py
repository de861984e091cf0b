"""The lean anchor: the least a Flask + SQLAlchemy Core service does to book a visit and to answer
"who am I", on the same database and the same process model as Doorstep.

``bench/api_latency.py`` times Doorstep's ``POST /api/v1/bookings`` and ``GET /api/v1/me`` beside
this app's twins and prints the ratio, so the gap says what Doorstep's layers cost over the stack
itself. The anchor is deliberately honest rather than minimal-at-any-price: it does the work no
implementation of the same contract can skip, with the same libraries:

* **Authentication:** a bearer JWT checked with pyjwt, one algorithm (HS256), ``exp``, ``aud``,
  ``iss`` and ``typ`` verified, then the account's row read (is it still active?).
* **Booking:** the JSON body parsed and checked field by field (area, day, window, address,
  contact phone), one conditional seat ``UPDATE … WHERE booked < capacity RETURNING`` (the
  capacity guard), one booking row, one outbox row (the SMS), one commit, a 201 with the booking.
* **Who am I:** the token check and the account row as JSON.

What it leaves out is what Doorstep adds on purpose: idempotency keys, the audit chain, the visit
and its timeline, personal numbers encrypted with a blind index, the working-day calendar, rate
limits, problem documents in two languages. The ratio is the price of those, plus any waste.

SQLite runs with the app's settings (WAL, ``synchronous=NORMAL``, a busy timeout); PostgreSQL with
the server's. Run it alone under gunicorn with ``gunicorn 'bench.lean_anchor:create_app()'``
(``DOORSTEP_DATABASE_URL`` names the database; ``seed()`` must have run on it).
"""

from __future__ import annotations

import os
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import jwt
import orjson
import sqlalchemy as sa
from flask import Flask, Response, g, request

SECRET = "lean-anchor-secret-of-at-least-32-bytes!"  # noqa: S105  (the benchmark's own throwaway key)
AUDIENCE = "anchor-api"
ISSUER = "anchor"
PHONE = re.compile(r"1[3-9]\d{9}")
WINDOWS = ("09:00", "10:00", "11:00", "14:00", "15:00", "16:00")

metadata = sa.MetaData()
account = sa.Table(
    "anchor_account",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("display_name", sa.String(64), nullable=False),
    sa.Column("station_id", sa.Uuid, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
)
seat = sa.Table(
    "anchor_seat",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("area_id", sa.Uuid, nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("window_start", sa.String(5), nullable=False),
    sa.Column("capacity", sa.Integer, nullable=False),
    sa.Column("booked", sa.Integer, nullable=False),
    sa.UniqueConstraint("area_id", "day", "window_start"),
)
booking = sa.Table(
    "anchor_booking",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("seat_id", sa.Integer, sa.ForeignKey("anchor_seat.id"), nullable=False),
    sa.Column("address", sa.String(200), nullable=False),
    sa.Column("contact_name", sa.String(50), nullable=False),
    sa.Column("contact_phone", sa.String(11), nullable=False),
    sa.Column("created_by", sa.Uuid, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
outbox = sa.Table(
    "anchor_outbox",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("phone", sa.String(11), nullable=False),
    sa.Column("text", sa.String(500), nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
)


# The app's WAL checkpoint interval (app.db.WAL_CHECKPOINT_PAGES; a test keeps the two equal).
WAL_CHECKPOINT_PAGES = 10_000


def engine_for(url: str) -> sa.Engine:
    """The app's SQLite settings (WAL, synchronous=NORMAL, its checkpoint interval, 5 s busy
    timeout), or the server's."""
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_size=5, max_overflow=5)
    engine = sa.create_engine(url, connect_args={"timeout": 5})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(conn: Any, _record: Any) -> None:
        cur = conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        cur.close()

    return engine


def seed(engine: sa.Engine, *, day: date, capacity: int) -> tuple[str, str, str]:
    """One station's area with every window of ``day`` open; returns (area id, account id, token)."""
    metadata.create_all(engine)
    area_id, station_id, account_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(
            account.insert(),
            {
                "id": account_id,
                "username": "anchor.staff",
                "display_name": "接线员",
                "station_id": station_id,
                "active": True,
            },
        )
        conn.execute(
            seat.insert(),
            [{"area_id": area_id, "day": day, "window_start": w, "capacity": capacity, "booked": 0} for w in WINDOWS],
        )
    return str(area_id), str(account_id), token_for(str(account_id))


def token_for(account_id: str) -> str:
    now = datetime.now(UTC)
    claims = {"sub": account_id, "aud": AUDIENCE, "iss": ISSUER, "iat": now, "exp": now + timedelta(hours=1)}
    return jwt.encode(claims, SECRET, algorithm="HS256", headers={"typ": "at+jwt"})


def _problem(status: int, field: str, reason: str) -> Response:
    body = {"status": status, "title": "Unprocessable", "errors": {field: [reason]}}
    return Response(orjson.dumps(body), status=status, mimetype="application/problem+json")


def create_app(url: str | None = None) -> Flask:
    app = Flask(__name__)
    engine = engine_for(url or os.environ["DOORSTEP_DATABASE_URL"])

    @app.before_request
    def _authenticate() -> Response | None:
        if request.path == "/readyz":
            return None
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return _problem(401, "Authorization", "missing")
        try:
            if jwt.get_unverified_header(header[7:]).get("typ") != "at+jwt":
                return _problem(401, "Authorization", "not an access token")
            claims = jwt.decode(
                header[7:],
                SECRET,
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.PyJWTError as exc:
            return _problem(401, "Authorization", str(exc))
        with engine.connect() as conn:
            row = conn.execute(sa.select(account).where(account.c.id == uuid.UUID(claims["sub"]))).first()
        if row is None or not row.active:
            return _problem(401, "Authorization", "no such account")
        g.account = row
        return None

    @app.get("/readyz")
    def ready() -> Response:
        return Response(b"ok", mimetype="text/plain")

    @app.get("/me")
    def me() -> Response:
        a = g.account
        body = {"id": str(a.id), "username": a.username, "display_name": a.display_name, "role": "staff"}
        return Response(orjson.dumps(body), mimetype="application/json")

    @app.post("/bookings")
    def book() -> Response:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return _problem(422, "body", "a JSON object")
        try:
            area_id = uuid.UUID(str(data.get("area_id")))
        except ValueError:
            return _problem(422, "area_id", "not a UUID")
        try:
            day = date.fromisoformat(str(data.get("day")))
        except ValueError:
            return _problem(422, "day", "not a date")
        window = data.get("window_start")
        if window not in WINDOWS:
            return _problem(422, "window_start", "no such window")
        address, name, phone = data.get("address"), data.get("contact_name"), data.get("contact_phone")
        if not isinstance(address, str) or not 1 <= len(address) <= 200:
            return _problem(422, "address", "1 to 200 characters")
        if not isinstance(name, str) or not 1 <= len(name) <= 50:
            return _problem(422, "contact_name", "1 to 50 characters")
        if not isinstance(phone, str) or not PHONE.fullmatch(phone):
            return _problem(422, "contact_phone", "a mainland mobile number")
        now = datetime.now(UTC)
        with engine.begin() as conn:
            taken = conn.execute(
                seat.update()
                .where(
                    seat.c.area_id == area_id,
                    seat.c.day == day,
                    seat.c.window_start == window,
                    seat.c.booked < seat.c.capacity,
                )
                .values(booked=seat.c.booked + 1)
                .returning(seat.c.id)
            ).first()
            if taken is None:
                return _problem(409, "window_start", "full")
            booking_id = uuid.uuid4()
            conn.execute(
                booking.insert(),
                {
                    "id": booking_id,
                    "seat_id": taken.id,
                    "address": address,
                    "contact_name": name,
                    "contact_phone": phone,
                    "created_by": g.account.id,
                    "created_at": now,
                },
            )
            conn.execute(
                outbox.insert(),
                {
                    "id": uuid.uuid4(),
                    "phone": phone,
                    "text": f"您已预约{day.isoformat()} {window}上门服务",
                    "due_at": now,
                },
            )
        body = {"id": str(booking_id), "day": day.isoformat(), "window_start": window, "status": "confirmed"}
        return Response(orjson.dumps(body), status=201, mimetype="application/json")

    return app
