"""Message texts, Chinese by default. Kept short: an SMS segment holds 70 Chinese characters."""
from __future__ import annotations

TEMPLATES: dict[str, dict[str, str]] = {
    "otp": {
        "zh": "【Doorstep】您的验证码是{code}，{minutes}分钟内有效，请勿告诉他人。",
        "en": "[Doorstep] Your code is {code}, valid for {minutes} minutes. Do not share it.",
    },
}


class UnknownTemplate(KeyError):
    pass


def render(template: str, locale: str, params: dict) -> str:
    try:
        texts = TEMPLATES[template]
    except KeyError:
        raise UnknownTemplate(template) from None
    return texts.get(locale, texts["zh"]).format_map(params)
