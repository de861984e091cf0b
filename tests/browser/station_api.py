"""The station's side of a browser test, over HTTP against the test server: log in as the demo
staff and officer, make a device enrolment code, issue a permit and send it out for delivery."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import date
from typing import Any

from dateutil.relativedelta import relativedelta

from tests.factories import mobile, valid_identity


class StationApi:
    def __init__(self, base: str, passwords: dict[str, str]):
        self.base = base
        self.passwords = passwords
        self.tokens: dict[str, str] = {}

    def call(
        self, who: str, method: str, path: str, body: Any = None, headers: dict | None = None
    ) -> tuple[int, Any, dict]:
        if who not in self.tokens:
            login = {"username": who, "password": self.passwords[who]}
            status, answer, _ = self._send("POST", "/api/v1/auth/login", login)
            assert status == 200, answer
            self.tokens[who] = answer["access_token"]
        return self._send(method, path, body, {"Authorization": f"Bearer {self.tokens[who]}", **(headers or {})})

    def _send(self, method: str, path: str, body: Any = None, headers: dict | None = None) -> tuple[int, Any, dict]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers or {})
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None, dict(resp.headers.items())
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, json.loads(raw) if raw else None, dict(exc.headers.items())

    def ok(self, who: str, method: str, path: str, body: Any = None, headers: dict | None = None) -> Any:
        status, answer, _ = self.call(who, method, path, body, headers)
        assert 200 <= status < 300, (method, path, status, answer)
        return answer

    def etag(self, who: str, path: str) -> str:
        status, _, headers = self.call(who, "GET", path)
        assert status == 200
        return headers["ETag"]

    def enrolment_code(self, label: str) -> str:
        return self.ok("demo.staff", "POST", "/api/v1/devices", {"label": label})["enrollment_code"]

    def officer_area(self) -> dict:
        areas = self.ok("demo.officer", "GET", "/api/v1/areas")
        return areas[0]

    def permit_out_for_delivery(self, today: date, name: str = "周海燕") -> dict:
        """A resident registered seven months ago in the officer's area, whose permit staff
        approved; its delivery today is assigned to the demo officer. Returns the delivery, with
        the holder's identity number."""
        identity = valid_identity(region="110105", born="19880214", serial=None)
        area = self.officer_area()
        self.ok(
            "demo.officer",
            "POST",
            "/api/v1/registrations",
            {
                "area_id": area["id"],
                "address": "北山街道8号2单元301",
                "start_date": (today - relativedelta(months=7)).isoformat(),
                "reason": "work",
                "housing": "rented",
                "landlord_name": "陈房东",
                "landlord_phone": mobile(),
                "resident": {"name": name, "sex": "female", "identity_number": identity, "phone": mobile()},
            },
        )
        sha = {k: f"{i:064x}" for i, k in enumerate(("identity_card", "rental_contract", "photo"), start=1)}
        application = self.ok(
            "demo.staff",
            "POST",
            "/api/v1/applications",
            {"identity_number": identity, "materials": [{"kind": k, "attachment_sha256": v} for k, v in sha.items()]},
        )
        url = f"/api/v1/applications/{application['id']}"
        self.ok("demo.staff", "POST", f"{url}/review", None, {"If-Match": self.etag("demo.staff", url)})
        approved = self.ok(
            "demo.staff",
            "POST",
            f"{url}/decision",
            {"decision": "approve", "code": "OK"},
            {"If-Match": self.etag("demo.staff", url)},
        )
        delivery = self.ok(
            "demo.staff",
            "POST",
            "/api/v1/deliveries",
            {
                "permit_id": approved["permit_id"],
                "day": today.isoformat(),
                "window_start": "14:00",
                "window_end": "17:00",
            },
        )
        officer = self.ok("demo.officer", "GET", "/api/v1/me")
        visit = f"/api/v1/visits/{delivery['visit_id']}"
        self.ok(
            "demo.staff",
            "POST",
            f"{visit}/assign",
            {"officer_id": officer["id"]},
            {"If-Match": self.etag("demo.staff", visit)},
        )
        return {**delivery, "identity_number": identity, "resident_name": name}
