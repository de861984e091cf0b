"""Fixtures for field work: people with valid identity numbers, registrations at a given date."""

from __future__ import annotations

import itertools
from datetime import date

import pytest
from dateutil.relativedelta import relativedelta

from app.workdays import local_now
from tests.factories import if_match, mobile, valid_identity

_serial = itertools.count(100)


def person(**overrides) -> dict:
    body = {
        "name": "张伟",
        "sex": "male",
        "identity_number": valid_identity(serial=next(_serial) % 1000),
        "phone": mobile(),
        "hukou_address": "河南省信阳市平桥区",
    }
    body.update(overrides)
    return body


def months_ago(n: int) -> date:
    """A residence start date ``n`` months before the suite's today, however the run is pinned: a
    start in the future is refused."""
    return local_now().date() - relativedelta(months=n)


def registration_body(area, *, start: date | None = None, resident=None, resident_id=None, **overrides) -> dict:
    body = {
        "area_id": str(area.id),
        "address": "北山街道12号3单元402",
        "start_date": (start or months_ago(7)).isoformat(),
        "reason": "work",
        "housing": "rented",
        "landlord_name": "陈房东",
        "landlord_phone": mobile(),
    }
    if resident_id is not None:
        body["resident_id"] = str(resident_id)
    else:
        body["resident"] = resident or person()
    body.update(overrides)
    return body


class Field:
    """Drives the API as the people who use it."""

    def __init__(self, client, make, world):
        self.client, self.make, self.world = client, make, world

    def register(self, who=None, area=None, **kw):
        area = area or self.world.areas[0][0]
        return self.client.post(
            "/api/v1/registrations",
            json=registration_body(area, **kw),
            headers=self.make.auth(who or self.world.officer[0]),
        )

    def matured_resident(self, phone=None):
        """A resident whose six months have matured, registered in station 0's area 0."""
        body = person(**({"phone": phone} if phone else {}))
        resp = self.register(resident=body)
        assert resp.status_code == 201, resp.json
        return body, resp.json

    def apply(self, who, **body):
        return self.client.post("/api/v1/applications", json=body, headers=self.make.auth(who))

    def act(self, who, application_id, action, **body):
        url = f"/api/v1/applications/{application_id}"
        return self.client.post(
            f"{url}/{action}", json=body or None, headers=if_match(self.client, url, self.make.auth(who))
        )


@pytest.fixture
def field(client, make, world):
    return Field(client, make, world)


SHA = {
    kind: f"{i:064x}"
    for i, kind in enumerate(
        ["identity_card", "rental_contract", "property_certificate", "employer_proof", "photo"], start=1
    )
}


def materials(*kinds) -> list[dict]:
    return [{"kind": k, "attachment_sha256": SHA[k]} for k in kinds]
