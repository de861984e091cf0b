"""进度查询 of a permit application for someone holding only its reference (no account session):
the application a reference names, the resident's phone on file a code goes to, and its progress
with nothing personal in it (no name, identity number, address or decision text), for the
citizens' H5 (citizen/progress.py)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app import pii
from app.extensions import db
from field_api.permits.models import ApplicationEvent, Material, PermitApplication


def find(stored: str) -> PermitApplication | None:
    """The application with this stored (eight-character) reference, if any."""
    return db.session.execute(
        sa.select(PermitApplication).where(PermitApplication.reference == stored)
    ).scalar_one_or_none()


def phone_on_file(application: PermitApplication) -> str | None:
    """The resident's registered mobile number: the phone a progress code is sent to."""
    return pii.decrypt(pii.PHONE, application.resident.phone_enc)


def progress(application: PermitApplication) -> dict[str, Any]:
    """Where the application stands, its review deadline, how many documents are still owed (容缺)
    and each step so far, oldest first."""
    events = db.session.execute(
        sa.select(ApplicationEvent.at, ApplicationEvent.status)
        .where(ApplicationEvent.application_id == application.id)
        .order_by(ApplicationEvent.id)
    ).all()
    owed = db.session.execute(
        sa.select(sa.func.count()).where(Material.application_id == application.id, Material.status == "owed")
    ).scalar_one()
    steps: list[dict[str, Any]] = []
    for at, status in events:
        if not steps or steps[-1]["status"] != status:  # supplying a document keeps the status
            steps.append({"at": at, "status": status})
    return {
        "kind": "application",
        "reference": application.reference,
        "status": application.status,
        "review_deadline": application.review_deadline,
        "owed": owed,
        "steps": steps,
    }
