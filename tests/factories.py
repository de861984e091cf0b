"""Factories: build records directly (fast) and return plain handles the tests can keep after
the app context that built them is gone."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from flask.testing import EnvironBuilder, FlaskClient
from jwt.algorithms import ECAlgorithm

from app import pii, unit_of_work
from app.auth.models import Device
from app.auth.passwords import hash_password
from app.db import utcnow
from app.extensions import db
from app.org.models import Area, Station, User

_seq = itertools.count(1)
PASSWORD = "correct horse battery"

# Private keys of the tablets the tests made, by the thumbprint their tokens name (cnf.jkt): the
# test client signs each request made with such a token, as the tablet's own HTTP layer does.
DEVICE_KEYS: dict[str, ec.EllipticCurvePrivateKey] = {}


def device_key(key: ec.EllipticCurvePrivateKey | None = None) -> ec.EllipticCurvePrivateKey:
    """A tablet key (new, or one a reference client made) the test client will sign with."""
    from app.auth.proof import thumbprint

    key = key or ec.generate_private_key(ec.SECP256R1())
    DEVICE_KEYS[thumbprint(ECAlgorithm.to_jwk(key.public_key(), as_dict=True))] = key
    return key


def _token_claims(headers) -> dict:
    scheme, _, token = (headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or token.count(".") != 2:
        return {}
    try:
        return jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}


class ProvingClient(FlaskClient):
    """The test client, adding a ``Device-Proof`` to every request whose token is bound to a key
    of ``DEVICE_KEYS`` (a request that carries its own proof, or none on purpose, is left alone)."""

    def open(self, *args, buffered=False, follow_redirects=False, **kwargs):
        if args and not isinstance(args[0], str):
            return super().open(*args, buffered=buffered, follow_redirects=follow_redirects, **kwargs)
        builder = EnvironBuilder(self.application, *args, **kwargs)
        try:
            jkt = _token_claims(builder.headers).get("cnf", {}).get("jkt")
            if jkt in DEVICE_KEYS and "Device-Proof" not in builder.headers:
                from app.auth import proof

                query = builder.query_string
                token = builder.headers["Authorization"].partition(" ")[2]
                builder.headers["Device-Proof"] = proof.sign(
                    DEVICE_KEYS[jkt],
                    builder.method,
                    builder.path + (f"?{query}" if query else ""),
                    token,
                    int(utcnow().timestamp()),
                )
            return super().open(builder, buffered=buffered, follow_redirects=follow_redirects)
        finally:
            builder.close()


def valid_identity(region="330106", born="19900307", serial=None) -> str:
    first17 = f"{region}{born}{serial if serial is not None else next(_seq) % 1000:03d}"
    return first17 + pii.identity_check_char(first17)


def mobile(n: int | None = None) -> str:
    return f"138{(n if n is not None else next(_seq)) % 10**8:08d}"


@dataclass
class StationH:
    id: object
    code: str


@dataclass
class AreaH:
    id: object
    station_id: object
    code: str


@dataclass
class UserH:
    id: object
    username: str | None
    role: str
    station_id: object | None
    area_ids: list = field(default_factory=list)
    password: str = PASSWORD
    phone: str | None = None


@dataclass
class DeviceH:
    id: object
    station_id: object
    private_key: object = None

    @property
    def public_jwk(self) -> dict:
        return ECAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)


class Factory:
    def __init__(self, app):
        self.app = app

    def station(self, code: str | None = None) -> StationH:
        with self.app.app_context():
            s = Station(code=code or f"ST{next(_seq):04d}", name="测试派出所")
            db.session.add(s)
            db.session.commit()
            return StationH(s.id, s.code)

    def area(self, station: StationH, code: str | None = None) -> AreaH:
        with self.app.app_context():
            a = Area(station_id=station.id, code=code or f"AR{next(_seq):04d}", name="测试社区")
            db.session.add(a)
            db.session.commit()
            return AreaH(a.id, a.station_id, a.code)

    def user(
        self,
        role: str,
        station: StationH | None = None,
        areas=(),
        *,
        phone: str | None = None,
        active: bool = True,
        username: str | None = None,
    ) -> UserH:
        with self.app.app_context():
            u = User(
                role=role,
                station_id=station.id if station else None,
                active=active,
                username=None if role == "citizen" else (username or f"{role}{next(_seq)}"),
                password_hash=None if role == "citizen" else hash_password(PASSWORD),
                display_name=role,
            )
            u.set_phone(phone)
            if areas:
                u.areas = [db.session.get(Area, a.id) for a in areas]
            db.session.add(u)
            db.session.commit()
            return UserH(u.id, u.username, role, u.station_id, [a.id for a in areas], phone=phone)

    def device(self, station: StationH, *, status: str = "active") -> DeviceH:
        with self.app.app_context():
            key = device_key()
            d = Device(
                station_id=station.id,
                label=f"Tablet {next(_seq)}",
                status=status,
                public_jwk=ECAlgorithm.to_jwk(key.public_key(), as_dict=True) if status != "pending" else None,
                enrolled_at=utcnow() if status != "pending" else None,
            )
            db.session.add(d)
            db.session.commit()
            return DeviceH(d.id, d.station_id, key)

    def tokens(self, user: UserH, device: DeviceH | None = None) -> dict:
        """Real tokens through the real service (citizens: minted directly, as OTP would)."""
        with self.app.app_context():
            if user.role == "citizen":
                from app.auth.services import _token_pair

                pair = _token_pair(db.session.get(User, user.id))
                db.session.commit()
                return pair
            from app.auth.services import login

            return unit_of_work.unit(lambda: login(user.username, user.password, device.id if device else None))

    def auth(self, user: UserH, device: DeviceH | None = None) -> dict:
        return {"Authorization": f"Bearer {self.tokens(user, device)['access_token']}"}


def if_match(client, url: str, headers: dict) -> dict:
    """``headers`` plus If-Match with the ETag a GET of the record at ``url`` answers now, as a
    console reads a record before it edits it (none when the caller cannot read it)."""
    etag = client.get(url, headers=headers).headers.get("ETag")
    return {**headers, "If-Match": etag} if etag else dict(headers)


@dataclass
class World:
    admin: UserH
    stations: list
    areas: dict  # station index -> [AreaH, AreaH]
    staff: dict  # station index -> UserH
    officer: dict
    auxiliary: dict
    citizen: UserH

    def user(self, role: str, i: int = 0) -> UserH:
        return {"admin": lambda: self.admin, "citizen": lambda: self.citizen}.get(
            role, lambda: getattr(self, role)[i]
        )()


def build_world(make: Factory) -> World:
    stations = [make.station(), make.station()]
    areas = {i: [make.area(s), make.area(s)] for i, s in enumerate(stations)}
    return World(
        admin=make.user("admin"),
        stations=stations,
        areas=areas,
        staff={i: make.user("staff", s, phone=mobile()) for i, s in enumerate(stations)},
        officer={i: make.user("officer", s, [areas[i][0]], phone=mobile()) for i, s in enumerate(stations)},
        auxiliary={i: make.user("auxiliary", s, [areas[i][1]]) for i, s in enumerate(stations)},
        citizen=make.user("citizen", phone=mobile()),
    )
