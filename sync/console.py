"""The console's sync pages (同步): what the tablets' pushes could not settle alone.

**Conflicts** (同步冲突): a field both staff and an officer's tablet changed keeps the server's
value until someone decides; the detail page shows both values side by side, field by field, and
the choice made for each field goes to ``sync.resolution.resolve_conflict`` — the service behind the
API's ``POST /sync/conflicts/{id}/resolve``, with its ``sync.conflict_resolved`` audit event. A fact
recorded after a change (an outcome of a visit already moved on) is acknowledged.

**Rejected mutations** (被拒绝的变更): what a tablet pushed and the server refused, with the reason
in words, the tablet and the officer; the payload masked as ``GET /sync/rejections`` masks it.
**Unmask** is an explicit POST with a required reason, ``read_rejection_pii`` audited ``pii.read``
as the API's ``GET /sync/rejections/{id}/pii``, the numbers shown once in that response. Closing a
rejection is the API's ``resolve_rejection``.

These pages live with sync's routes (sync may import the console's kernel, ``app.web``; it names
no domain: each domain tells ``sync.registry.register_labels`` how its entities read)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.auth.models import Device
from app.errors import DomainError
from app.extensions import db
from app.org.models import Area, User
from app.web import page_blueprint, register_nav
from app.web.access import staff_page
from app.web.filters import local_date
from app.web.i18n import translate_text
from sync import registry, resolution
from sync.models import SyncConflict, SyncMutation
from sync.schemas import masked_payload

pages = page_blueprint("sync_pages", __name__, "/console/sync")
register_nav("sync_pages.conflicts", _l("Sync"), 86, permission="sync.resolve")

RESOLVED_SHOWN = 20
SIDES = ("server", "device")
CHOICE_WORDS = {
    "server": _l("kept the server's value"),
    "device": _l("took the tablet's value"),
    "mixed": _l("chose field by field"),
    "acknowledge": _l("acknowledged"),
    "dismissed": _l("dismissed"),
    "applied-manually": _l("entered by hand"),
}
# Refusals sync itself makes (the envelope, not the data): said as what happened to the tablet.
REASONS = {
    "seq-reused": _l("The tablet sent two different changes under one number."),
    "seq-not-rising": _l("The tablet's change numbers went backwards (restored from a backup, or copied?)."),
    "unknown-mutation": _l("The server does not know this kind of change (the tablet's app is too old or too new)."),
    "internal-error": _l("The server failed to apply it; the error is in the server's log."),
    "mutation-id-reused": _l("Another change already used this change's id."),
    "version-ahead": _l("The tablet names a version of the record the server never had."),
    "validation-failed": _l("Part of what the tablet sent was not accepted."),
}


# --- words ------------------------------------------------------------------------------------


def _entity_name(entity: str) -> str:
    found = registry.LABELS.get(entity)
    return str(found.name) if found else entity


def _field_name(entity: str, field: str) -> str:
    found = registry.LABELS.get(entity)
    return str(found.fields.get(field, field)) if found else field


def _op_name(entity: str, op: str) -> str:
    found = registry.LABELS.get(entity)
    return str(found.ops.get(op, op)) if found else op


def _value(entity: str, field: str, value: object) -> str:
    """A value as staff read it: a coded value in words, an area by its name."""
    found = registry.LABELS.get(entity)
    if found and isinstance(value, str) and value in found.values.get(field, {}):
        return str(found.values[field][value])
    if field == "area_id" and isinstance(value, str):
        try:
            area = db.session.get(Area, uuid.UUID(value))
        except ValueError:
            area = None
        if area is not None:
            return area.name
    return _shown(value)


def _title_of(slug: str) -> str | None:
    todo: list[type[DomainError]] = [DomainError]
    while todo:
        cls = todo.pop()
        if cls.slug == slug and isinstance(cls.title, str):
            return cls.title
        todo.extend(cls.__subclasses__())
    return None


def _flat(messages: object) -> Iterable[str]:
    if isinstance(messages, str):
        yield messages
    elif isinstance(messages, dict):
        for value in messages.values():
            yield from _flat(value)
    elif isinstance(messages, list):
        for value in messages:
            yield from _flat(value)


def reason_in_words(mutation: SyncMutation) -> dict[str, Any]:
    """Why the server refused it: a headline (sync's own words, or the problem's title in the
    console's language) and each named field's reasons, translated where the catalogue knows them."""
    errors = dict(mutation.result.get("errors") or {})
    slug = (errors.pop("_type", None) or [""])[0]
    headline = (
        str(REASONS[slug])
        if slug in REASONS
        else (translate_text(title) if (title := _title_of(slug)) else _("The server refused it."))
    )
    fields = []
    for field, messages in errors.items():
        reasons = [translate_text(m) for m in _flat(messages)]
        if slug in REASONS and field in ("seq", "mutation_id", "entity", "op", "_"):
            continue  # the headline already says it, in words
        name = "" if field in ("_", "_schema") else _field_name(mutation.entity, field)
        fields.append({"field": name, "reasons": reasons})
    return {"headline": headline, "fields": fields, "slug": slug}


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _shown(value: object) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, str) and _ISO_DAY.fullmatch(value):
        try:  # a day as the rest of the console writes it: 2026年11月5日
            return local_date(date.fromisoformat(value))
        except ValueError:
            return value
    return str(value)


def payload_rows(entity: str, data: object, prefix: str = "") -> list[dict[str, str]]:
    """A pushed ``data`` as rows of (field in words, value); a record carried inline (a
    registration's resident) is named by its own entity's words."""
    rows: list[dict[str, str]] = []
    if not isinstance(data, dict):
        return [{"field": prefix or "—", "value": _shown(data)}]
    for key, value in data.items():
        if value is None:
            continue  # a field the tablet left out (a resident carried inline has no id yet)
        label = _field_name(entity, key)
        name = f"{prefix} · {label}" if prefix else label
        if isinstance(value, dict) and key in registry.LABELS:
            rows.extend(payload_rows(key, value, name))
        elif isinstance(value, dict | list):
            rows.append({"field": name, "value": ", ".join(_shown(v) for v in _flat(value)) or "—"})
        else:
            rows.append({"field": name, "value": _value(entity, key, value)})
    return rows


def _names(
    device_ids: set[uuid.UUID], mutation_ids: set[uuid.UUID]
) -> tuple[dict[uuid.UUID, str], dict[uuid.UUID, str]]:
    """Each tablet's label, and the officer who pushed each mutation, in two queries."""
    devices: dict[uuid.UUID, str] = (
        dict(db.session.execute(sa.select(Device.id, Device.label).where(Device.id.in_(device_ids))).all())
        if device_ids
        else {}
    )
    officers: dict[uuid.UUID, str] = (
        dict(
            db.session.execute(
                sa.select(SyncMutation.mutation_id, User.display_name)
                .join(User, User.id == SyncMutation.user_id)
                .where(SyncMutation.mutation_id.in_(mutation_ids))
            ).all()
        )
        if mutation_ids
        else {}
    )
    return devices, officers


# --- conflicts --------------------------------------------------------------------------------


def _conflict_rows(conflicts: list[SyncConflict]) -> list[dict[str, Any]]:
    devices, officers = _names({c.device_id for c in conflicts}, {c.mutation_id for c in conflicts})
    return [
        {
            "c": c,
            "what": _entity_name(c.entity),
            "fields": [_field_name(c.entity, f) for f in c.fields],
            "device": devices.get(c.device_id, "—"),
            "officer": officers.get(c.mutation_id) or "—",
            "outcome": _resolution_words(c.resolution),
        }
        for c in conflicts
    ]


def _resolution_words(resolution: str | None) -> str:
    if not resolution:
        return ""
    choice, _sep, note = resolution.partition(": ")
    words = str(CHOICE_WORDS.get(choice, choice))
    return f"{words}: {note}" if note else words


@pages.route("/conflicts/", methods=["GET"])
@staff_page("sync.resolve")
def conflicts() -> ResponseReturnValue:
    """The station's open conflicts, oldest question first; below them, the latest settled."""
    open_ = db.session.execute(resolution.conflicts_visible_to(g.actor, {"status": "open"})).scalars().all()
    settled = (
        db.session.execute(
            resolution.conflicts_visible_to(g.actor, {"status": "resolved"})
            .order_by(None)
            .order_by(SyncConflict.resolved_at.desc())
            .limit(RESOLVED_SHOWN)
        )
        .scalars()
        .all()
    )
    return render_template(
        "console/sync/conflicts.html",
        open_rows=_conflict_rows(list(reversed(open_))),
        settled_rows=_conflict_rows(list(settled)),
        open_rejections=_count_open_rejections(),
    )


def _conflict_page(
    conflict: SyncConflict,
    *,
    errors: dict[str, str] | None = None,
    chosen: dict[str, str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    [row] = _conflict_rows([conflict])
    sides = [
        {
            "field": f,
            "name": _field_name(conflict.entity, f),
            "server": _value(conflict.entity, f, s.get("server")) if isinstance(s, dict) else "—",
            "device": _value(conflict.entity, f, s.get("device") if isinstance(s, dict) else s),
        }
        for f, s in conflict.fields.items()
    ]
    mutation = db.session.get(SyncMutation, conflict.mutation_id)
    return render_template(
        "console/sync/conflict.html",
        row=row,
        c=conflict,
        sides=sides,
        mutation=mutation,
        op=_op_name(conflict.entity, mutation.op) if mutation else "",
        errors=errors or {},
        chosen=chosen or {},
    ), status


@pages.route("/conflicts/<uuid:conflict_id>", methods=["GET"])
@staff_page("sync.resolve")
def conflict(conflict_id: uuid.UUID) -> ResponseReturnValue:
    return _conflict_page(resolution.conflict_for(g.actor, conflict_id))


@pages.route("/conflicts/<uuid:conflict_id>/resolve", methods=["POST"])
@staff_page("sync.resolve")
def resolve_conflict(conflict_id: uuid.UUID) -> ResponseReturnValue:
    """Each field's side from its radio buttons (a fact: acknowledge), through the API's service."""
    found = resolution.conflict_for(g.actor, conflict_id)
    if found.status != "open":
        return _conflict_page(found, errors={"_": _("This conflict was already settled.")}, status=409)
    note = request.form.get("note", "").strip()[:500]
    if found.kind == "fields":
        choice = None
        chosen = {f: request.form.get(f"side-{f}", "") for f in found.fields}
        per_field: dict[str, str] | None = {f: side for f, side in chosen.items() if side in SIDES}
    else:
        choice, chosen, per_field = "acknowledge", {}, None
    try:
        resolution.resolve_conflict(g.actor, conflict_id, choice, note, per_field)
    except DomainError as exc:
        if exc.status == 404:
            raise
        db.session.rollback()
        errors = {}
        for key, messages in (exc.errors or {"_": [exc.detail]}).items():
            field = key.removeprefix("fields.")
            errors[field] = (
                _("Choose which value to keep.")
                if messages == [resolution.UNCHOSEN]
                else "; ".join(translate_text(m) for m in _flat(messages))
            )
        found = resolution.conflict_for(g.actor, conflict_id)
        return _conflict_page(found, errors=errors, chosen=chosen, status=exc.status if exc.status < 500 else 422)
    return redirect(url_for("sync_pages.conflict", conflict_id=conflict_id), code=303)


# --- rejected mutations -----------------------------------------------------------------------


def _count_open_rejections() -> int:
    query = resolution.rejections_visible_to(g.actor, {"status": "open"}).order_by(None)
    return db.session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()


def _named(mutation: SyncMutation) -> str:
    """The person a rejected change is about, when it names one (a name is not masked)."""
    data = (mutation.payload or {}).get("data") or {}
    resident = data.get("resident")
    inline = resident if isinstance(resident, dict) else {}
    name = data.get("name") or inline.get("name")
    return name if isinstance(name, str) else ""


def _rejection_rows(mutations: list[SyncMutation]) -> list[dict[str, Any]]:
    devices, officers = _names({m.device_id for m in mutations}, {m.mutation_id for m in mutations})
    return [
        {
            "m": m,
            "what": f"{_entity_name(m.entity)} · {_op_name(m.entity, m.op)}",
            "who": _named(m),
            "device": devices.get(m.device_id, "—"),
            "officer": officers.get(m.mutation_id) or "—",
            "reason": reason_in_words(m),
            "outcome": _resolution_words(m.resolution),
        }
        for m in mutations
    ]


@pages.route("/rejections/", methods=["GET"])
@staff_page("sync.resolve")
def rejections() -> ResponseReturnValue:
    """``?status=resolved`` for those already closed; open ones by default, newest first."""
    status = "resolved" if request.args.get("status") == "resolved" else "open"
    query = resolution.rejections_visible_to(g.actor, {"status": status}).limit(200)
    found = list(db.session.execute(query).scalars())
    return render_template("console/sync/rejections.html", rows=_rejection_rows(found), status=status)


def _rejection_page(
    mutation: SyncMutation, *, plain: object = None, errors: dict[str, str] | None = None, status: int = 200
) -> tuple[str, int]:
    [row] = _rejection_rows([mutation])
    data: Sequence[Mapping[str, object]] = payload_rows(
        mutation.entity, masked_payload(mutation.payload or {}).get("data") or {}
    )
    if plain is not None:  # the numbers the unmask revealed are marked; the rest reads as before
        data = [
            {**shown, "revealed": shown["value"] != before["value"]}
            for shown, before in zip(payload_rows(mutation.entity, plain), data, strict=True)
        ]
    return render_template(
        "console/sync/rejection.html",
        row=row,
        m=mutation,
        data=data,
        unmasked=plain is not None,
        can_unmask=g.actor.can("resident.read_pii"),
        errors=errors or {},
    ), status


@pages.route("/rejections/<uuid:mutation_id>", methods=["GET"])
@staff_page("sync.resolve")
def rejection(mutation_id: uuid.UUID) -> ResponseReturnValue:
    return _rejection_page(resolution.rejection_for(g.actor, mutation_id))


@pages.route("/rejections/<uuid:mutation_id>/unmask", methods=["POST"])
@staff_page("resident.read_pii")
def unmask_rejection(mutation_id: uuid.UUID) -> ResponseReturnValue:
    """The payload's numbers in plain once, for a stated reason, audited as the API's read."""
    mutation = resolution.rejection_for(g.actor, mutation_id)
    reason = request.form.get("reason", "").strip()
    if len(reason) < 2:
        return _rejection_page(mutation, errors={"reason": _("Say why you need the full numbers.")}, status=422)
    plain = resolution.read_rejection_pii(g.actor, mutation_id, reason=reason[:200])
    return _rejection_page(mutation, plain=plain["data"])


@pages.route("/rejections/<uuid:mutation_id>/resolve", methods=["POST"])
@staff_page("sync.resolve")
def resolve_rejection(mutation_id: uuid.UUID) -> ResponseReturnValue:
    mutation = resolution.rejection_for(g.actor, mutation_id)
    outcome = request.form.get("resolution", "")
    if mutation.resolved_at is not None:
        return _rejection_page(mutation, errors={"resolution": _("This change was already closed.")}, status=409)
    if outcome not in ("dismissed", "applied-manually"):
        return _rejection_page(mutation, errors={"resolution": _("Choose: dismiss, or entered by hand.")}, status=422)
    resolution.resolve_rejection(g.actor, mutation_id, outcome, request.form.get("note", "").strip()[:500])
    return redirect(url_for("sync_pages.rejections"), code=303)


__all__ = ["pages", "payload_rows", "reason_in_words"]
