"""Residents and their residence registrations; the maturity job's progress and daily list."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.orm import Mapped, foreign, mapped_column, relationship

from app.bulk import uuid_key
from app.db import UTCDateTime, new_id, one_of, utcnow
from app.extensions import Model
from app.notify.models import Notification
from app.workdays import local_now
from doorstep_protocol.vocabulary import END_REASONS, HOUSING, REASONS, SEXES  # noqa: F401  (shared with tablets)

# ``registration.maturity_notice_stage``: what the maturity job (field_api/maturity.py) owes the
# registration. QUEUED and PRENOTICED rows are a queue the job empties row by row; SCHEDULED rows
# it finds by their date, as its clock passes it (``maturity_progress``), and never writes to.
QUEUED, PRENOTICED, DONE, SCHEDULED = 0, 1, 2, 3
MATURITY_STAGES = (QUEUED, PRENOTICED, DONE, SCHEDULED)
# Days beyond the pre-notice window that a registration must still have to run when it is made,
# for it to be SCHEDULED: no transaction writing it can still be open when the clock gets there.
SCHEDULE_MARGIN_DAYS = 2
# The kinds of ``maturity_progress`` row: the maturity notice's clock, and the pre-notice's.
NOTICE_CLOCK, PRENOTICE_CLOCK = "maturity_reached", "maturity_soon"
# The outbox dedupe keys of the two messages: the prefix, then the registration's id as 32 hex
# digits (``uuid.UUID.hex``; ``field_api.residency.maturity.maturity_key``).
NOTICE_KEY, PRENOTICE_KEY = "maturity:", "maturity-pre:"


def initial_maturity_stage(context) -> int:
    """SCHEDULED when the registration matures comfortably after the job's clocks (today, and the
    end of the pre-notice window) — the usual case, a registration made the day residence starts.
    QUEUED otherwise: a start date about six months back or more, or a tablet's late sync, may
    arrive after the clock passed its date, so it waits in the queue the job empties. Rows
    written outside the app (raw SQL, COPY) get the server default, QUEUED, for the same reason."""
    matures = context.get_current_parameters().get("maturity_date")
    if matures is None or not has_app_context():
        return QUEUED

    return stage_for(matures, local_now().date())


def stage_for(matures: date, today: date) -> int:
    """The maturity stage of a new active registration maturing on ``matures`` (app context)."""
    window = max(int(current_app.config.get("MATURITY_PRENOTICE_DAYS", 0)), 0)
    return SCHEDULED if matures > today + timedelta(days=window + SCHEDULE_MARGIN_DAYS) else QUEUED


class Resident(Model):
    """A person, once: the identity number's blind index is unique."""

    __tablename__ = "resident"
    __table_args__ = (sa.CheckConstraint(one_of("sex", SEXES), name="sex"),)
    id = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    name = mapped_column(sa.String(50), nullable=False)
    sex = mapped_column(sa.String(8), nullable=False)
    ethnicity = mapped_column(sa.String(20), nullable=False, default="汉族")
    identity_enc = mapped_column(sa.Text, nullable=False)
    identity_bidx = mapped_column(sa.String(64), nullable=False, unique=True)
    phone_enc = mapped_column(sa.Text, nullable=True)
    phone_bidx = mapped_column(sa.String(64), nullable=True, index=True)
    hukou_address = mapped_column(sa.String(200), nullable=False, default="")
    photo_sha256 = mapped_column(sa.String(64), nullable=True)
    version = mapped_column(sa.Integer, nullable=False, default=1)
    # {field: version that last changed it}: what a tablet's stale edit merges against.
    field_versions = mapped_column(sa.JSON, nullable=False, default=dict, server_default="{}")
    created_by_id = mapped_column(sa.Uuid, sa.ForeignKey("user_account.id"), nullable=True)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)

    registrations = relationship("Registration", back_populates="resident", order_by="Registration.start_date")


class Registration(Model):
    """居住登记: a person lives at an address of an area since a date. ``maturity_date`` is when six
    months of residence are complete; the scheduler scans it."""

    __tablename__ = "registration"
    __table_args__ = (
        sa.CheckConstraint(one_of("reason", REASONS), name="reason"),
        sa.CheckConstraint(one_of("housing", HOUSING), name="housing"),
        sa.CheckConstraint("status IN ('active', 'ended')", name="status"),
        sa.CheckConstraint("status = 'active' OR (end_date IS NOT NULL AND end_reason IS NOT NULL)", name="ended"),
        sa.Index("ix_registration_maturity", "status", "maturity_date"),
        sa.Index("ix_registration_area", "area_id", "status"),
        sa.CheckConstraint(one_of("maturity_notice_stage", MATURITY_STAGES), name="maturity_notice_stage"),
        # The maturity job's reads: the queue (active, 0|1, date ≤ today) and the scheduled rows
        # whose date its clock has just passed (active, 3, last day done < date ≤ today).
        sa.Index("ix_registration_maturity_due", "status", "maturity_notice_stage", "maturity_date"),
    )
    id = mapped_column(sa.Uuid, primary_key=True, default=new_id)
    resident_id = mapped_column(sa.Uuid, sa.ForeignKey("resident.id"), nullable=False, index=True)
    station_id = mapped_column(sa.Uuid, sa.ForeignKey("station.id"), nullable=False, index=True)
    area_id = mapped_column(sa.Uuid, sa.ForeignKey("area.id"), nullable=False)
    address = mapped_column(sa.String(200), nullable=False)
    start_date = mapped_column(sa.Date, nullable=False)
    maturity_date = mapped_column(sa.Date, nullable=False)
    reason = mapped_column(sa.String(16), nullable=False)
    housing = mapped_column(sa.String(16), nullable=False)
    landlord_name = mapped_column(sa.String(50), nullable=True)
    landlord_phone_enc = mapped_column(sa.Text, nullable=True)
    employer_name = mapped_column(sa.String(100), nullable=True)
    status = mapped_column(sa.String(8), nullable=False, default="active")
    end_date = mapped_column(sa.Date, nullable=True)
    end_reason = mapped_column(sa.String(16), nullable=True)
    # "<resident>:<station>" while active, NULL once ended: one active registration per station.
    active_key = mapped_column(sa.String(80), unique=True, nullable=True)
    registered_by_id = mapped_column(sa.Uuid, sa.ForeignKey("user_account.id"), nullable=True)
    device_id = mapped_column(sa.Uuid, sa.ForeignKey("device.id"), nullable=True)
    version = mapped_column(sa.Integer, nullable=False, default=1)
    field_versions = mapped_column(sa.JSON, nullable=False, default=dict, server_default="{}")
    # QUEUED (0): nothing sent yet, PRENOTICED (1): the pre-notice is queued, DONE (2): the maturity
    # notice is done; SCHEDULED (3): left to the job's clock (see ``initial_maturity_stage``).
    maturity_notice_stage = mapped_column(
        sa.SmallInteger, nullable=False, default=initial_maturity_stage, server_default="0"
    )
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)

    resident = relationship("Resident", back_populates="registrations")


class MaturityProgress(Model):
    """How far a clock of the maturity job has gone: ``through`` is the last day whose scheduled
    registrations it has handled — maturity notices up to today, pre-notices up to the end of the
    window. No row, or no day: the clock has never run, and every scheduled registration up to
    today is due. The job locks its row for its run; ending a registration takes it shared, so an
    end and a run are ordered (``field_api.residency.maturity.cancel_reminders``)."""

    __tablename__ = "maturity_progress"
    kind = mapped_column(sa.String(32), primary_key=True)
    through = mapped_column(sa.Date, nullable=True)
    updated_at = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


def _daily_list_lines() -> sa.Subquery:
    """The lines of the daily maturity list, derived rather than stored: a registration is on the
    list of its maturity date once the job has dealt with it — DONE, or SCHEDULED and its date
    reached by the notice clock — if it was still active when the day ended. ``sms``: whether
    the job queued the resident's SMS (its dedupe key is there); no phone, or an application on the
    registration already, and the officers tell the resident in person."""
    r, progress, n = Registration.__table__, MaturityProgress.__table__, Notification.__table__
    sms = sa.exists().where(n.c.dedupe_key == sa.literal(NOTICE_KEY) + uuid_key(r.c.id))
    return (
        sa.select(
            r.c.id.label("registration_id"),
            r.c.station_id,
            r.c.area_id,
            r.c.maturity_date.label("day"),
            sms.label("sms"),
        )
        .join_from(r, progress, progress.c.kind == NOTICE_CLOCK, isouter=True)
        # both statuses, so the (status, maturity_date) index finds a day's registrations
        .where(
            r.c.status.in_(("active", "ended")),
            sa.or_(r.c.status == "active", r.c.end_date > r.c.maturity_date),
            sa.or_(
                r.c.maturity_notice_stage == DONE,
                sa.and_(r.c.maturity_notice_stage == SCHEDULED, r.c.maturity_date <= progress.c.through),
            ),
        )
        .subquery("maturity_notice")
    )


class MaturityNotice:
    """One line of a station's daily maturity list (read-only; see ``_daily_list_lines``):
    ``registration_id``, ``station_id``, ``area_id``, ``day``, ``sms`` and the registration."""

    registration_id: Mapped[uuid.UUID]
    station_id: Mapped[uuid.UUID]
    area_id: Mapped[uuid.UUID]
    day: Mapped[date]
    sms: Mapped[bool]
    registration: Mapped[Registration]


_lines = _daily_list_lines()
Model.registry.map_imperatively(
    MaturityNotice,
    _lines,
    primary_key=[_lines.c.registration_id],
    properties={
        "registration": relationship(
            Registration, viewonly=True, primaryjoin=Registration.id == foreign(_lines.c.registration_id)
        )
    },
)
