"""Reference data cached per process: a change committed through one app object (one gunicorn
worker, one machine) is what the next request to any other sees, and a write that rolled back
leaves nothing behind in any cache."""

from __future__ import annotations

import pytest

from app.auth.actor import Actor
from app.extensions import db
from app.org.models import Area
from app.unit_of_work import unit
from appointments.windows import services as windows_services
from compose import create_app
from tests import factories
from tests.fixtures.database import make_config
from tests.queries import statements


@pytest.fixture
def other(app):
    """A second app object over the same database: its own engine and its own cache."""
    node = create_app(make_config())
    node.test_client_class = factories.ProvingClient
    return node


def seats(client, area, day) -> list[tuple[str, int]]:
    resp = client.get("/api/v1/slots", query_string={"area_id": str(area.id), "from": day, "to": day})
    assert resp.status_code == 200, resp.json
    return [(w["start"], w["capacity"]) for w in resp.json[0]["windows"]]


def replace(client, make, world, area, capacity: int):
    staff = make.auth(world.staff[0])
    url = f"/api/v1/areas/{area.id}/window-template"
    body = {"windows": [{"weekday": d, "start": "08:30", "end": "11:30", "capacity": capacity} for d in range(7)]}
    headers = {**staff, "If-Match": client.get(url, headers=staff).headers["ETag"]}
    assert client.put(url, json=body, headers=headers).status_code == 200


def test_a_template_changed_through_one_app_is_served_by_the_other(app, other, client, make, world, windows):
    day = windows.days[0].isoformat()
    reader = other.test_client()
    assert seats(reader, windows.area, day) == [("09:00", 3), ("14:00", 2)]  # cached in ``other`` now
    with statements(other) as sent:
        assert seats(reader, windows.area, day) == [("09:00", 3), ("14:00", 2)]
    assert not [s for s in sent if "FROM window_template" in s], "the second read came from the cache"

    replace(client, make, world, windows.area, capacity=7)  # through ``app``: committed

    assert seats(reader, windows.area, day) == [("08:30", 7)]
    replace(reader, make, world, windows.area, capacity=4)  # and the other way round
    assert seats(client, windows.area, day) == [("08:30", 4)]


def test_an_area_closed_through_one_app_is_closed_for_the_other(app, other, client, make, world, windows):
    day = windows.days[0].isoformat()
    reader = other.test_client()
    assert seats(reader, windows.area, day)
    with app.app_context():
        area = db.session.get(Area, windows.area.id)
        area.active = False
        db.session.commit()
    resp = reader.get("/api/v1/slots", query_string={"area_id": str(windows.area.id), "from": day, "to": day})
    assert resp.status_code == 422 and "area_id" in resp.json["errors"]


def test_a_write_that_rolled_back_leaves_no_snapshot_behind(app, other, client, make, world, windows):
    day = windows.days[0]
    staff = world.staff[0]
    actor = Actor(user_id=staff.id, role="staff", station_id=staff.station_id)
    new = [{"weekday": d, "start": windows.morning, "end": windows.afternoon, "capacity": 9} for d in range(7)]

    def replace_then_fail():
        windows_services.replace_template(actor, windows.area.id, new)
        # The unit reads its own write, and the cache keeps what it loaded then ...
        offered = windows_services.availability(windows.area.id, day, day)[0]["windows"]
        assert [w["capacity"] for w in offered] == [9]
        raise RuntimeError("the rest of the unit failed")

    with app.app_context(), pytest.raises(RuntimeError):
        unit(replace_then_fail)
    # ... but under a version that never committed: neither app serves it.
    assert seats(client, windows.area, day.isoformat()) == [("09:00", 3), ("14:00", 2)]
    assert seats(other.test_client(), windows.area, day.isoformat()) == [("09:00", 3), ("14:00", 2)]
