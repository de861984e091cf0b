"""The console's visit windows and holidays page (窗口与节假日): an area's weekly windows, its
date exceptions (a day or a window closed, a window opened or re-sized) and the working calendar's
holidays and make-up working days — each change shown before it is saved.

Every change is two steps. **Preview** runs the checks the save runs and ``windows.effect``, the
availability rule applied to the state now and to the state proposed, and lists the windows that
would appear, disappear or change capacity, and the confirmed bookings left in a window that goes
or shrinks (they keep their seats; the clerk calls the people to move them). It writes nothing.
**Save** is the API twin's service: ``replace_template`` (``PUT .../window-template``, with the
preview's template version standing for ``If-Match``), ``add_exception`` / ``remove_exception``
(``POST``/``DELETE .../window-exceptions``) and ``workdays.declare`` / ``withdraw``
(``PUT``/``DELETE /calendar/{day}``): the same permissions, checks and audit events.

Previews are htmx partials (each section of the page swaps itself); without htmx the same routes
answer the whole page."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from typing import Any

from flask import g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError

from app import clock, workdays
from app.errors import DomainError
from app.extensions import db
from app.org.models import Area
from app.org.scoping import area_for, areas_visible_to
from app.web import page_blueprint, register_nav
from app.web.access import staff_page
from app.web.i18n import translate_detail
from app.workdays import services as calendar
from app.workdays.schemas import DeclareIn
from appointments.booking import services as booking_service
from appointments.windows import services as windows
from appointments.windows.schemas import ExceptionIn, TemplateIn

pages = page_blueprint("windows", __name__, "/console/windows")
register_nav("windows.page", _l("Windows"), 25, permission="window.manage")

DAYS_LISTED = 62  # exceptions and calendar days shown ahead
BLANK_ROWS = 2  # empty rows under the weekly windows, for new ones
MAX_ROWS = 80
WEEKDAYS = (_l("Mon"), _l("Tue"), _l("Wed"), _l("Thu"), _l("Fri"), _l("Sat"), _l("Sun"))
EXCEPTION_WHAT = {
    "close_day": _l("Close the whole day"),
    "close_window": _l("Close one window"),
    "open": _l("Open or re-size a window"),
}
SAVED = {
    "template": _l("The weekly windows are saved."),
    "exception": _l("The exception is saved."),
    "exception_removed": _l("The exception is withdrawn."),
    "calendar": _l("The calendar day is saved."),
    "calendar_removed": _l("The declaration is withdrawn; the published calendar applies again."),
}
SOURCES = {
    "staff": _l("declared by staff"),
    "official": _l("published calendar"),
    "weekday-rule": _l("year not yet published"),
}
# The services' and schemas' reasons, as a clerk reads them (anything else: the catalogue).
_OVERLAP = re.compile(r"windows (\S+) and (\S+) overlap")
_NO_END = re.compile(r"window starting (\S+) must end after it starts")
REASONS = (
    ("is in the past", _l("This date has passed.")),
    ("is required to open a window", _l("Required to open a window.")),
    ("a closure names only", _l("A closure names only the day and, for one window, its start.")),
    ("already taken", _l("This day already has an exception for this window.")),
    ("Missing data for required field.", _l("Fill this in.")),
    ("Not a valid time.", _l("Enter a time like 09:00.")),
    ("Not a valid integer.", _l("Enter a whole number.")),
    ("Not a valid date.", _l("Enter a date.")),
    ("Must be greater than or equal to 0", _l("Between 0 and 500.")),
)


def _reason(value: object) -> str:
    text = str(value[0] if isinstance(value, list) and value else value)
    if match := _OVERLAP.search(text):
        return _("Windows %(a)s and %(b)s overlap.", a=match[1], b=match[2])
    if match := _NO_END.search(text):
        return _("The window starting %(start)s must end after it starts.", start=match[1])
    return next((str(label) for prefix, label in REASONS if text.startswith(prefix)), translate_detail(text))


def _is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def _area(raw: str | None = None) -> Area | None:
    """The area asked for (one of the actor's), else the first of them."""
    areas = list(db.session.execute(areas_visible_to(g.actor).where(Area.active.is_(True))).scalars())
    raw = raw if raw is not None else request.values.get("area_id", "")
    try:
        wanted = uuid.UUID(raw) if raw else None
    except ValueError:
        wanted = None
    if wanted is not None:
        return area_for(g.actor, wanted)  # another station's area: 404
    return areas[0] if areas else None


# --- what the page shows --------------------------------------------------------------------


def _template_rows(area: Area) -> list[dict[str, str]]:
    rows = [
        {
            "weekday": str(w.weekday),
            "start": w.start_time.strftime("%H:%M"),
            "end": w.end_time.strftime("%H:%M"),
            "capacity": str(w.capacity),
        }
        for w in windows.template_of(g.actor, area.id)
    ]
    return rows + [{"weekday": "0", "start": "", "end": "", "capacity": ""} for _blank in range(BLANK_ROWS)]


def _calendar_days(today: date) -> list[dict[str, Any]]:
    """The coming dates that differ from an ordinary week: holidays on weekdays, working weekends,
    and whatever staff declared."""
    out = []
    for info in workdays.days(today, today + timedelta(days=DAYS_LISTED - 1)):
        ordinary = info.day.weekday() < 5
        if info.source == "staff" or info.is_workday != ordinary:
            out.append({"info": info, "source": SOURCES.get(info.source, info.source)})
    return out


def _context(area: Area | None, **sections: Any) -> dict[str, Any]:
    today = clock.today()
    areas = list(db.session.execute(areas_visible_to(g.actor).where(Area.active.is_(True))).scalars())
    state: dict[str, Any] = {
        "areas": areas,
        "area": area,
        "today": today,
        "weekdays": WEEKDAYS,
        "what": EXCEPTION_WHAT,
        "saved": SAVED.get(request.args.get("saved", "")),
        "calendar_days": _calendar_days(today),
        "tpl": {"rows": _template_rows(area) if area else [], "errors": {}, "preview": None},
        "exc": {"form": {"what": "close_day"}, "errors": {}, "preview": None},
        "cal": {"form": {"is_workday": "0"}, "errors": {}, "preview": None},
        "exceptions": (
            windows.exceptions_of(g.actor, area.id, today, today + timedelta(days=DAYS_LISTED - 1)) if area else []
        ),
    }
    for name, value in sections.items():
        state[name] = {**state[name], **value}
    return state


def _render(section: str, area: Area | None, code: int = 200, **sections: Any) -> ResponseReturnValue:
    """The whole page, or under htmx only ``section`` (which swaps itself). htmx swaps only 2xx
    answers, so a refused preview comes back 200 to htmx and 422 to a plain form post."""
    context = _context(area, **sections)
    if _is_htmx():
        return render_template(f"console/windows/_{section}.html", **context), 200
    return render_template("console/windows/page.html", **context), code


def _preview(changes: list[windows.SlotChange], action: str, button: str, area_names=None) -> dict[str, Any]:
    """The effect as the page lists it, and the confirm form carrying what was previewed."""
    stranded = [c.slot_id for c in changes if c.strands_bookings and c.slot_id is not None]
    bookings = []
    if stranded:
        for b in booking_service.confirmed_on_slots(g.actor, stranded):
            bookings.append({"booking": b, "purpose": booking_service.PURPOSE_LABELS.get(b.purpose, b.purpose)})
    names = area_names or {}
    return {
        "changes": [{"change": c, "area": names.get(c.area_id, "")} for c in changes],
        "appear": sum(c.kind == "appears" for c in changes),
        "disappear": sum(c.kind == "disappears" for c in changes),
        "resize": sum(c.kind == "changes" for c in changes),
        "bookings": bookings,
        "action": action,
        "button": button,
        "hidden": [(k, v) for k, v in request.form.items(multi=True) if k not in ("csrf_token",)],
        "show_area": area_names is not None,
    }


def _saved(area: Area | None, what: str) -> ResponseReturnValue:
    args: dict[str, Any] = {"saved": what}
    if area is not None:
        args["area_id"] = str(area.id)
    return redirect(url_for("windows.page", **args), code=303)


def _refusal(exc: DomainError) -> dict[str, str]:
    """A service's refusal as field errors (the problem's ``errors``), else one for the form."""
    if exc.status >= 500 or exc.status == 404:
        raise exc
    db.session.rollback()
    errors = {k: _reason(v) for k, v in (exc.errors or {}).items()}
    return errors or {"form": translate_detail(exc.detail)}


@pages.route("/", methods=["GET"])
@staff_page("window.manage")
def page() -> ResponseReturnValue:
    return _render("page", _area())


# --- the weekly windows ---------------------------------------------------------------------


def _int(raw: str) -> object:
    return int(raw) if raw.isdigit() else raw


def _posted_template() -> tuple[list[dict[str, str]], list[dict], list[int]]:
    """The table's rows as typed, the windows to load (a removed or blank row is none), and for
    each window its row (so an error lands on the row it belongs to)."""
    try:
        count = min(int(request.form.get("rows", "0")), MAX_ROWS)
    except ValueError:
        count = 0
    rows, body, index = [], [], []
    for i in range(count):
        row = {k: request.form.get(f"{k}-{i}", "").strip() for k in ("weekday", "start", "end", "capacity")}
        row["remove"] = "1" if request.form.get(f"remove-{i}") else ""
        rows.append(row)
        if row["remove"] or not (row["start"] or row["end"] or row["capacity"]):
            continue
        body.append({k: _int(v) if k in ("weekday", "capacity") else v for k, v in row.items() if v and k != "remove"})
        index.append(i)
    return rows, body, index


def _load_template(area: Area) -> tuple[list[dict] | None, list[dict[str, str]], dict[str, str]]:
    rows, body, index = _posted_template()
    try:
        return TemplateIn().load({"windows": body})["windows"], rows, {}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        messages = exc.messages.get("windows", {}) if isinstance(exc.messages, dict) else {}
        for n, fields in messages.items() if isinstance(messages, dict) else []:
            if isinstance(n, int) and isinstance(fields, dict):
                for field, reason in fields.items():
                    errors[f"{field}-{index[n]}"] = _reason(reason)
        return None, rows, errors or {"windows": _("Check the rows.")}


@pages.route("/template/preview", methods=["POST"])
@staff_page("window.manage")
def preview_template() -> ResponseReturnValue:
    area = _area()
    if area is None:
        return _render("page", None)
    data, rows, errors = _load_template(area)
    if data is not None:
        try:
            changes = windows.preview_template(g.actor, area.id, data)
        except DomainError as exc:
            errors = _refusal(exc)
        else:
            version = windows.template_version(g.actor, area.id)
            preview = _preview(changes, url_for("windows.save_template"), _("Save the weekly windows"))
            preview["hidden"].append(("version", version))
            return _render("template", area, tpl={"rows": rows, "preview": preview})
    return _render("template", area, 422, tpl={"rows": rows, "errors": errors})


@pages.route("/template", methods=["POST"])
@staff_page("window.manage")
def save_template() -> ResponseReturnValue:
    """``PUT /areas/{id}/window-template`` with the previewed version as its ``If-Match``."""
    area = _area()
    if area is None:
        return _render("page", None)
    data, rows, errors = _load_template(area)
    if data is not None:
        try:
            if windows.template_version(g.actor, area.id, lock=True) != request.form.get("version"):
                errors = {"windows": _("Someone changed the weekly windows since your preview; preview again.")}
            else:
                windows.replace_template(g.actor, area.id, data)
                return _saved(area, "template")
        except DomainError as exc:
            errors = _refusal(exc)
    db.session.rollback()
    return _render("page", area, 422, tpl={"rows": rows, "errors": errors})


# --- date exceptions ------------------------------------------------------------------------


def _posted_exception() -> tuple[dict[str, str], dict | None, dict[str, str]]:
    values = {k: request.form.get(k, "").strip() for k in ("day", "what", "start", "end", "capacity", "note")}
    what = values["what"] if values["what"] in EXCEPTION_WHAT else "close_day"
    values["what"] = what
    body: dict[str, Any] = {"day": values["day"], "kind": "open" if what == "open" else "closed"}
    if values["note"]:
        body["note"] = values["note"]
    if what != "close_day" and values["start"]:
        body["start"] = values["start"]
    if what == "open":
        body.update({k: _int(values[k]) if k == "capacity" else values[k] for k in ("end", "capacity") if values[k]})
    errors: dict[str, str] = {}
    if what == "close_window" and not values["start"]:
        errors["start"] = _("Enter the start of the window to close.")
    try:
        data = ExceptionIn().load(body)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {}
        return values, None, {**{k: _reason(v) for k, v in messages.items()}, **errors}
    return values, (None if errors else data), errors


@pages.route("/exceptions/preview", methods=["POST"])
@staff_page("window.manage")
def preview_exception() -> ResponseReturnValue:
    area = _area()
    if area is None:
        return _render("page", None)
    values, data, errors = _posted_exception()
    if data is not None:
        try:
            changes = windows.preview_exception(g.actor, area.id, data)
        except DomainError as exc:
            errors = _refusal(exc)
        else:
            preview = _preview(changes, url_for("windows.save_exception"), _("Save the exception"))
            return _render("exceptions", area, exc={"form": values, "preview": preview})
    return _render("exceptions", area, 422, exc={"form": values, "errors": errors})


@pages.route("/exceptions", methods=["POST"])
@staff_page("window.manage")
def save_exception() -> ResponseReturnValue:
    """``POST /areas/{id}/window-exceptions``."""
    area = _area()
    if area is None:
        return _render("page", None)
    values, data, errors = _posted_exception()
    if data is not None:
        try:
            windows.add_exception(g.actor, area.id, data)
            return _saved(area, "exception")
        except DomainError as exc:
            errors = _refusal(exc)
    return _render("page", area, 422, exc={"form": values, "errors": errors})


@pages.route("/exceptions/<uuid:exception_id>/withdraw/preview", methods=["POST"])
@staff_page("window.manage")
def preview_withdraw_exception(exception_id: uuid.UUID) -> ResponseReturnValue:
    area = _area()
    if area is None:
        return _render("page", None)
    _row, changes = windows.preview_removal(g.actor, area.id, exception_id)
    action = url_for("windows.withdraw_exception", exception_id=exception_id)
    preview = _preview(changes, action, _("Withdraw the exception"))
    return _render("exceptions", area, exc={"preview": preview})


@pages.route("/exceptions/<uuid:exception_id>/withdraw", methods=["POST"])
@staff_page("window.manage")
def withdraw_exception(exception_id: uuid.UUID) -> ResponseReturnValue:
    """``DELETE /areas/{id}/window-exceptions/{exception_id}``."""
    area = _area()
    if area is None:
        return _render("page", None)
    windows.remove_exception(g.actor, area.id, exception_id)
    return _saved(area, "exception_removed")


# --- holidays and make-up working days (the district's calendar) ----------------------------


def _posted_day() -> tuple[dict[str, str], tuple[date, dict] | None, dict[str, str]]:
    values = {k: request.form.get(k, "").strip() for k in ("day", "is_workday", "name")}
    errors: dict[str, str] = {}
    try:
        day = date.fromisoformat(values["day"])
    except ValueError:
        day = None
        errors["day"] = _("Enter a date.")
    try:
        data = DeclareIn().load({"is_workday": values["is_workday"] == "1", "name": values["name"]})
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {}
        errors.update({k: _reason(v) for k, v in messages.items()})
        data = None
    if day is None or data is None:
        return values, None, errors
    return values, (day, data), errors


def _area_names() -> dict[Any, str]:
    return {a.id: a.name for a in db.session.execute(areas_visible_to(g.actor)).scalars()}


@pages.route("/calendar/preview", methods=["POST"])
@staff_page("calendar.manage")
def preview_day() -> ResponseReturnValue:
    area = _area()
    values, parsed, errors = _posted_day()
    if parsed is None:
        return _render("calendar", area, 422, cal={"form": values, "errors": errors})
    day, data = parsed
    after = workdays.DayInfo(day, data["is_workday"], data["name"], "staff")
    changes = windows.preview_calendar(g.actor, day, after)
    preview = _preview(changes, url_for("windows.save_day"), _("Save the calendar day"), _area_names())
    return _render("calendar", area, cal={"form": values, "preview": preview})


@pages.route("/calendar", methods=["POST"])
@staff_page("calendar.manage")
def save_day() -> ResponseReturnValue:
    """``PUT /calendar/{day}``."""
    area = _area()
    values, parsed, errors = _posted_day()
    if parsed is None:
        return _render("page", area, 422, cal={"form": values, "errors": errors})
    day, data = parsed
    calendar.declare(g.actor, day, data["is_workday"], data["name"])
    return _saved(area, "calendar")


@pages.route("/calendar/<isodate:day>/withdraw/preview", methods=["POST"])
@staff_page("calendar.manage")
def preview_withdraw_day(day: date) -> ResponseReturnValue:
    area = _area()
    calendar.declaration(day)  # none: 404, as the withdrawal would answer
    changes = windows.preview_calendar(g.actor, day, workdays.published(day))
    action = url_for("windows.withdraw_day", day=day)
    preview = _preview(changes, action, _("Withdraw the declaration"), _area_names())
    return _render("calendar", area, cal={"preview": preview})


@pages.route("/calendar/<isodate:day>/withdraw", methods=["POST"])
@staff_page("calendar.manage")
def withdraw_day(day: date) -> ResponseReturnValue:
    """``DELETE /calendar/{day}``."""
    area = _area()
    calendar.withdraw(g.actor, day)
    return _saved(area, "calendar_removed")


__all__ = ["pages"]
