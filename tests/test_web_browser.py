"""The whole journey in a real headless Chromium on a 375 px phone screen.

Subscribe, confirm from the mail, change preferences, unsubscribe: the same
server the HTTP tests drive, with JavaScript on, as a reader meets it.
"""

from __future__ import annotations

import pytest

from feeds.newsletter.subscribers import SubscriberStore
from tests.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.test_web import confirm_link, mails_to, token_for

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not here")
ARGS = CHROMIUM_ARGS


SCREEN = {"width": 375, "height": 667}


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def phone(chromium):
    context = chromium.new_context(viewport=SCREEN, is_mobile=True)
    yield context
    context.close()


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_subscribe_confirm_change_preferences_and_unsubscribe_on_a_phone(web_server, phone):
    page = phone.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    page.on("requestfailed", lambda request: problems.append(request.url))

    page.goto(f"{web_server.url}/subscribe")
    assert fits_the_screen(page)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "email"
    page.keyboard.type("phone@example.org")
    page.get_by_label("称呼（可不填）").fill("手机读者")
    page.get_by_label("筛选分类").fill("科技")
    assert page.locator("#category-list li:visible").count() == 1
    assert page.locator("#category-count").inner_text() == "显示 1 / 4 个分类"
    page.get_by_label("科技日报").check()
    assert page.locator("#scope-chosen").is_checked()  # ticking a category chooses "only these"
    page.get_by_role("button", name="订阅").click()
    page.wait_for_selector("text=请查收邮件")

    [mail] = mails_to(web_server, "phone@example.org")
    page.goto(confirm_link(mail))
    assert page.locator("h2").inner_text() == "确认订阅"
    page.get_by_role("button", name="确认订阅").click()
    page.wait_for_selector("text=订阅成功")

    page.get_by_role("link", name="更改分类或称呼").click()
    assert page.get_by_label("称呼（可不填）").input_value() == "手机读者"
    assert page.get_by_label("科技日报").is_checked()
    assert fits_the_screen(page)
    page.get_by_label("筛选分类").fill("东财")
    page.get_by_label("东财滚动新闻").check()
    page.get_by_role("button", name="保存设置").click()
    page.wait_for_selector("text=已保存")
    store = SubscriberStore(web_server.state_dir)
    assert store.by_email("phone@example.org").categories == ("emnews", "kejiribao")

    page.goto(
        f"{web_server.url}/unsubscribe/{token_for(web_server, 'unsubscribe', 'phone@example.org')}"
    )
    page.get_by_role("button", name="退订").click()
    page.wait_for_selector("text=已退订")
    assert store.by_email("phone@example.org").status == "unsubscribed"
    store.close()
    assert problems == []  # no script error, no blocked or failed resource (CSP included)


def test_the_filter_box_works_without_javascript(web_server, chromium):
    context = chromium.new_context(viewport=SCREEN, java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{web_server.url}/subscribe")
    page.get_by_label("电子邮件地址").fill("nojs@example.org")
    page.get_by_label("筛选分类").fill("宏")
    page.get_by_role("button", name="筛选").click()
    assert [t.strip() for t in page.locator("#category-list li").all_inner_texts()] == ["宏观"]
    assert page.get_by_label("电子邮件地址").input_value() == "nojs@example.org"
    page.get_by_label("宏观").check()
    page.get_by_label("只要下面勾选的分类").check()
    page.get_by_role("button", name="订阅", exact=True).click()
    page.wait_for_selector("text=请查收邮件")
    context.close()
    [mail] = mails_to(web_server, "nojs@example.org")
    assert "/confirm/" in confirm_link(mail)
