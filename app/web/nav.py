"""The console's navigation: pages register an entry, the base template lists those the actor
may open. The kernel registers only its own page; features add theirs."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel.speaklater import LazyString

from app.auth.actor import Actor


@dataclass(frozen=True)
class NavEntry:
    endpoint: str
    title: str | LazyString  # a lazy string, translated when the page is drawn
    order: int
    permission: str | None = None


_ENTRIES: dict[str, NavEntry] = {}


def register_nav(endpoint: str, title: str | LazyString, order: int, *, permission: str | None = None) -> None:
    _ENTRIES[endpoint] = NavEntry(endpoint, title, order, permission)


def entries_for(actor: Actor) -> list[NavEntry]:
    return sorted(
        (e for e in _ENTRIES.values() if e.permission is None or actor.can(e.permission)),
        key=lambda e: (e.order, e.endpoint),
    )
