"""Languages: the console in the account's language, else the browser's, else Chinese; the API's
problem titles and details in Chinese for a Chinese caller and English otherwise; the catalogue
complete and compiled."""

from __future__ import annotations

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from app.web import catalogue
from tests.app.web.helpers import log_in, session_token


@pytest.mark.parametrize(
    "accept, heading",
    [
        ("zh-CN,zh;q=0.9", "登录派出所工作台"),
        ("en-US,en;q=0.8", "Log in to the station console"),
        ("zh-TW", "登录派出所工作台"),
        ("fr", "登录派出所工作台"),
        ("", "登录派出所工作台"),
    ],
)
def test_the_log_in_page_speaks_the_browsers_language_chinese_by_default(client, accept, heading):
    page = client.get("/console/login", headers={"Accept-Language": accept} if accept else {})
    assert f"<h1>{heading}</h1>" in page.get_data(as_text=True)


def test_the_accounts_choice_wins_over_the_browser_and_follows_the_account(client, app, world):
    log_in(client, world.staff[0], **{"Accept-Language": "zh-CN"})
    client.post("/console/language", data={"locale": "en", "csrf_token": session_token(client)})
    assert "<h1>Today</h1>" in client.get("/console/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    elsewhere = app.test_client()  # another desk, another browser
    log_in(elsewhere, world.staff[0], **{"Accept-Language": "zh-CN"})
    assert "<h1>Today</h1>" in elsewhere.get("/console/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)


def test_an_unknown_language_is_refused_and_kept_as_it_was(client, world):
    log_in(client, world.staff[0])
    resp = client.post("/console/language", data={"locale": "fr", "csrf_token": session_token(client)})
    assert resp.status_code == 400 and "<h1>今日</h1>" in client.get("/console/").get_data(as_text=True)


@pytest.mark.parametrize(
    "accept, title, detail",
    [
        ("zh-CN", "无法处理的请求", "username: 缺少必填字段。; password: 缺少必填字段。"),
        ("zh", "无法处理的请求", "username: 缺少必填字段。; password: 缺少必填字段。"),
        (
            "en-GB",
            "Unprocessable Entity",
            "username: Missing data for required field.; password: Missing data for required field.",
        ),
        (
            None,
            "Unprocessable Entity",
            "username: Missing data for required field.; password: Missing data for required field.",
        ),
    ],
)
def test_the_same_bad_request_in_chinese_and_in_english(client, accept, title, detail):
    resp = client.post("/api/v1/auth/login", json={}, headers={"Accept-Language": accept} if accept else {})
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    body = resp.json
    assert (body["title"], body["detail"]) == (title, detail)
    assert body["type"].endswith("/validation-failed")  # what programs read stays as it was
    assert body["errors"] == {
        "username": ["Missing data for required field."],
        "password": ["Missing data for required field."],
    }


@pytest.mark.parametrize(
    "accept, title, detail",
    [
        ("zh-CN", "需要登录", "需要 Bearer 访问令牌"),
        ("en", "Authentication required", "a Bearer access token is required"),
    ],
)
def test_a_domain_problem_in_both_languages(client, accept, title, detail):
    body = client.get("/api/v1/me", headers={"Accept-Language": accept}).json
    assert (body["title"], body["detail"]) == (title, detail)


def test_a_detail_the_catalogue_does_not_know_stays_english_whole(client, world, make):
    resp = client.get(
        "/api/v1/visits/00000000-0000-4000-8000-000000000000",
        headers={**make.auth(world.staff[0]), "Accept-Language": "zh-CN"},
    )
    assert resp.status_code == 404 and resp.json["title"] == "未找到" and resp.json["detail"] == "no such visit"


@pytest.mark.parametrize(
    "accept, detail",
    [("zh-CN", "to: 日期范围最多 400 天"), ("en", "to: the range may span at most 400 days")],
)
def test_a_reason_with_a_value_in_it_is_translated_with_the_value_in_place(client, accept, detail):
    resp = client.get(
        "/api/v1/calendar", query_string={"from": "2026-01-01", "to": "2027-12-31"}, headers={"Accept-Language": accept}
    )
    assert resp.status_code == 422 and resp.json["detail"] == detail
    assert resp.json["errors"] == {"to": ["the range may span at most 400 days"]}  # programs read English


@pytest.mark.parametrize(
    "english, chinese",
    [
        # values holding a pattern's special characters stay as they were
        ("must be one of completed, not_home (a.b)", "必须是以下之一：completed, not_home (a.b)"),
        ("windows 08:00-10:00 and 09:00-11:00 overlap", "时段 08:00-10:00 与 09:00-11:00 重叠"),
        ("is required", "为必填项"),  # a fixed sentence is looked up as a whole first
        ("must be one of", "must be one of"),  # no value where the template has one: not that template
        ("a sentence nobody wrote", "a sentence nobody wrote"),
    ],
)
def test_reasons_are_known_again_by_their_templates(app, english, chinese):
    from app.web.i18n import translate_reason

    with app.test_request_context("/api/v1/me", headers={"Accept-Language": "zh-CN"}):
        assert translate_reason(english) == chinese


def test_an_empty_text_stays_empty_not_the_catalogues_header(app):
    """gettext's translation of "" is the catalogue's header (its project, dates and encoding)."""
    from app.web.i18n import translate_detail, translate_reason, translate_text

    with app.test_request_context("/api/v1/me", headers={"Accept-Language": "zh-CN"}):
        assert (translate_reason(""), translate_detail(""), translate_text("")) == ("", "", "")


def _po(locale):
    with catalogue.po_path(locale).open("rb") as f:
        return read_po(f, locale=locale)


@pytest.mark.parametrize("locale", catalogue.LOCALES)
def test_each_compiled_catalogue_matches_its_po(locale):
    """The .mo files are committed (a fresh clone runs without a build step): run
    ``python -m compose.catalogue compile`` after editing a .po."""
    with catalogue.mo_path(locale).open("rb") as f:
        compiled = {m.id: m.string for m in read_mo(f) if m.id}
    written = {m.id: m.string for m in _po(locale) if m.id and m.string and not m.fuzzy}
    assert compiled == written


def test_every_fixed_problem_title_and_console_text_has_its_chinese():
    """``python -m compose.catalogue update`` adds what is new; then translate it in the zh .po."""
    zh = {m.id: m.string for m in _po("zh_Hans_CN") if m.id}
    missing = sorted(t for t in catalogue.problem_texts() if not zh.get(t))
    assert missing == []
    untranslated = sorted(m.id for m in _po("zh_Hans_CN") if m.id and (not m.string or m.fuzzy))
    assert untranslated == []
    in_code = {m.id for m in catalogue.template() if m.id}
    assert in_code - set(zh) == set(), "run python -m compose.catalogue update"
