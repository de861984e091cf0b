"""What each domain tells sync, so that sync never names a domain: the handler of each pushed
(entity, op), the document a tablet receives for each synced record, how staff apply a device's
value when resolving a conflict, what a domain does when a pull serves its records, and the
reference data a first pull carries.

Each domain fills these tables from its own ``sync`` module, called from its ``register(app)``.
Registering the same thing twice (one process building several apps) is harmless; registering
another thing under a taken name is a bug and raises."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from app.auth.actor import Actor
from app.errors import DomainError
from sync.handling import Answer, Document, JsonObject, Outcome, Scope

R = TypeVar("R")  # a synced entity's model

Handler = Callable[[Actor, JsonObject, JsonObject], Outcome]
"""``handler(actor, mutation, data) -> Outcome``: applies one pushed mutation (``data`` loaded
through the schema it was registered with) through the domain's service."""

BatchHandler = Callable[[Actor, list[JsonObject], list[JsonObject]], Sequence[DomainError | Outcome | Answer]]
"""``handler(actor, items, audit_contexts) -> [DomainError | Outcome | Answer]``: applies a run of
pushed mutations of one (entity, op) in one call, each item settled on its own."""

Related = Callable[[Any], Sequence[tuple[str, object]]]
"""``related(obj) -> [(entity, id)]``, for a record of any domain's model."""

Resolver = Callable[[Actor, Any, JsonObject], object]
"""``apply(actor, record_id, values)``: staff keep a device's values of a conflict."""

Served = Callable[[list[str], uuid.UUID], None]
"""``served(record_ids, device_id)``, after a pull page carried those records."""


@dataclass(frozen=True)
class Mutation:
    handler: Handler
    schema: type  # the input schema of the online endpoint for the same action


Prepare = Callable[[Actor, list[JsonObject]], None]
"""``prepare(actor, mutations)``: once per push, before any is applied, with every new mutation of
the batched (entity, op) the push carries, as sent: reads for all of them in one query what each
run would otherwise read again (a day's push alternates people and their residence, so runs are
of one)."""


@dataclass(frozen=True)
class Batch:
    handler: BatchHandler
    schema: type
    prepare: Prepare | None = None


@dataclass(frozen=True)
class DocumentKind(Generic[R]):
    """A synced entity: its model, the builder of the document a tablet receives, and what the
    feed must know about it."""

    entity: str
    model: type[R]
    build: Callable[[R], Document]
    # Kept in the session once built (until the record is flushed again): only for documents that
    # depend on nothing but their own row (and ``also_forget``'s).
    cached: bool = False
    # Cached documents this record's flush makes stale, read from the row alone: (entity, id).
    also_forget: Callable[[R], tuple[str, str]] | None = None
    # For documents built with scopes None: {record id: scopes}, for many at once.
    scopes_of_many: Callable[[list[Any]], Mapping[Any, set[Scope]]] | None = None
    # False when a record inserted in a transaction cannot be in any device's scope until
    # something else (which then publishes it) refers to it; or a test of a row ``app.bulk`` wrote
    # as new, False when the row alone shows no scope can hold it yet (a visit nobody is assigned).
    scoped_on_insert: bool | Callable[[Mapping[str, Any]], bool] = True


@dataclass(frozen=True)
class Labels:
    """An entity in the console's words (lazy translations): its name, its fields', its
    mutations', and the words for the coded values of some fields (``{"housing": {"rented": …}}``)."""

    name: object
    fields: Mapping[str, object]
    ops: Mapping[str, object]
    values: Mapping[str, Mapping[str, object]]


MUTATIONS: dict[tuple[str, str], Mutation] = {}
BATCHES: dict[tuple[str, str], Batch] = {}
DOCUMENTS: dict[str, DocumentKind[Any]] = {}
ENTITIES: dict[type, str] = {}  # model -> entity, for the feed's flush hooks
RELATED: dict[str, list[Related]] = {}  # entity -> [related(obj) -> [(entity, id)]]
RESOLVERS: dict[str, Resolver] = {}  # entity -> apply(actor, record_id, values)
SERVED: dict[str, Served] = {}  # entity -> served(record_ids, device_id), after a pull page
KNOWN_ENTITIES: set[str] = set()
LABELS: dict[str, Labels] = {}  # entity -> how the console says it
REFERENCES: dict[str, JsonObject] = {}  # name -> reference data, on every first pull page

_document_hooks: list[Callable[[DocumentKind[Any]], None]] = []

K = TypeVar("K")
V = TypeVar("V")


def _put(table: dict[K, V], key: K, value: V) -> bool:
    """True if newly added; False if the same value was already there."""
    if key in table:
        if table[key] != value:
            raise ValueError(f"sync: {key!r} is already registered")
        return False
    table[key] = value
    return True


def register_handler(entity: str, op: str, handler: Handler, schema: type) -> None:
    _put(MUTATIONS, (entity, op), Mutation(handler, schema))
    KNOWN_ENTITIES.add(entity)


def register_batch(entity: str, op: str, handler: BatchHandler, schema: type, prepare: Prepare | None = None) -> None:
    """Consecutive new mutations of this (entity, op) in one push go to ``handler`` together, all
    of them to ``prepare`` first."""
    _put(BATCHES, (entity, op), Batch(handler, schema, prepare))
    KNOWN_ENTITIES.add(entity)


def register_document(kind: DocumentKind[Any]) -> None:
    if _put(DOCUMENTS, kind.entity, kind):
        ENTITIES[kind.model] = kind.entity
        for hook in _document_hooks:
            hook(kind)


def register_related(entity: str, related: Related) -> None:
    """``related(obj) -> [(entity, id)]``: records whose document or scope depends on a record of
    ``entity``, published again when it changes. Any domain may add to any entity: a delivery's
    document shows its visit, which the appointments domain registers."""
    found = RELATED.setdefault(entity, [])
    if related not in found:
        found.append(related)


def register_resolver(entity: str, apply: Resolver) -> None:
    _put(RESOLVERS, entity, apply)


def register_labels(
    entity: str,
    name: object,
    fields: Mapping[str, object] | None = None,
    ops: Mapping[str, object] | None = None,
    values: Mapping[str, Mapping[str, object]] | None = None,
) -> None:
    """How the console names an entity, its fields, its mutations and coded values on the
    conflicts and rejections pages (lazy translations; anything not given shows as the wire's).
    Registered again, it replaces: the texts are the same lazy strings."""
    LABELS[entity] = Labels(name, dict(fields or {}), dict(ops or {}), {k: dict(v) for k, v in (values or {}).items()})


def register_reference(name: str, data: JsonObject) -> None:
    """Reference data a domain owns that every tablet gets on its first pull, as the record
    (``reference``, ``name``): permits' material kinds, which sync serves but must not name."""
    _put(REFERENCES, name, data)


def on_served(entity: str, served: Served) -> None:
    _put(SERVED, entity, served)


def on_document_registered(hook: Callable[[DocumentKind[Any]], None]) -> None:
    """``hook(kind)`` for every document kind, those registered already and those to come."""
    _document_hooks.append(hook)
    for kind in list(DOCUMENTS.values()):
        hook(kind)


def schema_of(entity: str, op: str) -> type | None:
    """The input schema a pushed (entity, op) is loaded with."""
    found = MUTATIONS.get((entity, op)) or BATCHES.get((entity, op))
    return found.schema if found else None
