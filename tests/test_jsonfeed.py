"""feed.json: JSON Feed 1.1 beside every Atom and RSS feed, with the same entries."""

from __future__ import annotations

import json

from feeds.output.build import build
from tests.conftest import NOW


def test_every_feed_json_is_valid_json_feed_with_the_entries_of_its_atom_feed(
    example_site, make_settings, check_feed, check_json_feed
):
    settings = make_settings(example_site)
    build(settings, now=NOW)
    documents = sorted(settings.output.rglob("feed.json"))
    assert len(documents) == 7
    for path in documents:
        document = check_json_feed(path)
        atom = check_feed(path.with_name("atom.xml"))
        assert [item["id"] for item in document["items"]] == [e.id for e in atom.entries]
        assert [item["title"] for item in document["items"]] == [e.title for e in atom.entries]


def test_items_carry_what_the_issue_lists_in_a_fixed_order(site, make_settings, check_json_feed):
    site.post("2022-05-24-a.md", title="标题", body="正文。[链接](/x.html)", extra="tags: 财经")
    settings = make_settings(site.root, "feeds: {hubs: ['https://hub.example.org/']}\n")
    build(settings, now=NOW)
    document = check_json_feed(settings.output / "category" / "kejiribao" / "feed.json")
    assert list(document) == [
        "version",
        "title",
        "home_page_url",
        "feed_url",
        "language",
        "authors",
        "hubs",
        "items",
    ]
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert document["feed_url"] == "https://example.org/feeds/category/kejiribao/feed.json"
    assert document["hubs"] == [{"type": "WebSub", "url": "https://hub.example.org/"}]
    assert document["language"] == "zh-CN"
    url = "https://example.org/kejiribao/2022/05/24/a.html"
    assert document["items"] == [
        {
            "id": url,
            "url": url,
            "title": "标题",
            "content_html": '<p>正文。<a href="https://example.org/x.html">链接</a></p>',
            "summary": "正文。链接",
            "date_published": "2022-05-24T20:51:19+08:00",
            "authors": [{"name": "Tester"}],
            "tags": ["kejiribao", "财经"],
        }
    ]
    assert list(document["items"][0])[:4] == ["id", "url", "title", "content_html"]


def test_chinese_is_written_as_itself_and_the_bytes_never_change(site, make_settings):
    site.post("2022-05-24-a.md", title="科技")
    settings = make_settings(site.root)
    build(settings, now=NOW)
    path = settings.output / "feed.json"
    data = path.read_bytes()
    assert "科技".encode() in data and b"\\u" not in data
    assert json.loads(data)["items"][0]["title"] == "科技"
    path.unlink()
    build(settings, now=NOW)
    assert path.read_bytes() == data


def test_formats_choose_the_files(site, make_settings):
    site.post("2022-05-24-a.md")
    settings = make_settings(site.root, "feeds: {formats: [json]}\n")
    build(settings, now=NOW)
    assert sorted(p.name for p in (settings.output / "category" / "kejiribao").iterdir()) == [
        "feed.json",
        "index.html",
    ]
