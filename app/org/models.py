"""Organisation tables: the jurisdiction tree and the accounts that work in it."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import pii
from app.db import UTCDateTime, new_id, utcnow
from app.extensions import Model, db

ROLES = ("admin", "staff", "officer", "auxiliary", "citizen")
FIELD_ROLES = ("officer", "auxiliary")
AREA_KINDS = ("community", "police_point")

user_area = sa.Table(
    "user_area",
    db.metadata,
    sa.Column("user_id", sa.Uuid, sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("area_id", sa.Uuid, sa.ForeignKey("area.id", ondelete="CASCADE"), primary_key=True),
)


class Station(Model):
    __tablename__ = "station"
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    areas = relationship("Area", back_populates="station", order_by="Area.code")


class Area(Model):
    __tablename__ = "area"
    __table_args__ = (
        sa.UniqueConstraint("station_id", "code", name="uq_area_station_code"),
        sa.CheckConstraint("kind IN ('community', 'police_point')", name="kind"),
    )
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    station_id = mapped_column(sa.Uuid, sa.ForeignKey("station.id"), nullable=False, index=True)
    code: Mapped[str] = mapped_column(sa.String(32))
    name: Mapped[str] = mapped_column(sa.String(100))
    kind: Mapped[str] = mapped_column(sa.String(16), default="community")
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    station = relationship("Station", back_populates="areas")


class User(Model):
    """Every account: staff and field accounts log in with a password, citizens with an SMS code."""

    __tablename__ = "user_account"
    __table_args__ = (
        sa.CheckConstraint("role IN ('admin', 'staff', 'officer', 'auxiliary', 'citizen')", name="role"),
        sa.CheckConstraint("role IN ('admin', 'citizen') OR station_id IS NOT NULL", name="station_required"),
        sa.UniqueConstraint("role", "phone_bidx", name="uq_user_account_role_phone"),
    )
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    username = mapped_column(sa.String(64), unique=True, nullable=True)
    password_hash = mapped_column(sa.String(255), nullable=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    station_id = mapped_column(sa.Uuid, sa.ForeignKey("station.id"), nullable=True, index=True)
    display_name: Mapped[str] = mapped_column(sa.String(100), default="")
    phone_enc = mapped_column(sa.Text, nullable=True)
    phone_bidx = mapped_column(sa.String(64), nullable=True, index=True)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    # The console's language as the account chose it ("zh_CN", "en"); NULL: the browser's.
    locale = mapped_column(sa.String(8), nullable=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)

    station = relationship("Station")
    areas = relationship("Area", secondary=user_area, order_by="Area.code")

    @property
    def phone(self) -> str | None:
        enc: str | None = self.phone_enc
        return pii.decrypt(pii.PHONE, enc)

    def set_phone(self, normalized: str | None) -> None:
        self.phone_enc = pii.encrypt(pii.PHONE, normalized)
        self.phone_bidx = pii.blind_index(pii.PHONE, normalized)
