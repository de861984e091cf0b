"""Who sees which field records: officers their areas, staff their station, citizens the
records of residents who registered the phone number they signed in with."""

from __future__ import annotations

import sqlalchemy as sa

from app.db import one_or_404
from app.extensions import db
from app.org.models import FIELD_ROLES, User
from appointments.dispatch.models import Visit
from field_api.delivery.models import Delivery
from field_api.permits.models import Permit, PermitApplication
from field_api.residency.models import Registration, Resident


def citizen_phone_bidx(actor):
    return db.session.execute(sa.select(User.phone_bidx).where(User.id == actor.user_id)).scalar_one()


def registrations_visible_to(actor):
    query = sa.select(Registration).order_by(Registration.start_date.desc(), Registration.created_at.desc())
    if actor.is_admin:
        return query
    if actor.role in FIELD_ROLES:
        return query.where(Registration.area_id.in_(actor.area_ids))
    if actor.role == "citizen":
        return query.where(
            Registration.resident_id.in_(sa.select(Resident.id).where(Resident.phone_bidx == citizen_phone_bidx(actor)))
        )
    return query.where(Registration.station_id == actor.station_id)


def registration_for(actor, registration_id, *, lock: bool = False) -> Registration:
    query = registrations_visible_to(actor).where(Registration.id == registration_id)
    return one_or_404(query.with_for_update() if lock else query, "registration")


def residents_visible_to(actor):
    query = sa.select(Resident).order_by(Resident.name, Resident.id)
    if actor.is_admin:
        return query
    if actor.role == "citizen":
        return query.where(Resident.phone_bidx == citizen_phone_bidx(actor))
    scope = registrations_visible_to(actor).with_only_columns(Registration.resident_id).order_by(None)
    if actor.role in FIELD_ROLES:
        scope = scope.where(Registration.status == "active")
    return query.where(Resident.id.in_(scope))


def resident_for(actor, resident_id, *, lock: bool = False) -> Resident:
    query = residents_visible_to(actor).where(Resident.id == resident_id)
    return one_or_404(query.with_for_update() if lock else query, "resident")


def applications_visible_to(actor):
    query = sa.select(PermitApplication).order_by(PermitApplication.created_at.desc())
    if actor.is_admin:
        return query
    if actor.role == "citizen":
        return query.where(
            PermitApplication.resident_id.in_(
                sa.select(Resident.id).where(Resident.phone_bidx == citizen_phone_bidx(actor))
            )
        )
    if actor.role in FIELD_ROLES:
        return query.where(
            sa.or_(
                PermitApplication.created_by_id == actor.user_id,
                PermitApplication.registration_id.in_(
                    sa.select(Registration.id).where(Registration.area_id.in_(actor.area_ids))
                ),
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


def deliveries_visible_to(actor):
    query = sa.select(Delivery).order_by(Delivery.created_at.desc())
    if actor.is_admin:
        return query
    if actor.role in FIELD_ROLES:
        return query.where(Delivery.visit_id.in_(sa.select(Visit.id).where(Visit.officer_id == actor.user_id)))
    if actor.role == "citizen":
        return query.where(
            Delivery.permit_id.in_(
                sa.select(Permit.id).join(Resident).where(Resident.phone_bidx == citizen_phone_bidx(actor))
            )
        )
    return query.where(Delivery.station_id == actor.station_id)


def delivery_for(actor, delivery_id, *, lock: bool = False) -> Delivery:
    query = deliveries_visible_to(actor).where(Delivery.id == delivery_id)
    return one_or_404(query.with_for_update() if lock else query, "delivery")
