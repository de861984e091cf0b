"""Permit applications with their materials (容缺: owed ones), events and permits."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import mapped_column, relationship

from app.db import UTCDateTime, new_id, one_of, utcnow
from app.extensions import Model

CHANNELS = ("online", "visit", "window")
APPLICATION_STATUSES = (
    "submitted",
    "accepted",
    "under_review",
    "returned",
    "approved",
    "rejected",
    "issued",
    "out_for_delivery",
    "delivered",
)
MATERIAL_STATUSES = ("provided", "owed")
# The materials an application may carry, the one list of them, with the name a text to a resident
# gives each (the console's and the H5's labels are translations beside their pages).
MATERIAL_NAMES = {
    "identity_card": "身份证",
    "rental_contract": "租房合同",
    "property_certificate": "房产证明",
    "employer_proof": "单位证明",
    "photo": "照片",
}
MATERIAL_KINDS = tuple(MATERIAL_NAMES)


class PermitApplication(Model):
    __tablename__ = "permit_application"
    __table_args__ = (
        sa.CheckConstraint(one_of("channel", CHANNELS), name="channel"),
        sa.CheckConstraint(one_of("status", APPLICATION_STATUSES), name="status"),
        sa.Index("ix_permit_application_station_status", "station_id", "status"),
        sa.Index("ix_permit_application_deadline", "station_id", "review_deadline"),
    )
    id = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    reference = mapped_column(sa.String(8), unique=True, nullable=False)
    resident_id = mapped_column(sa.Uuid, sa.ForeignKey("resident.id"), nullable=False, index=True)
    registration_id = mapped_column(sa.Uuid, sa.ForeignKey("registration.id"), nullable=False)
    channel = mapped_column(sa.String(8), nullable=False)
    accepting_station_id = mapped_column(sa.Uuid, sa.ForeignKey("station.id"), nullable=False)
    station_id = mapped_column(sa.Uuid, sa.ForeignKey("station.id"), nullable=False)
    status = mapped_column(sa.String(16), nullable=False, default="submitted")
    # the resident's id while the application is open: one open application per person.
    open_key = mapped_column(sa.String(40), unique=True, nullable=True)
    accepted_at = mapped_column(UTCDateTime, nullable=True)
    review_deadline = mapped_column(sa.Date, nullable=True)
    decision_code = mapped_column(sa.String(32), nullable=True)
    decision_text = mapped_column(sa.String(500), nullable=True)
    decided_at = mapped_column(UTCDateTime, nullable=True)
    decided_by_id = mapped_column(sa.Uuid, sa.ForeignKey("user_account.id"), nullable=True)
    created_by_id = mapped_column(sa.Uuid, sa.ForeignKey("user_account.id"), nullable=False)
    version = mapped_column(sa.Integer, nullable=False, default=1)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)

    resident = relationship("Resident")
    registration = relationship("Registration")
    materials = relationship("Material", order_by="Material.kind", back_populates="application")
    events = relationship("ApplicationEvent", order_by="ApplicationEvent.id", viewonly=True)
    permit = relationship("Permit", uselist=False, back_populates="application")


class Material(Model):
    """One document an application needs; ``owed`` is 容缺: accepted without it, due later."""

    __tablename__ = "material"
    __table_args__ = (
        sa.UniqueConstraint("application_id", "kind", name="uq_material_application_kind"),
        sa.Index("ix_material_status", "status", "application_id"),  # owed ones, for the reminders
        sa.CheckConstraint(one_of("status", MATERIAL_STATUSES), name="status"),
    )
    id = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    application_id = mapped_column(sa.Uuid, sa.ForeignKey("permit_application.id", ondelete="CASCADE"), nullable=False)
    kind = mapped_column(sa.String(32), nullable=False)
    core = mapped_column(sa.Boolean, nullable=False)
    status = mapped_column(sa.String(8), nullable=False)
    attachment_sha256 = mapped_column(sa.String(64), nullable=True)
    due_date = mapped_column(sa.Date, nullable=True)
    provided_at = mapped_column(UTCDateTime, nullable=True)

    application = relationship("PermitApplication", back_populates="materials")


class ApplicationEvent(Model):
    """The application's timeline, as the citizen and staff see it."""

    __tablename__ = "application_event"
    id = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True)
    application_id = mapped_column(sa.Uuid, sa.ForeignKey("permit_application.id"), nullable=False, index=True)
    at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    action = mapped_column(sa.String(32), nullable=False)
    status = mapped_column(sa.String(16), nullable=False)
    detail = mapped_column(sa.JSON, nullable=False, default=dict)
    actor_role = mapped_column(sa.String(16), nullable=True)


class PermitCounter(Model):
    """Per station and year, the last permit number issued; locked to hand out the next."""

    __tablename__ = "permit_counter"
    station_id = mapped_column(sa.Uuid, sa.ForeignKey("station.id"), primary_key=True)
    year = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    last = mapped_column(sa.Integer, nullable=False, default=0)


class Permit(Model):
    __tablename__ = "permit"
    __table_args__ = (sa.CheckConstraint("status IN ('issued', 'out_for_delivery', 'delivered')", name="status"),)
    id = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    number = mapped_column(sa.String(32), unique=True, nullable=False)
    application_id = mapped_column(sa.Uuid, sa.ForeignKey("permit_application.id"), unique=True, nullable=False)
    resident_id = mapped_column(sa.Uuid, sa.ForeignKey("resident.id"), nullable=False, index=True)
    station_id = mapped_column(sa.Uuid, sa.ForeignKey("station.id"), nullable=False)
    issue_date = mapped_column(sa.Date, nullable=False)
    valid_until = mapped_column(sa.Date, nullable=False)
    status = mapped_column(sa.String(16), nullable=False, default="issued")
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    application = relationship("PermitApplication", back_populates="permit")
    resident = relationship("Resident")
