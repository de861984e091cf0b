"""Languages: one catalogue (``app/translations``) for the console's pages and the API's problem
texts. Message ids are English; ``zh_CN`` is the console's default and ``en`` its second language.

The console speaks the account's chosen language, else the browser's ``Accept-Language``, else
Chinese. The API keeps English as its default, since machines read it: only a caller that asks
for Chinese (``Accept-Language: zh-CN``, ``zh``, …) gets Chinese problem titles and details."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from babel.messages.mofile import read_mo
from flask import Flask, g, has_request_context, request
from flask_babel import Babel, gettext

CONSOLE_LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
_TAGS = {"zh-CN": "zh_CN", "en": "en"}  # Accept-Language tags → catalogue names
TRANSLATIONS = Path(__file__).resolve().parents[1] / "translations"
# Every catalogue holds the same English ids: the Chinese one, where every message is translated,
# lists the templates that ``translate_reason`` can recognise.
MESSAGES_LOCALE = "zh_Hans_CN"

babel = Babel()


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    app.config["BABEL_DEFAULT_TIMEZONE"] = app.config["STATION_TIMEZONE"]
    babel.init_app(app, locale_selector=select_locale)


def browser_locale() -> str | None:
    """The catalogue the browser prefers, by its ``Accept-Language`` (any ``zh`` is Chinese)."""
    best = request.accept_languages.best_match(list(_TAGS))
    return _TAGS.get(best) if best else None


def is_console_request() -> bool:
    # deferred: app.errors imports this module for problem texts, and access imports app.errors
    from app.web.access import CONSOLE_BLUEPRINTS

    return request.blueprint in CONSOLE_BLUEPRINTS


def select_locale() -> str | None:
    if not has_request_context():
        return None
    if is_console_request():
        user = g.get("console_user")
        if user is not None and user.locale in CONSOLE_LOCALES:
            locale: str = user.locale
            return locale
        return browser_locale() or DEFAULT_LOCALE
    return "zh_CN" if browser_locale() == "zh_CN" else "en"


def translate_detail(detail: str) -> str:
    """A problem's detail in the request's language: a fixed sentence as a whole; a templated one
    (``field: reason; field: reason``) reason by reason, where the catalogue knows the reason.
    What the catalogue does not know stays English, never half-translated within a sentence."""
    whole = translate_reason(detail)
    if whole != detail:
        return whole
    parts = []
    for part in detail.split("; "):
        field, sep, reason = part.partition(": ")
        parts.append(f"{field}: {translate_reason(reason)}" if sep and reason else part)
    return "; ".join(parts)


def translate_reason(text: str) -> str:
    """One sentence in the request's language: the catalogue's own, or one made with
    ``app.errors.phrase`` from a template the catalogue translates, its values put back in the
    translation. Anything else stays as it was."""
    if not text or "%" in text:  # gettext("") is the catalogue's header; with "%" it would format
        return text
    translated = gettext(text)
    if translated != text:
        return translated
    for pattern, names, template in phrase_patterns(MESSAGES_LOCALE):
        found = pattern.fullmatch(text)
        if found is not None:
            worded = gettext(template)
            return worded % dict(zip(names, found.groups(), strict=True)) if worded != template else text
    return text


_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@cache
def phrase_patterns(folder: str) -> tuple[tuple[re.Pattern[str], tuple[str, ...], str], ...]:
    """Every translated template with named text values (``%(name)s``), as a pattern that matches
    its English with any values in their places: how a reason made by ``app.errors.phrase`` is
    known again, here and on the tablet (``tablet/static/js/reasons.js``, same rules). A template
    with other conversions (``%(n)d``: a value read back is text) or with no words of its own
    (it would match any sentence) is left out. The templates with the most words of their own come
    first (the catalogue's order among equals): a sentence made from a particular template (``declared
    %(declared)s, but the bytes are not an accepted type``) is not taken by a general one that
    matches it too (``declared %(declared)s, but the bytes are %(actual)s``)."""
    found = []
    for msgid in catalogue(folder):
        pieces = _PLACEHOLDER.split(msgid)  # text, name, text, name, …, text
        words = "".join(pieces[::2])
        if len(pieces) > 1 and "%" not in words and re.search(r"[A-Za-z]", words):
            regex = "".join(re.escape(p) if i % 2 == 0 else "(.+?)" for i, p in enumerate(pieces))
            found.append((len(words), re.compile(regex, re.DOTALL), tuple(pieces[1::2]), msgid))
    found.sort(key=lambda f: -f[0])  # stable: equals keep the catalogue's order
    return tuple((pattern, names, msgid) for _, pattern, names, msgid in found)


def translate_text(text: str) -> str:
    """A fixed text (a problem title) in the request's language; texts with ``%`` stay as they are
    (gettext would try to format them)."""
    return text if not text or "%" in text else gettext(text)


def compiled_catalogue(folder: str) -> Path:
    """The ``.mo`` file the app reads for a locale folder (Babel's name: ``zh_Hans_CN``)."""
    return TRANSLATIONS / folder / "LC_MESSAGES" / "messages.mo"


@cache
def catalogue(folder: str) -> dict[str, str]:
    """Every translated singular message of a locale, keyed by its English id: for a client that
    shows the server's reasons itself, offline, in the words the console uses (the tablet)."""
    with compiled_catalogue(folder).open("rb") as f:
        messages = read_mo(f)
    found: dict[str, str] = {}
    for m in messages:
        if isinstance(m.id, str) and isinstance(m.string, str) and m.id and m.string:
            found[m.id] = m.string
    return found
