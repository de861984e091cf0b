"""What a tablet receives for each synced record, and who should receive it.

Built once when the record is written (inside the writing transaction) and stored as JSON text,
so pull serves them as they are. Each domain registers its entities' builders
(``sync.registry.register_document``); the stations' areas, the kernel's, are registered here."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, scoped_session

from app.extensions import db
from app.org.models import Area
from sync import registry
from sync.handling import Document, encode

Key = tuple[str, str]  # (entity, record id as text)
AnySession = Session | scoped_session[Any]  # a flush hook's session, or db.session


def area(a: Area) -> Document:
    data = {"station_id": str(a.station_id), "code": a.code, "name": a.name, "kind": a.kind}
    return Document(encode(data), None, {("station", str(a.station_id))} if a.active else set())


registry.register_document(registry.DocumentKind("area", Area, area))


def build(entity: str, obj: Any) -> Document:
    """One record's document with its scopes."""
    return build_many(db.session, [(entity, obj)])[(entity, str(obj.id))]


# --- documents built earlier in the same transaction ---------------------------------------------
# A push answers each mutation with the record's document, and the feed stores the same document
# at commit: built once, kept in the session until the record (or a record its document shows) is
# flushed again. Only documents that depend on nothing else are kept (``DocumentKind.cached``): a
# visit's shows its booking, a delivery's its permit and holder, and those change without
# touching them.

CACHE = "sync_documents"


def _cache(session: AnySession) -> dict[Key, Document]:
    """The documents kept in this session (``session.info`` holds them between flushes)."""
    cache: dict[Key, Document] = session.info.setdefault(CACHE, {})
    return cache


def forget(session: AnySession, entity: str, obj: Any) -> None:
    cache = session.info.get(CACHE)
    if cache:
        cache.pop((entity, str(obj.id)), None)
        also = registry.DOCUMENTS[entity].also_forget
        if also is not None:
            cache.pop(also(obj), None)


def build_cached(session: AnySession, entity: str, obj: Any) -> Document:
    """The document a push answers with (its scopes may still be unread)."""
    key = (entity, str(obj.id))
    cache = _cache(session)
    if key not in cache:
        kind = registry.DOCUMENTS[entity]
        document = kind.build(obj)
        if not kind.cached:
            return document
        cache[key] = document
    return cache[key]


def build_many(session: AnySession, items: list[tuple[str, Any]]) -> dict[Key, Document]:
    """{(entity, id): Document} for many records: kept documents reused, scopes left unread
    filled in one query per entity."""
    cache: dict[Key, Document] = session.info.get(CACHE) or {}
    out: dict[Key, Document] = {}
    unscoped: dict[str, dict[Any, Document]] = {}
    for entity, obj in items:
        key = (entity, str(obj.id))
        out[key] = cache.get(key) or registry.DOCUMENTS[entity].build(obj)
        if out[key].scopes is None:
            unscoped.setdefault(entity, {})[obj.id] = out[key]
    for entity, documents in unscoped.items():
        scopes_of_many = registry.DOCUMENTS[entity].scopes_of_many
        if scopes_of_many is None:  # a kind that leaves scopes unread must say how to read them
            raise LookupError(f"sync: the {entity!r} documents have no scopes_of_many")
        for record_id, scopes in scopes_of_many(list(documents)).items():
            documents[record_id].scopes = scopes
    return out


def possibly_scoped(inserted: list[tuple[str, object]]) -> set[tuple[str, object]]:
    """Of records just inserted, those a device's scope may hold (``DocumentKind.scoped_on_insert``):
    the hundreds of people a push registers are skipped without reading anything."""
    return {
        (entity, record_id)
        for entity, record_id in inserted
        if registry.DOCUMENTS[entity].scoped_on_insert is not False
    }


def related(entity: str, obj: Any) -> list[tuple[str, object]]:
    """Records whose document or scope depends on this one."""
    return [record for related in registry.RELATED.get(entity, ()) for record in related(obj)]
