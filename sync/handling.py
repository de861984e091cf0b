"""What a domain's mutation handlers and document builders share, so every domain answers a tablet
the same way: the outcome of a mutation, the field-by-field merge, the loading of a mutation's
data through the online endpoint's schema, and the document a tablet receives."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, time
from typing import Any, Protocol

import orjson
import sqlalchemy as sa
from marshmallow import ValidationError

from app import fastload, pii
from app.auth.actor import Actor
from app.errors import Conflict, Unprocessable, field_error, phrase
from app.extensions import db
from app.schemas import In
from doorstep_protocol.identity import mask_phone
from doorstep_protocol.merge import merge_fields
from sync.models import SyncMutation

JsonObject = dict[str, Any]
"""A JSON object as a tablet sent it or is answered with: a pushed mutation, its data, a result."""

Scope = tuple[str, str]
"""Who receives a document: (scope kind, scope id), e.g. ("area", "<uuid>")."""


class EmptyIn(In):
    """A mutation that carries no data (visit.start)."""


class Outcome:
    """What one mutation did: the record (entity, id) to send back, and any conflict."""

    def __init__(self, entity: str, record_id: object, conflict: JsonObject | None = None) -> None:
        self.entity, self.record_id, self.conflict = entity, record_id, conflict


class Answer:
    """A batch handler's result already in hand: the record as the push answers it, without
    reading it back."""

    def __init__(self, record: JsonObject, version: int | None) -> None:
        self.record, self.version = record, version


@dataclass
class Document:
    doc: bytes
    version: int | None  # None: the feed position serves as the version
    scopes: set[Scope] | None  # None: not read yet (see ``DocumentKind.scopes_of_many``)


def clock_time(value: time | None) -> str | None:
    return value.strftime("%H:%M") if value is not None else None


def iso_date(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def encode(data: JsonObject) -> bytes:
    return orjson.dumps(data)


def as_uuid(value: object, field: str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise field_error(field, "must be a UUID") from None


# Each handler loads the mutation's data through the input schema of the online endpoint for the
# same action, so a tablet's malformed mutation is rejected naming the field, exactly as online.


def refusal(exc: ValidationError) -> Unprocessable:
    """A schema's refusal as the 422 naming each field (a load of one object is refused with
    ``{field: [reasons]}``; anything else is said to be about the whole object)."""
    messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    return Unprocessable("; ".join(f"{k}: {v}" for k, v in messages.items()), errors=messages)


def load(schema: type, data: object) -> JsonObject:
    try:
        return fastload.loader(schema)(data)
    except ValidationError as exc:
        raise refusal(exc) from None


# --- field-by-field merge --------------------------------------------------------------------


class Versioned(Protocol):
    """A synced record: its version rises with every change."""

    @property
    def version(self) -> int: ...


class FieldVersioned(Versioned, Protocol):
    """A synced record that keeps, per field, the version that last changed it."""

    @property
    def field_versions(self) -> dict[str, int] | None: ...


def merge(
    record: FieldVersioned, base_version: int | None, data: JsonObject, current: JsonObject
) -> tuple[JsonObject, dict[str, JsonObject]]:
    """Fields the server has not changed since ``base_version`` take the device's value; a field
    both changed keeps the server's value and goes into the conflict."""
    return merge_fields(record.field_versions or {}, base_version, data, current)


def mask_conflict(clashes: dict[str, JsonObject]) -> dict[str, JsonObject]:
    """Conflicts are stored for staff: phone numbers masked, the device's value kept encrypted."""
    out: dict[str, JsonObject] = {}
    for field, sides in clashes.items():
        if field.endswith("phone"):
            out[field] = {
                "server": mask_phone(sides["server"]),
                "device": mask_phone(sides["device"]),
                "device_enc": pii.encrypt(pii.PHONE, sides["device"]),
            }
        else:
            out[field] = sides
    return out


def field_conflict(clashes: dict[str, JsonObject]) -> JsonObject | None:
    return {"kind": "fields", "fields": mask_conflict(clashes)} if clashes else None


def normalized_phone(data: JsonObject, field: str) -> JsonObject:
    if data.get(field) is not None:
        try:
            data = {**data, field: pii.normalize_phone(data[field])}
        except pii.InvalidPII as exc:
            raise field_error(field, str(exc)) from None
    return data


class VersionAhead(Conflict):
    slug, title = "version-ahead", "The device names a version the server never had"


def not_ahead(record: Versioned | None, m: JsonObject) -> None:
    """A ``base_version`` above the record's version is no edit of anything the server holds (a
    tablet restored from a backup of another server, a client bug): merging it would overwrite
    staff's edits as if the device had seen them. Refused, and kept for a person."""
    base = m.get("base_version")
    if record is not None and base is not None and base > record.version:
        raise VersionAhead(
            phrase(
                "base_version %(base)s is ahead of the server's version %(version)s", base=base, version=record.version
            ),
            errors={"base_version": [phrase("ahead of the server's version %(version)s", version=record.version)]},
        )


# --- ids the device made up for records the server already had --------------------------------

# The creates the push being applied has settled so far, by (entity, the tablet's id): their rows
# are written when the push ends, and a later mutation of the same push may name one.
_PUSHED_CREATES: ContextVar[Mapping[tuple[str, str], JsonObject] | None] = ContextVar("pushed_creates", default=None)


@contextmanager
def pushed_creates(created: Mapping[tuple[str, str], JsonObject]) -> Iterator[None]:
    """While a push is applied, ``known_id`` looks in ``created`` before the stored results."""
    token = _PUSHED_CREATES.set(created)
    try:
        yield
    finally:
        _PUSHED_CREATES.reset(token)


def known_id(actor: Actor, model: type, entity: str, value: object, field: str) -> uuid.UUID:
    """A tablet that created a record the server already knew used its own uuid; the create
    answered with the existing record's id. Later mutations of that device may still name the
    tablet's uuid (sent before the answer came): map it, so the officer's work does not fail."""
    client_id = as_uuid(value, field)
    pushed = _PUSHED_CREATES.get()
    linked = pushed.get((entity, str(client_id))) if pushed is not None else None
    if linked and (linked.get("record") or {}).get("id") == str(client_id):
        return client_id  # this push created it under the tablet's id: the row is there, no query
    if db.session.get(model, client_id) is not None:
        return client_id
    if linked is None:
        linked = db.session.execute(
            sa.select(SyncMutation.result).where(
                SyncMutation.device_id == actor.device_id,
                SyncMutation.entity == entity,
                SyncMutation.op == "create",
                SyncMutation.record_id == str(client_id),
                SyncMutation.status == "applied",
            )
        ).scalar_one_or_none()
    if linked and linked.get("record"):
        return uuid.UUID(linked["record"]["id"])
    return client_id
