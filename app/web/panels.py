"""The dashboard's panels. The kernel draws the page; each feature registers the panels it owns
(from its ``console_panels`` module) with a function that renders one for an actor, through the
feature's own scoped queries. The kernel thus shows visits and reviews without importing either.

A panel's ``render(actor)`` returns HTML (``Markup``), usually built with ``part()`` from the
kernel's partial templates (counts, tables) and ``app.web.charts``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import render_template
from flask_babel.speaklater import LazyString
from markupsafe import Markup

from app.auth.actor import Actor


@dataclass(frozen=True)
class Panel:
    name: str
    order: int
    title: str | LazyString  # a lazy string, translated when the page is drawn
    render: Callable[[Actor], Markup]
    permission: str | None = None
    wide: bool = False


_PANELS: dict[str, Panel] = {}


def register_panel(
    name: str,
    order: int,
    render: Callable[[Actor], Markup],
    *,
    title: str | LazyString,
    permission: str | None = None,
    wide: bool = False,
) -> Panel:
    """Add a panel to the dashboard, at ``order`` (smaller first). ``permission``: shown only to
    actors who hold it. A second registration of one name must be the same function (a module
    imported twice), never a different panel silently replacing the first."""
    panel = Panel(name, order, title, render, permission, wide)
    known = _PANELS.get(name)
    if known is not None and known.render is not render and known.render.__qualname__ != render.__qualname__:
        raise ValueError(f"a dashboard panel named {name!r} is already registered")
    _PANELS[name] = panel
    return panel


def panels_for(actor: Actor) -> list[Panel]:
    return sorted(
        (p for p in _PANELS.values() if p.permission is None or actor.can(p.permission)),
        key=lambda p: (p.order, p.name),
    )


def registered() -> list[str]:
    return sorted(_PANELS)


def part(name: str, **context: object) -> Markup:
    """One of the kernel's partials (``templates/console/parts/<name>.html``), rendered."""
    return Markup(render_template(f"console/parts/{name}.html", **context))  # noqa: S704 (autoescaped template)
