"""Message texts, Chinese by default. Kept to two SMS segments at most: 134 characters when any
character is Chinese (2 × 67 UCS-2), 306 when the whole text is GSM-7 (2 × 153). English texts
carry the station's Chinese name, so in practice they are held to 134 as well.

Feature packages add their templates to ``TEMPLATES`` when imported (``appointments.notices``,
``field_api.notices``); ``tests/app/notify/test_templates.py`` renders every one with long,
realistic values."""

from __future__ import annotations

from typing import Any

from app import short_links
from app.pii import scrub

TEMPLATES: dict[str, dict[str, str]] = {
    "otp": {
        "zh": "【Doorstep】您的验证码是{code}，{minutes}分钟内有效，请勿告诉他人。",
        "en": "[Doorstep] Your code is {code}, valid for {minutes} minutes. Do not share it.",
    },
}

# Parameters shown as they are when staff read the outbox; any other value is personal or
# identifying (a name, a booking reference, a permit number) and is masked. Secret ones are
# never stored at all (the OTP code reaches the provider only).
PUBLIC_PARAMS = frozenset({"station", "day", "start", "end", "purpose", "minutes", "decision"})
SECRET_PARAMS = frozenset({"code"})


class UnknownTemplate(KeyError):
    pass


def _format(template: str, locale: str, params: dict[str, Any]) -> str:
    try:
        texts = TEMPLATES[template]
    except KeyError:
        raise UnknownTemplate(template) from None
    return texts.get(locale, texts["zh"]).format_map(params)


def render(template: str, locale: str, params: dict[str, Any]) -> str:
    """The text for the provider. A stored ``link`` (``"B:<reference>"``) becomes its signed URL
    only here, so the outbox never holds a working link (app.short_links)."""
    if "link" in params:
        params = {**params, "link": short_links.url(str(params["link"]))}
    return _format(template, locale, params)


def mask_value(value: object) -> str:
    """Keep the first character (a surname), and the last of longer values, so staff can tell
    messages apart without reading them: 王*, 王*国, A******5."""
    text = str(value)
    if len(text) <= 1:
        return "*" * len(text)
    if len(text) == 2:
        return text[0] + "*"
    return text[0] + "*" * (len(text) - 2) + text[-1]


class _Masked(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "…"


def render_masked(template: str, locale: str, params: dict[str, Any]) -> str | None:
    """The text as staff may see it: non-public values masked, secrets starred, numbers scrubbed.
    None when the template no longer exists."""
    shown = _Masked(
        {
            k: ("******" if k in SECRET_PARAMS else v if k in PUBLIC_PARAMS else mask_value(v))
            for k, v in (params or {}).items()
        }
    )
    for key in SECRET_PARAMS:
        shown.setdefault(key, "******")
    try:
        return scrub(_format(template, locale, shown))
    except (UnknownTemplate, IndexError, ValueError):
        return None
