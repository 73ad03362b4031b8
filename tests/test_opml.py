"""feeds.opml: every category feed and the site-wide feed, for importing into a reader."""

from __future__ import annotations

from lxml import etree

from feeds.output.build import build
from feeds.output.opml import Outline, opml_document
from tests.conftest import NOW


def outlines(path) -> list[dict[str, str]]:
    document = etree.parse(str(path))
    assert document.getroot().tag == "opml" and document.getroot().get("version") == "2.0"
    return [dict(outline.attrib) for outline in document.iterfind("body/outline")]


def test_the_build_lists_the_site_feed_then_every_category_by_display_name(site, make_settings):
    site.post("2022-05-24-a.md", categories="kejiribao emnews TechWeb")
    config = (
        "feeds:\n  categories: {kejiribao: {title: 科技日报}, emnews: {title: 'A & <B>'}}\n"
        "  category_page: /category/{name}.html\n"
    )
    settings = make_settings(site.root, config)
    build(settings, now=NOW)
    assert outlines(settings.output / "feeds.opml") == [
        {
            "type": "rss",
            "text": "测试站",
            "title": "测试站",
            "xmlUrl": "https://example.org/feeds/atom.xml",
            "htmlUrl": "https://example.org/",
        },
        {
            "type": "rss",
            "text": "A & <B>",
            "title": "A & <B>",
            "xmlUrl": "https://example.org/feeds/category/emnews/atom.xml",
            "htmlUrl": "https://example.org/category/emnews.html",
        },
        {
            "type": "rss",
            "text": "TechWeb",
            "title": "TechWeb",
            "xmlUrl": "https://example.org/feeds/category/techweb-06ac56a6/atom.xml",
            "htmlUrl": "https://example.org/category/TechWeb.html",
        },
        {
            "type": "rss",
            "text": "科技日报",
            "title": "科技日报",
            "xmlUrl": "https://example.org/feeds/category/kejiribao/atom.xml",
            "htmlUrl": "https://example.org/category/kejiribao.html",
        },
    ]


def test_tag_feeds_are_not_listed(site, make_settings):
    site.post("2022-05-24-a.md", extra="tags: 财经")
    settings = make_settings(site.root, "feeds: {tags: true}\n")
    build(settings, now=NOW)
    assert [o["xmlUrl"] for o in outlines(settings.output / "feeds.opml")] == [
        "https://example.org/feeds/atom.xml",
        "https://example.org/feeds/category/kejiribao/atom.xml",
    ]


def test_without_atom_the_list_names_the_first_format(site, make_settings):
    site.post("2022-05-24-a.md")
    settings = make_settings(site.root, "feeds: {formats: [rss, json]}\n")
    build(settings, now=NOW)
    assert (
        outlines(settings.output / "feeds.opml")[0]["xmlUrl"] == "https://example.org/feeds/rss.xml"
    )


def test_the_same_feeds_give_the_same_bytes_whatever_their_order():
    feeds = [Outline(f"c{n}", f"https://e.org/{n}.xml", "https://e.org/") for n in range(5)]
    site = Outline("站", "https://e.org/atom.xml", "https://e.org/")
    assert opml_document("t", site, feeds) == opml_document("t", site, feeds[::-1])
    assert opml_document("t", site, feeds).startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
