"""What residency asks of the features built on it, without importing them. Permits build on
residency (an application is made on a registration), so residency may not import permits; where a
residency rule or page needs to know of applications, permits register the answer here when
field work plugs in (``field_api.register``), as domains do with ``sync.registry`` and the
dashboard's ``app.web.panels``.

- the six-month notice invites a resident to apply for a permit: a registration someone already
  applied on gets no notice (``already_applied``);
- the console's page of a resident shows what other features hold of them, each in a section of
  its own (``resident_sections``).

Registering the same thing twice (one process building several apps) is harmless; another
function under a taken name is a bug and raises."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask_babel.speaklater import LazyString
from markupsafe import Markup

from app.auth.actor import Actor

AlreadyApplied = Callable[[Any], sa.ColumnElement[bool]]
"""``applied(registration) -> clause``: true for a registration (the ``Registration`` entity of the
enclosing query, correlated) that already has what its six-month notice invites to."""


@dataclass(frozen=True)
class ResidentSection:
    name: str
    order: int
    title: str | LazyString  # a lazy string, translated when the page is drawn
    render: Callable[[Actor, uuid.UUID], Markup]  # (actor, resident id): the section's HTML


_APPLIED: dict[str, AlreadyApplied] = {}
_SECTIONS: dict[str, ResidentSection] = {}


def _put(table: dict[str, Any], name: str, value: Any, same: Callable[[Any, Any], bool]) -> None:
    known = table.get(name)
    if known is not None and not same(known, value):
        raise ValueError(f"{name!r} is already registered")
    table[name] = value


def register_already_applied(name: str, applied: AlreadyApplied) -> None:
    _put(_APPLIED, name, applied, lambda a, b: a is b)


def register_resident_section(
    name: str, order: int, render: Callable[[Actor, uuid.UUID], Markup], *, title: str | LazyString
) -> None:
    """A section of the resident's console page, at ``order`` (smaller first), below the
    registrations."""
    _put(_SECTIONS, name, ResidentSection(name, order, title, render), lambda a, b: a.render is b.render)


def already_applied(registration: Any) -> list[sa.ColumnElement[bool]]:
    """One clause per registered feature; a registration matching any has been applied on."""
    return [applied(registration) for applied in _APPLIED.values()]


def resident_sections() -> list[ResidentSection]:
    return sorted(_SECTIONS.values(), key=lambda s: (s.order, s.name))
