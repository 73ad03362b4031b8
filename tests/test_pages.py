"""Pages for people: index.html lists every feed, each feed folder has a page of its own."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import lxml.html
import pytest

from feeds.errors import TemplateError
from feeds.output.build import build
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, NOW


@pytest.fixture
def built(site, make_settings):
    for n in range(3):
        site.post(f"2022-05-2{n}-k{n}.md", title=f"科技{n}", date=f"2022-05-2{n} 09:00:00 +0800")
    site.post(
        "2022-05-24-e.md",
        title="<b>加粗</b> & <script>alert(1)</script>标题",
        categories="emnews",
        body="<script>alert(2)</script>摘要<img src=x onerror=alert(3)>",
    )
    long_name = "21shijijingjibaodaonancailicaitong" * 3  # no space to break at
    site.post("2022-05-23-l.md", title="长" * 80, categories=long_name, date="2022-05-23 08:00")
    config = (
        "feeds:\n  categories: {emnews: {title: '滚动 <i>新闻</i>'}}\n"
        "  category_page: /category/{name}.html\n"
    )
    settings = make_settings(site.root, config)
    build(settings, now=NOW)
    return settings


def page(path: Path):
    return lxml.html.fromstring(path.read_bytes())


def discovery(document) -> list[tuple[str, str]]:
    return [
        (link.get("type"), link.get("href")) for link in document.xpath("//link[@rel='alternate']")
    ]


def test_the_index_lists_every_category_with_its_count_page_and_feeds(built):
    document = page(built.output / "index.html")
    rows = document.xpath("//ul[@id='categories']/li")
    assert [(row.xpath("string(a)"), row.xpath("string(span)")) for row in rows] == [
        ("21shijijingjibaodaonancailicaitong" * 3, "1 篇"),
        ("kejiribao", "3 篇"),
        ("滚动 <i>新闻</i>", "1 篇"),
    ]
    assert rows[1].xpath("a/@href") == ["category/kejiribao/"]
    assert rows[1].xpath(".//div[@class='links']/a/@href") == [
        "https://example.org/feeds/category/kejiribao/atom.xml",
        "https://example.org/feeds/category/kejiribao/rss.xml",
        "https://example.org/feeds/category/kejiribao/feed.json",
    ]
    assert document.xpath("//input[@type='search']/@id") == ["filter"]
    assert discovery(document) == [
        ("application/atom+xml", "https://example.org/feeds/atom.xml"),
        ("application/rss+xml", "https://example.org/feeds/rss.xml"),
        ("application/feed+json", "https://example.org/feeds/feed.json"),
    ]
    assert document.xpath("//a[@href='feeds.opml']")


def test_a_category_page_says_what_the_feed_is_and_shows_its_latest_entries(built):
    document = page(built.output / "category" / "kejiribao" / "index.html")
    assert document.xpath("string(//h1)") == "kejiribao"
    assert document.xpath("//ul[@class='urls']//code/text()") == [
        "https://example.org/feeds/category/kejiribao/atom.xml",
        "https://example.org/feeds/category/kejiribao/rss.xml",
        "https://example.org/feeds/category/kejiribao/feed.json",
    ]
    assert document.xpath("//button/@data-copy") == document.xpath(
        "//ul[@class='urls']//code/text()"
    )
    assert "RSS 阅读器" in document.text_content()
    entries = document.xpath("//ul[@class='entries']/li")
    assert [entry.xpath("string(a)") for entry in entries] == ["科技2", "科技1", "科技0"]
    assert entries[0].xpath("a/@href") == ["https://example.org/kejiribao/2022/05/22/k2.html"]
    assert entries[0].xpath("time/@datetime") == ["2022-05-22T09:00:00+08:00"]
    assert entries[0].xpath("string(time)") == "2022-05-22 09:00"
    assert entries[0].xpath("string(p)") == "正文。"
    assert [href for _, href in discovery(document)] == document.xpath("//button/@data-copy")
    assert document.xpath("//a[@href='https://example.org/category/kejiribao.html']")


def test_titles_names_and_summaries_are_text_and_nothing_runs(built):
    html = (built.output / "category" / "emnews" / "index.html").read_text(encoding="utf-8")
    document = lxml.html.fromstring(html)
    assert document.xpath("string(//h1)") == "滚动 <i>新闻</i>"
    assert document.xpath("string(//ul[@class='entries']/li/a)") == "加粗 & 标题"
    assert document.xpath("string(//ul[@class='entries']/li/p)") == "摘要"
    assert "alert(" not in html and "<i>" not in html and "onerror" not in html


def test_pages_load_nothing_from_other_hosts(built):
    for path in (built.output / "index.html", built.output / "category/kejiribao/index.html"):
        document = page(path)
        fetched = document.xpath("//script/@src | //img/@src | //link[@rel='stylesheet']/@href")
        fetched += document.xpath("//iframe/@src | //style[contains(., 'url(')]")
        assert fetched == [], path


def test_a_template_in_the_users_folder_replaces_the_packaged_one(site, tmp_path):
    from feeds.config import load_settings

    site.post("2022-05-24-a.md")
    (tmp_path / "mine" / "pages").mkdir(parents=True)
    (tmp_path / "mine" / "pages" / "index.html").write_text(
        "<p>{{ categories | length }} 个栏目</p>", encoding="utf-8"
    )
    config = tmp_path / "config.yaml"
    config.write_text("digest: {templates_dir: mine}\n", encoding="utf-8")
    settings = load_settings(config, site_dir=site.root, output=tmp_path / "out")
    build(settings, now=NOW)
    assert (tmp_path / "out" / "index.html").read_text(encoding="utf-8") == "<p>1 个栏目</p>"
    assert "<h1>kejiribao</h1>" in (tmp_path / "out/category/kejiribao/index.html").read_text(
        encoding="utf-8"
    )


def test_a_broken_template_stops_the_build_before_anything_is_written(site, tmp_path):
    from feeds.config import load_settings

    site.post("2022-05-24-a.md")
    (tmp_path / "mine" / "pages").mkdir(parents=True)
    (tmp_path / "mine" / "pages" / "category.html").write_text("{% if %}", encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text("digest: {templates_dir: mine}\n", encoding="utf-8")
    settings = load_settings(config, site_dir=site.root, output=tmp_path / "out")
    with pytest.raises(TemplateError, match=r"category.html: line 1: "):
        build(settings, now=NOW)
    assert not (tmp_path / "out").exists()


def test_pages_can_be_turned_off(site, make_settings):
    site.post("2022-05-24-a.md")
    settings = make_settings(site.root, "feeds: {pages: false}\n")
    build(settings, now=NOW)
    assert sorted(p.name for p in settings.output.rglob("*.html")) == []


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed")
def test_both_pages_fit_a_375_pixel_phone_screen(built):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 375, "height": 800})
            requests: list[str] = []
            context.on("request", lambda request: requests.append(request.url))
            browser_page = context.new_page()
            long_page = next(built.output.glob("category/21shiji*/index.html"))
            emnews = built.output / "category/emnews/index.html"
            for path in (built.output / "index.html", emnews, long_page):
                browser_page.goto(path.as_uri())
                widths = browser_page.evaluate(
                    "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
                )
                assert widths[0] <= widths[1] == 375, (path, widths)
                font = browser_page.evaluate("getComputedStyle(document.body).fontSize")
                assert font == "16px"
            browser_page.goto((built.output / "index.html").as_uri())
            browser_page.fill("#filter", "kej")
            visible = browser_page.locator("#categories li:visible a.name").all_inner_texts()
            assert visible == ["kejiribao"]
        finally:
            browser.close()
    assert {urlsplit(url).scheme for url in requests} == {"file"}


def test_an_edited_page_template_remakes_the_pages_in_a_warm_build(site, tmp_path):
    from feeds.config import load_settings

    site.post("2022-05-24-a.md")
    (tmp_path / "mine").mkdir()
    config = tmp_path / "config.yaml"
    config.write_text("digest: {templates_dir: mine}\n", encoding="utf-8")
    settings = load_settings(config, site_dir=site.root, output=tmp_path / "out")
    build(settings, now=NOW)
    (tmp_path / "mine" / "pages").mkdir()
    (tmp_path / "mine" / "pages" / "category.html").write_text(
        "<p>{{ name }}</p>", encoding="utf-8"
    )
    build(settings, now=NOW)
    page = tmp_path / "out" / "category" / "kejiribao" / "index.html"
    assert page.read_text(encoding="utf-8") == "<p>kejiribao</p>"


def test_an_edited_template_that_a_page_includes_remakes_the_pages_in_a_warm_build(site, tmp_path):
    from feeds.config import load_settings

    site.post("2022-05-24-a.md")
    parts = tmp_path / "mine" / "pages" / "parts"
    parts.mkdir(parents=True)
    (parts / "name.html").write_text("<b>{{ name }}</b>", encoding="utf-8")
    (parts.parent / "category.html").write_text(
        '<p>{% include "pages/parts/name.html" %}</p>', encoding="utf-8"
    )
    config = tmp_path / "config.yaml"
    config.write_text("digest: {templates_dir: mine}\n", encoding="utf-8")
    settings = load_settings(config, site_dir=site.root, output=tmp_path / "out")
    build(settings, now=NOW)
    (parts / "name.html").write_text("<i>{{ name }}</i>", encoding="utf-8")
    build(settings, now=NOW)
    page = tmp_path / "out" / "category" / "kejiribao" / "index.html"
    assert page.read_text(encoding="utf-8") == "<p><i>kejiribao</i></p>"


def test_turning_pages_off_removes_the_index_page_of_a_site_without_posts(site, make_settings):
    built = make_settings(site.root, "feeds: {pages: true}\n")
    build(built, now=NOW)
    assert (built.output / "index.html").exists()
    build(make_settings(site.root, "feeds: {pages: false}\n"), now=NOW)
    assert sorted(p.name for p in built.output.rglob("*")) == ["feeds.opml"]


def test_an_index_page_of_the_site_owners_own_stays_when_pages_were_never_on(site, make_settings):
    settings = make_settings(site.root, "feeds: {pages: false}\n")
    settings.output.mkdir(parents=True)
    (settings.output / "index.html").write_text("<p>mine</p>", encoding="utf-8")
    build(settings, now=NOW)
    build(make_settings(site.root, "feeds: {pages: false, formats: [atom]}\n"), now=NOW)
    assert (settings.output / "index.html").read_text(encoding="utf-8") == "<p>mine</p>"
