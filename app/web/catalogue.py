"""The translation catalogue's upkeep: ``python -m compose.catalogue update`` collects every
message (``_``/``gettext``/``lazy_gettext``/``_l`` in Python, ``_()`` in templates, and every fixed
problem title the API can send) into ``app/translations/*/LC_MESSAGES/messages.po``, keeping what is
translated; ``compile`` writes the ``.mo`` files the app reads. Both are committed, so a fresh clone
runs without a build step; a test fails when a ``.mo`` is older than its ``.po`` or a title lacks
its Chinese."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from werkzeug.exceptions import default_exceptions

from app.errors import HTTP_SLUGS, DomainError

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "app" / "translations"
# Directory names are Babel's names of the locales: Flask-Babel looks ``zh_CN`` up as
# ``zh_Hans_CN`` (Babel adds the script), and would not find a ``zh_CN`` folder.
LOCALES = ("zh_Hans_CN", "en")
SOURCES = ("app", "appointments", "field_api", "sync", "citizen")
METHODS = [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**/static/**", "ignore"), ("**.py", "python")]
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "_l": None, "field_error": (2,), "phrase": (1,)}


def po_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


def mo_path(locale: str) -> Path:
    return po_path(locale).with_suffix(".mo")


def problem_texts() -> set[str]:
    """Every fixed title (and fixed detail) a problem+json response can carry: of the errors
    imported, so the caller composes the app first (``compose.catalogue``, the tests' app)."""
    texts, todo = set(), [DomainError]
    while todo:
        cls = todo.pop()
        if isinstance(cls.title, str):  # a title computed per instance is translated where it is made
            texts.add(cls.title)
        todo.extend(cls.__subclasses__())
    texts.update(default_exceptions[code]().name for code in HTTP_SLUGS if code in default_exceptions)
    texts.update(FIXED_DETAILS)
    return texts


# Details sent as they are (no field, no number in them), and the common per-field reasons of
# marshmallow and webargs: these read as whole sentences in Chinese.
FIXED_DETAILS = (
    "Service temporarily unavailable",
    "The database could not complete this request now; nothing was applied. Send it again shortly.",
    "Internal server error",
    "The server failed to handle this request; it has been logged.",
    "This request takes no body",
    "wrong username or password",
    "a Bearer access token is required",
    "Missing data for required field.",
    "Unknown field.",
    "Not a valid string.",
    "Not a valid integer.",
    "Not a valid UUID.",
    "Not a valid date.",
    "Not a valid boolean.",
    "Field may not be null.",
    "Invalid input type.",
    "must be an 11-digit mainland mobile number starting 13-19",
    "must be 18 characters",
    "is required",
    "reload the page and submit the form again",
)


def template() -> Catalog:
    catalog = Catalog(project="Doorstep", msgid_bugs_address="", charset="utf-8")
    for source in SOURCES:
        for filename, lineno, message, comments, context in extract_from_dir(
            ROOT / source, METHODS, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",), strip_comment_tags=True
        ):
            catalog.add(message, None, [(f"{source}/{filename}", lineno)], auto_comments=comments, context=context)
    for text in sorted(problem_texts()):
        if text not in catalog:
            catalog.add(text, None, [("app/errors.py", 0)], auto_comments=["problem+json title or detail"])
    return catalog


def update() -> None:
    pot = template()
    for locale in LOCALES:
        path = po_path(locale)
        if path.exists():
            with path.open("rb") as f:
                catalog = read_po(f, locale=locale)
            catalog.update(pot, no_fuzzy_matching=True, update_header_comment=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale=locale, project="Doorstep", charset="utf-8")
            catalog.update(pot)
        catalog.fuzzy = False  # the header: a fuzzy one would keep write_mo from trusting it
        with path.open("wb") as f:
            write_po(f, catalog, width=100, sort_output=True, omit_header=False, ignore_obsolete=True)


def compiled(locale: str) -> bytes:
    with po_path(locale).open("rb") as f:
        catalog = read_po(f, locale=locale)
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def compile_all() -> None:
    for locale in LOCALES:
        mo_path(locale).write_bytes(compiled(locale))


def main(argv: list[str]) -> None:
    command = argv[1] if len(argv) > 1 else ""
    if command == "update":
        update()
    elif command == "compile":
        compile_all()
    else:
        sys.exit("usage: python -m compose.catalogue update|compile")
