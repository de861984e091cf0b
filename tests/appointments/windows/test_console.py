"""The console's windows and holidays page: a change is previewed first (the windows that would
appear, disappear or change and the bookings left in them, with nothing written), then saved
through the API's own service with the API's audit event; another station's areas do not exist
here, a form without its token changes nothing, and bad input is said next to its field."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa
from werkzeug.datastructures import MultiDict

from app.audit.models import AuditEvent
from app.extensions import db
from app.workdays.models import CalendarDay
from appointments.windows.models import WindowException, WindowTemplate
from tests.app.web.helpers import log_in, session_token
from tests.snapshots import changed_tables, database_state

QUIET = frozenset({"throttle", "console_session"})
HX = {"HX-Request": "true"}
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def _confirm_form(html: str) -> tuple[str, list[tuple[str, str]]]:
    """The preview's confirm form: where it posts and what it carries."""
    form = html[html.index('class="confirm"') - 200 :]
    action = re.search(r'<form method="post" action="([^"]+)" class="confirm">', form)[1]
    return action, HIDDEN.findall(form[: form.index("</form>")])


def _events(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == action)).scalars())


def test_the_page_shows_the_areas_windows_and_another_station_sees_none(app, client, world, windows):
    log_in(client, world.staff[0])
    html = client.get("/console/windows/", query_string={"area_id": str(windows.area.id)}).get_data(as_text=True)
    assert "窗口与节假日" in html and 'value="09:00"' in html and 'value="17:30"' in html
    other = app.test_client()
    log_in(other, world.staff[1])
    assert other.get("/console/windows/", query_string={"area_id": str(windows.area.id)}).status_code == 404
    assert str(windows.area.id) not in other.get("/console/windows/").get_data(as_text=True)


def test_previewing_a_holiday_lists_the_bookings_left_and_changes_nothing(app, client, world, booker, windows):
    reference = booker.as_staff().json["reference"]
    log_in(client, world.staff[0])
    day = windows.days[0].isoformat()
    before = database_state(app, exclude=QUIET)
    data = {"csrf_token": session_token(client), "area_id": str(windows.area.id), "day": day, "is_workday": "0"}
    resp = client.post("/console/windows/calendar/preview", data={**data, "name": "测试假日"}, headers=HX)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and html.lstrip().startswith('<section id="calendar"')  # the section alone
    assert "消失" in html and "09:00–12:00" in html and "14:00–17:30" in html
    assert reference in html  # the booking on that day is listed
    assert changed_tables(before, database_state(app, exclude=QUIET)) == []
    # another station previews the same date: its own windows only, never this station's booking
    other = app.test_client()
    log_in(other, world.staff[1])
    html = other.post(
        "/console/windows/calendar/preview", data={**data, "csrf_token": session_token(other), "area_id": ""}
    ).get_data(as_text=True)
    assert reference not in html


def test_saving_a_holiday_is_the_apis_declaration(app, client, world, booker, windows):
    log_in(client, world.staff[0])
    day = windows.days[0]
    data = {"csrf_token": session_token(client), "area_id": str(windows.area.id), "day": day.isoformat()}
    preview = client.post("/console/windows/calendar/preview", data={**data, "is_workday": "0", "name": "测试假日"})
    action, hidden = _confirm_form(preview.get_data(as_text=True))
    assert action == "/console/windows/calendar"
    saved = client.post(action, data=MultiDict([("csrf_token", data["csrf_token"]), *hidden]))
    assert saved.status_code == 303 and "saved=calendar" in saved.headers["Location"]
    with app.app_context():
        row = db.session.get(CalendarDay, day)
        assert row is not None and not row.is_workday and row.name == "测试假日"
    (event,) = _events(app, "calendar.declare")
    assert event.actor_id == world.staff[0].id and event.entity_id == day.isoformat()
    page = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert "测试假日" in page and f"{day.year}年{day.month}月{day.day}日" in page
    # withdrawing it: previewed (the windows come back), then the API's withdrawal
    preview = client.post(f"/console/windows/calendar/{day.isoformat()}/withdraw/preview", data=data, headers=HX)
    assert "新增" in preview.get_data(as_text=True)
    action, hidden = _confirm_form(preview.get_data(as_text=True))
    assert client.post(action, data=MultiDict([("csrf_token", data["csrf_token"]), *hidden])).status_code == 303
    assert len(_events(app, "calendar.withdraw")) == 1


def test_the_weekly_windows_are_saved_as_previewed_and_a_stale_preview_is_refused(app, client, world, windows):
    log_in(client, world.staff[0])
    token = session_token(client)
    area = str(windows.area.id)
    # one window: Monday 09:00-11:00, 4 seats; every other row removed
    rows = {"csrf_token": token, "area_id": area, "rows": "1", "weekday-0": "0", "start-0": "09:00"}
    rows.update({"end-0": "11:00", "capacity-0": "4"})
    before = database_state(app, exclude=QUIET)
    preview = client.post("/console/windows/template/preview", data=rows, headers=HX)
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "消失" in html and "变更" in html
    assert changed_tables(before, database_state(app, exclude=QUIET)) == []
    action, hidden = _confirm_form(html)
    assert dict(hidden)["version"].startswith("w-")
    saved = client.post(action, data=MultiDict([("csrf_token", token), *hidden]))
    assert saved.status_code == 303
    with app.app_context():
        left = db.session.execute(sa.select(WindowTemplate).where(WindowTemplate.area_id == windows.area.id)).scalars()
        assert [(w.weekday, w.capacity) for w in left] == [(0, 4)]
    (event,) = _events(app, "window_template.replace")
    assert event.actor_id == world.staff[0].id and event.after == {
        "windows": [{"weekday": 0, "start": "09:00", "end": "11:00", "capacity": 4}]
    }
    # the same confirm form again: the windows changed since that preview
    before = database_state(app, exclude=QUIET)
    stale = client.post(action, data=MultiDict([("csrf_token", token), *hidden]))
    assert stale.status_code == 422 and "预览" in stale.get_data(as_text=True)
    assert changed_tables(before, database_state(app, exclude=QUIET)) == []


def test_an_exception_is_previewed_saved_and_withdrawn_as_the_api_does(app, client, world, booker, windows):
    reference = booker.as_staff(start=windows.afternoon).json["reference"]
    log_in(client, world.staff[0])
    token, area, day = session_token(client), str(windows.area.id), windows.days[0].isoformat()
    data = {"csrf_token": token, "area_id": area, "day": day, "what": "close_window", "start": "14:00", "note": "培训"}
    preview = client.post("/console/windows/exceptions/preview", data=data, headers=HX)
    html = preview.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="exceptions"') and reference in html and "09:00–12:00" not in html
    action, hidden = _confirm_form(html)
    assert client.post(action, data=MultiDict([("csrf_token", token), *hidden])).status_code == 303
    (event,) = _events(app, "window_exception.add")
    assert event.after["kind"] == "closed" and event.after["start"] == "14:00"
    with app.app_context():
        exception_id = db.session.execute(sa.select(WindowException.id)).scalar_one()
    url = f"/console/windows/exceptions/{exception_id}/withdraw/preview"
    action, hidden = _confirm_form(client.post(url, data={"csrf_token": token, "area_id": area}).get_data(as_text=True))
    assert client.post(action, data=MultiDict([("csrf_token", token), *hidden])).status_code == 303
    assert len(_events(app, "window_exception.remove")) == 1


def test_another_station_cannot_change_this_stations_windows(app, client, world, windows):
    log_in(client, world.staff[1])
    token = session_token(client)
    before = database_state(app, exclude=QUIET)
    data = {"csrf_token": token, "area_id": str(windows.area.id), "day": windows.days[0].isoformat()}
    assert client.post("/console/windows/exceptions", data={**data, "what": "close_day"}).status_code == 404
    rows = {"csrf_token": token, "area_id": str(windows.area.id), "rows": "0", "version": "x"}
    assert client.post("/console/windows/template", data=rows).status_code == 404
    assert changed_tables(before, database_state(app, exclude=QUIET)) == []


def test_a_form_without_its_token_changes_nothing(app, client, world, windows):
    log_in(client, world.staff[0])
    before = database_state(app, exclude=QUIET)
    data = {"area_id": str(windows.area.id), "day": windows.days[0].isoformat(), "is_workday": "0"}
    assert client.post("/console/windows/calendar", data=data).status_code == 400
    assert client.post("/console/windows/exceptions", data={**data, "what": "close_day"}).status_code == 400
    assert client.post("/console/windows/calendar", data={**data, "csrf_token": "wrong"}).status_code == 403
    assert changed_tables(before, database_state(app, exclude=QUIET)) == []


def test_bad_input_is_said_next_to_its_field(app, client, world, windows):
    log_in(client, world.staff[0])
    token, area = session_token(client), str(windows.area.id)
    before = database_state(app, exclude=QUIET)
    with app.app_context():
        from app import clock

        yesterday = (clock.today() - timedelta(days=1)).isoformat()
    past = client.post(
        "/console/windows/exceptions",
        data={"csrf_token": token, "area_id": area, "day": yesterday, "what": "close_day"},
    )
    html = past.get_data(as_text=True)
    assert past.status_code == 422 and 'id="exc-day-error">该日期已过去。' in html
    opening = {"csrf_token": token, "area_id": area, "day": windows.days[0].isoformat(), "what": "open"}
    html = client.post("/console/windows/exceptions/preview", data={**opening, "start": "18:00"}).get_data(as_text=True)
    assert 'id="exc-end-error">开设窗口须填写此项。' in html
    rows = {"csrf_token": token, "area_id": area, "rows": "2"}
    rows.update({"weekday-0": "1", "start-0": "09:00", "end-0": "12:00", "capacity-0": "3"})
    rows.update({"weekday-1": "1", "start-1": "11:00", "end-1": "13:00", "capacity-1": "abc"})
    html = client.post("/console/windows/template/preview", data=rows, headers=HX).get_data(as_text=True)
    assert 'id="capacity-1-error">' in html and "aria-invalid" in html
    rows["capacity-1"] = "2"
    html = client.post("/console/windows/template/preview", data=rows).get_data(as_text=True)
    assert "09:00-12:00" in html and "11:00-13:00" in html and "重叠" in html
    no_day = client.post("/console/windows/calendar/preview", data={"csrf_token": token, "is_workday": "1"})
    assert no_day.status_code == 422 and 'id="cal-day-error">' in no_day.get_data(as_text=True)
    assert changed_tables(before, database_state(app, exclude=QUIET)) == []
