"""The sync pages in a real browser, on the demo's day: the clerk compares the demo tablet's
conflict side by side, keeps the tablet's name and phone and the desk's household address, then
opens the rejected registration, unmasks it for a stated reason and dismisses it. Screenshots at
1280×800."""

from __future__ import annotations

from tests.browser.harness import log_in


def test_a_clerk_settles_a_conflict_field_by_field_and_a_rejected_change(console, server):
    from playwright.sync_api import expect  # imported where used, as the browser fixture does

    page = console.page()
    log_in(page, server, "demo.staff")
    page.click("nav >> text=同步")
    assert page.locator("h1").inner_text() == "同步冲突"
    console.shot(page, "sync-conflicts")
    row = page.locator("tr").filter(has_text="北山社区-1").filter(has_text="姓名")
    row.locator("a").first.click()
    assert page.locator("h1").inner_text() == "同步冲突：居民"
    table = page.locator("table.compare").inner_text()
    assert "孙皓" in table and "孙浩然" in table and "138****7702" in table and "138****7703" in table
    assert "13812347703" not in page.content()  # the tablet's phone, masked
    page.check("input[name=side-name][value=device]")
    page.check("input[name=side-hukou_address][value=server]")
    page.check("input[name=side-phone][value=device]")
    page.fill("#note", "电话核实")
    console.shot(page, "sync-conflict")
    page.click("button:has-text('按以上选择处理')")
    expect(page.locator("dl.facts")).to_contain_text("已处理")
    assert "逐项选择" in page.locator("dl.facts").inner_text()
    console.shot(page, "sync-conflict-settled")

    page.click("main a:has-text('同步冲突')")  # back to the list, then its tab
    page.click("nav.choices >> text=被拒绝的变更")
    assert page.locator("h1").inner_text() == "被拒绝的变更"
    row = page.locator("tr").filter(has_text="吴强")
    assert "不在负责登记的责任区内" in row.inner_text() and "王建国" in row.inner_text()
    console.shot(page, "sync-rejections")
    row.locator("a").first.click()
    assert page.locator("h1").inner_text().startswith("被拒绝的变更")
    assert "138****7704" in page.locator("main").inner_text()
    assert "13812347704" not in page.content()
    page.fill("#reason", "补录登记")
    page.click("button:has-text('查看完整号码')")
    expect(page.locator("main")).to_contain_text("13812347704")
    console.shot(page, "sync-rejection-unmasked")
    page.click("button:has-text('作废')")
    expect(page.locator("h1")).to_have_text("被拒绝的变更")
    expect(page.locator("tr").filter(has_text="吴强")).to_have_count(0)
    assert console.foreign == [] and console.unexpected_errors() == []
