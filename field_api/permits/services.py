"""Residence permit applications: eligibility in one place, materials and 容缺, routing to the
competent station (内部流转), the 15-working-day review deadline, and the decision."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from app import attachments, audit, pii, workdays
from app.db import locked_row, one_or_404, utcnow
from app.errors import Conflict, Forbidden, Unprocessable, field_error, phrase
from app.extensions import db
from app.org.models import FIELD_ROLES, Station
from app.org.scoping import citizen_phone_bidx
from appointments.booking.services import new_reference
from field_api.notices import notify_resident
from field_api.permits import states as application_states
from field_api.permits.models import MATERIAL_NAMES as MATERIAL_NAMES  # re-exported: field_api.jobs names them
from field_api.permits.models import ApplicationEvent, PermitCounter
from field_api.permits.models import Material as Material  # re-exported: field_api.jobs reminds of owed ones
from field_api.permits.models import Permit as Permit  # re-exported: delivery types and joins by it
from field_api.permits.models import PermitApplication as PermitApplication  # re-exported: the package's jobs, panels
from field_api.permits.schemas import ApplicationOut
from field_api.residency.services import (
    Registration,
    Resident,
    citizen_resident_ids,
    find_by_identity,
    normalize,
    registration_ids_in_areas,
    resident_for,
)

application_snapshot = ApplicationOut().dump
PROOF_BY_HOUSING = {
    "rented": "rental_contract",
    "owned": "property_certificate",
    "relatives": "property_certificate",
    "employer": "employer_proof",
}


class NotEligible(Unprocessable):
    slug, title = "not-eligible", "Not eligible for a residence permit yet"


def applied_on(registration: Any) -> sa.ColumnElement[bool]:
    """True for a registration (the enclosing query's, correlated) its resident has applied on:
    residency's six-month notice skips it (registered with ``field_api.residency.hooks``)."""
    return sa.exists().where(
        PermitApplication.resident_id == registration.resident_id, PermitApplication.registration_id == registration.id
    )


def permits_visible_to(actor):
    """The permits a staff member may see: their station's, or all for an administrator."""
    query = sa.select(Permit).order_by(Permit.created_at.desc())
    return query if actor.is_admin else query.where(Permit.station_id == actor.station_id)


def citizen_permit_ids(actor) -> sa.Select:
    """The permits of a citizen's household, as a subquery for the deliveries that bring them."""
    return sa.select(Permit.id).join(Resident).where(Resident.phone_bidx == citizen_phone_bidx(actor))


def applications_visible_to(actor):
    """A citizen their household's; an officer those they took or that hang off a registration in
    their areas; staff the competent station's and the accepting station's."""
    query = sa.select(PermitApplication).order_by(PermitApplication.created_at.desc())
    if actor.is_admin:
        return query
    if actor.role == "citizen":
        return query.where(PermitApplication.resident_id.in_(citizen_resident_ids(actor)))
    if actor.role in FIELD_ROLES:
        return query.where(
            sa.or_(
                PermitApplication.created_by_id == actor.user_id,
                PermitApplication.registration_id.in_(registration_ids_in_areas(actor.area_ids)),
            )
        )
    # the competent station, and the station that accepted it (内部流转 keeps it visible there)
    return query.where(
        sa.or_(
            PermitApplication.station_id == actor.station_id, PermitApplication.accepting_station_id == actor.station_id
        )
    )


def application_for(actor, application_id, *, lock: bool = False) -> PermitApplication:
    query = applications_visible_to(actor).where(PermitApplication.id == application_id)
    return one_or_404(query.with_for_update() if lock else query, "application")


def required_materials(registration: Registration) -> list[tuple[str, bool]]:
    """(kind, core) for this registration: the identity card and the proof that fits the housing
    are core; the photo is not, so it may be owed (容缺)."""
    return [("identity_card", True), (PROOF_BY_HOUSING[registration.housing], True), ("photo", False)]


def material_kinds() -> dict[str, list[dict[str, object]]]:
    """The rule of ``required_materials`` as reference data, which every tablet gets on its first
    pull (registered with sync in ``field_api.permits.sync``): which kinds are core, and for which
    housing (none: for every one)."""
    proofs = [{"kind": proof, "core": True, "housing": housing} for housing, proof in PROOF_BY_HOUSING.items()]
    return {
        "kinds": [
            {"kind": "identity_card", "core": True, "housing": None},
            *proofs,
            {"kind": "photo", "core": False, "housing": None},
        ]
    }


def eligible_registration(resident) -> Registration:
    """The one eligibility rule: an active registration whose six months have matured, and no
    other open application."""
    today = workdays.local_now().date()
    active = (
        db.session.execute(
            sa.select(Registration)
            .where(Registration.resident_id == resident.id, Registration.status == "active")
            .order_by(Registration.maturity_date)
        )
        .scalars()
        .all()
    )
    if not active:
        raise NotEligible(
            "the resident has no active residence registration", errors={"registration": ["no active registration"]}
        )
    matured = [r for r in active if r.maturity_date <= today]
    if not matured:
        raise NotEligible(
            phrase("six months of residence mature on %(day)s", day=active[0].maturity_date.isoformat()),
            errors={"registration": [phrase("matures on %(day)s", day=active[0].maturity_date.isoformat())]},
            matures_on=active[0].maturity_date.isoformat(),
        )
    open_application = db.session.execute(
        sa.select(PermitApplication.reference).where(PermitApplication.open_key == str(resident.id))
    ).scalar_one_or_none()
    if open_application:
        raise NotEligible(
            phrase("application %(id)s is still open", id=open_application),
            errors={"resident": [phrase("application %(id)s is open", id=open_application)]},
        )
    return matured[0]


def _resident_for_channel(actor, data: dict):
    if actor.role == "citizen":
        identity = normalize(pii.IDENTITY, data.get("identity_number"), "identity_number")
        resident = find_by_identity(identity) if identity else None
        if resident is None or resident.phone_bidx != citizen_phone_bidx(actor):
            raise field_error("identity_number", "no registered resident with this number uses your phone number")
        return resident, "online"
    if data.get("resident_id"):
        return resident_for(actor, data["resident_id"]), "visit" if actor.role in FIELD_ROLES else "window"
    if actor.role in FIELD_ROLES or not data.get("identity_number"):
        raise field_error("resident_id", "is required")
    # At a window any station may accept (内部流转): the citizen is there with the card.
    resident = find_by_identity(normalize(pii.IDENTITY, data["identity_number"], "identity_number"))
    if resident is None:
        raise field_error("identity_number", "no resident with this identity number")
    return resident, "window"


def _event(actor, application, action: str, **detail) -> None:
    db.session.add(
        ApplicationEvent(
            application_id=application.id,
            action=action,
            status=application.status,
            detail=detail,
            actor_role=actor.role,
        )
    )


def transition_application(actor, application, target: str, action: str, **detail) -> None:
    """Every change of an application's state: checked, versioned, on the timeline, audited."""
    application_states.check(application.status, target)
    before = application_snapshot(application)
    application.status = target
    application.version += 1
    if target in application_states.CLOSED:
        application.open_key = None
    db.session.flush()
    _event(actor, application, action, **detail)
    audit.record(
        actor,
        f"application.{action}",
        "permit_application",
        application.id,
        before=before,
        after={**application_snapshot(application), **detail},
        station_id=application.station_id,
    )


def plan(actor, data: dict) -> tuple[Registration, list[tuple[str, bool]]]:
    """What an application would need, before anything is written: the resident matched and the
    eligibility rule applied exactly as ``submit`` does, so a page can ask for the right materials
    (or say why not yet) before the citizen takes any photo."""
    resident, _ = _resident_for_channel(actor, data)
    registration = eligible_registration(resident)
    return registration, required_materials(registration)


def submit(actor, data: dict) -> PermitApplication:
    resident, channel = _resident_for_channel(actor, data)
    registration = eligible_registration(resident)
    offered = {m["kind"]: m.get("attachment_sha256") for m in data.get("materials", [])}
    required = dict(required_materials(registration))
    stray = sorted(set(offered) - set(required))
    if stray:
        raise field_error("materials", phrase("not needed for this application: %(names)s", names=", ".join(stray)))
    accepting = (
        actor.station_id if actor.role not in ("citizen", "admin") and actor.station_id else registration.station_id
    )
    application = PermitApplication(
        reference=new_reference(),
        resident_id=resident.id,
        registration_id=registration.id,
        channel=channel,
        accepting_station_id=accepting,
        station_id=registration.station_id,
        status="submitted",
        open_key=str(resident.id),
        created_by_id=actor.user_id,
    )
    if data.get("id"):
        application.id = data["id"]
    try:
        with db.session.begin_nested():
            db.session.add(application)
    except IntegrityError:
        raise NotEligible(
            "another application for this resident was opened at the same moment",
            errors={"resident": ["an application is open"]},
        ) from None
    for kind, core in required.items():
        sha = offered.get(kind)
        attachments.share_with_station(sha, application.station_id, actor.user_id)
        db.session.add(
            Material(
                application_id=application.id,
                kind=kind,
                core=core,
                status="provided" if sha else "owed",
                attachment_sha256=sha,
                provided_at=utcnow() if sha else None,
            )
        )
    db.session.flush()
    _event(actor, application, "submitted", channel=channel)
    audit.record(
        actor,
        "application.submit",
        "permit_application",
        application.id,
        after=application_snapshot(application),
        station_id=application.station_id,
    )
    if accepting != application.station_id:
        _route(actor, application)
    if channel == "window":
        _accept(actor, application)
    db.session.flush()
    return application


def _route(actor, application) -> None:
    names = dict(
        db.session.execute(
            sa.select(Station.id, Station.name).where(
                Station.id.in_([application.accepting_station_id, application.station_id])
            )
        ).all()
    )
    detail = {"from_station": names[application.accepting_station_id], "to_station": names[application.station_id]}
    _event(actor, application, "routed", **detail)
    audit.record(
        actor,
        "application.route",
        "permit_application",
        application.id,
        after=detail,
        station_id=application.station_id,
    )


def _competent(actor, application) -> None:
    if not actor.is_admin and application.station_id != actor.station_id:
        raise Forbidden(
            "the application was routed to the competent station; only it may act on it", slug="routed-elsewhere"
        )


def _accept(actor, application) -> None:
    """Core materials must be there; missing non-core ones are owed by a due date (容缺)."""
    missing_core = [m.kind for m in application.materials if m.core and m.status == "owed"]
    if missing_core:
        raise field_error("materials", phrase("core materials missing: %(names)s", names=", ".join(missing_core)))
    today = workdays.local_now().date()
    due = today + timedelta(days=current_app.config["MATERIALS_DUE_DAYS"])
    owed = []
    for m in application.materials:
        if m.status == "owed":
            m.due_date = due
            owed.append(m.kind)
    application.accepted_at = utcnow()
    application.review_deadline = workdays.add_working_days(today, current_app.config["REVIEW_WORKING_DAYS"])
    transition_application(
        actor, application, "accepted", "accepted", review_deadline=application.review_deadline.isoformat(), owed=owed
    )


def accept(actor, application_id) -> PermitApplication:
    application = application_for(actor, application_id, lock=True)
    _competent(actor, application)
    _accept(actor, application)
    db.session.flush()
    return application


def start_review(actor, application_id) -> PermitApplication:
    application = application_for(actor, application_id, lock=True)
    _competent(actor, application)
    transition_application(actor, application, "under_review", "review_started")
    db.session.flush()
    return application


def supply_material(actor, application_id, kind: str, sha256: str) -> PermitApplication:
    """The citizen uploads what is owed, or an officer collects it at a visit."""
    application = application_for(actor, application_id, lock=True)
    if application.status in application_states.CLOSED:
        raise application_states.InvalidTransition(phrase("the application is %(status)s", status=application.status))
    material = next((m for m in application.materials if m.kind == kind), None)
    if material is None:
        raise field_error("kind", phrase("this application does not need %(kind)s", kind=kind))
    was = material.status
    material.status, material.attachment_sha256, material.provided_at = "provided", sha256, utcnow()
    attachments.share_with_station(sha256, application.station_id, actor.user_id)
    application.version += 1
    _event(actor, application, "material_supplied", kind=kind, was=was)
    audit.record(
        actor,
        "application.material",
        "permit_application",
        application.id,
        after={"kind": kind, "attachment_sha256": sha256, "was": was},
        station_id=application.station_id,
    )
    db.session.flush()
    return application


def decide(actor, application_id, decision: str, code: str, text: str) -> PermitApplication:
    application = application_for(actor, application_id, lock=True)
    _competent(actor, application)
    if decision == "approve":
        owed = [m.kind for m in application.materials if m.status == "owed"]
        if owed:
            raise Conflict(
                phrase("materials still owed: %(names)s", names=", ".join(owed)),
                slug="materials-owed",
                errors={"materials": owed},
            )
    application.decision_code, application.decision_text = code, text
    application.decided_at, application.decided_by_id = utcnow(), actor.user_id
    if decision == "reject":
        transition_application(actor, application, "rejected", "rejected", code=code)
        notify_resident(
            application,
            "application_decided",
            f"application-decided:{application.id}",
            decision="未通过",
            reference=application.reference,
        )
    else:
        transition_application(actor, application, "approved", "approved", code=code)
        permit = _issue_permit(application)
        transition_application(actor, application, "issued", "issued", permit_number=permit.number)
        notify_resident(application, "permit_ready", f"permit-ready:{application.id}", number=permit.number)
    db.session.flush()
    return application


def return_for_correction(actor, application_id, reason: str) -> PermitApplication:
    """退回补正: the competent station sends the application back with a reason; the citizen is
    told by SMS (the reason, free text, is read in the mini-program), corrects what is asked
    (supplying materials again) and resubmits."""
    application = application_for(actor, application_id, lock=True)
    _competent(actor, application)
    reason = (reason or "").strip()
    if not reason:
        raise field_error("reason", "is required")
    application.decision_text = reason
    transition_application(actor, application, "returned", "returned", reason=reason)
    notify_resident(
        application,
        "application_returned",
        f"application-returned:{application.id}:{application.version}",
        reference=application.reference,
    )
    db.session.flush()
    return application


def resubmit(actor, application_id) -> PermitApplication:
    """After a return: back to submitted, so the station checks the materials and accepts again
    (which starts a new review deadline)."""
    application = application_for(actor, application_id, lock=True)
    transition_application(actor, application, "submitted", "resubmitted")
    db.session.flush()
    return application


def _issue_permit(application) -> Permit:
    """Numbers run per station and year: <station code>-<year>-<six digits>."""
    today = workdays.local_now().date()
    counter = locked_row(
        db.session, PermitCounter, {"station_id": application.station_id, "year": today.year}, {"last": 0}
    )
    counter.last += 1
    code = db.session.get_one(Station, application.station_id).code
    permit = Permit(
        number=f"{code}-{today.year}-{counter.last:06d}",
        application=application,  # the relationship, so the response sees the permit without a reload
        resident_id=application.resident_id,
        station_id=application.station_id,
        issue_date=today,
        valid_until=today.replace(year=today.year + 1) - timedelta(days=1)
        if not (today.month == 2 and today.day == 29)
        else date(today.year + 1, 2, 28),
    )
    db.session.add(permit)
    db.session.flush()
    return permit


def queue(actor, filters: dict):
    query = applications_visible_to(actor)
    if filters.get("status"):
        query = query.where(PermitApplication.status == filters["status"])
    if filters.get("due_by"):
        query = query.where(
            PermitApplication.review_deadline <= filters["due_by"],
            PermitApplication.status.in_(("accepted", "under_review")),
        )
    if filters.get("owes_materials"):
        query = query.where(
            PermitApplication.id.in_(sa.select(Material.application_id).where(Material.status == "owed"))
        )
    if filters.get("reference"):
        query = query.where(PermitApplication.reference == filters["reference"].strip().upper())
    return query
