"""Safe folder names, writes that stay inside the output folder, atomic and only when changed."""

from __future__ import annotations

import os

import pytest

from feeds.errors import FeedsError
from feeds.output.feedwriter import safe_slug, safe_target, write_if_changed

NASTY_NAMES = [
    "../../etc",
    "/abs",
    "..",
    ".",
    "",
    "a/b",
    "C:\\x",
    "21shijijingjibaodao  nancailicaitong",
]


def test_plain_pinyin_names_are_their_own_slug():
    assert safe_slug("kejiribao") == "kejiribao"
    assert safe_slug("36ke") == "36ke"


def test_case_spaces_parentheses_and_cjk_get_distinct_stable_slugs():
    names = [
        "TechWeb",
        "Techweb",
        "techweb",
        "anxinguojizhengquan(xianggang)",
        "21shijijingjibaodao 21caijingAPP",
        "21shijijingjibaodao  nancailicaitong",
        "科技日报",
    ]
    slugs = [safe_slug(name) for name in names]
    assert len({slug.lower() for slug in slugs}) == len(names)
    assert slugs[0] == "techweb-" + slugs[0].split("-")[-1] and slugs[2] == "techweb"
    assert all(slug == slug.lower() and slug.isascii() for slug in slugs)
    assert [safe_slug(name) for name in names] == slugs


@pytest.mark.parametrize("name", NASTY_NAMES)
def test_no_name_can_leave_its_folder(name, tmp_path):
    slug = safe_slug(name)
    assert "/" not in slug and "\\" not in slug and slug not in ("", ".", "..")
    target = safe_target(tmp_path, f"category/{slug}/atom.xml")
    assert target.parent.parent == (tmp_path / "category").resolve()


@pytest.mark.parametrize("relative", ["../x.xml", "/etc/x.xml", "a/../../x.xml", "."])
def test_writes_outside_the_output_folder_are_refused(relative, tmp_path):
    with pytest.raises(FeedsError, match="refusing to write outside the output folder"):
        write_if_changed(tmp_path / "out", relative, b"x")


def test_symlinked_folder_pointing_outside_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "out" / "category")
    with pytest.raises(FeedsError):
        write_if_changed(tmp_path / "out", "category/x/atom.xml", b"x")
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_unchanged_bytes_leave_the_file_untouched(tmp_path):
    assert write_if_changed(tmp_path, "a/atom.xml", b"one") is True
    target = tmp_path / "a" / "atom.xml"
    os.utime(target, (1_000_000, 1_000_000))
    assert write_if_changed(tmp_path, "a/atom.xml", b"one") is False
    assert target.stat().st_mtime == 1_000_000
    assert write_if_changed(tmp_path, "a/atom.xml", b"two") is True
    assert target.read_bytes() == b"two"


def test_writes_leave_no_temporary_files_and_are_world_readable(tmp_path):
    write_if_changed(tmp_path, "atom.xml", b"x")
    assert [p.name for p in tmp_path.iterdir()] == ["atom.xml"]
    assert (tmp_path / "atom.xml").stat().st_mode & 0o777 == 0o644


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    write_if_changed(tmp_path, "atom.xml", b"old")

    def broken_replace(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_if_changed(tmp_path, "atom.xml", b"new")
    assert (tmp_path / "atom.xml").read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["atom.xml"]


def test_hubs_are_named_beside_the_self_link_in_every_format(site, make_settings, check_feed):
    from feeds.output.build import build
    from tests.conftest import NOW

    site.post("2022-05-24-a.md")
    hubs = "['https://hub.example.org/', 'https://pubsubhubbub.appspot.com/']"
    build(make_settings(site.root, f"feeds: {{hubs: {hubs}}}\n"), now=NOW)
    out = site.root.parent / "out"
    atom = (out / "atom.xml").read_text(encoding="utf-8")
    assert (
        '  <link href="https://example.org/feeds/atom.xml" rel="self"/>\n'
        '  <link href="https://hub.example.org/" rel="hub"/>\n'
        '  <link href="https://pubsubhubbub.appspot.com/" rel="hub"/>\n'
    ) in atom
    rss = (out / "rss.xml").read_text(encoding="utf-8")
    assert (
        '    <atom:link href="https://example.org/feeds/rss.xml" rel="self"/>\n'
        '    <atom:link href="https://hub.example.org/" rel="hub"/>\n'
        '    <atom:link href="https://pubsubhubbub.appspot.com/" rel="hub"/>\n'
    ) in rss
    check_feed(out / "atom.xml")  # still valid against RFC 4287's schema
    parsed = check_feed(out / "rss.xml")
    assert [link.href for link in parsed.feed.links if link.rel == "hub"] == [
        "https://hub.example.org/",
        "https://pubsubhubbub.appspot.com/",
    ]


def test_without_hubs_no_hub_link_is_written(site, make_settings):
    from feeds.output.build import build
    from tests.conftest import NOW

    site.post("2022-05-24-a.md")
    build(make_settings(site.root), now=NOW)
    out = site.root.parent / "out"
    assert 'rel="hub"' not in (out / "atom.xml").read_text(encoding="utf-8")
    assert 'rel="hub"' not in (out / "rss.xml").read_text(encoding="utf-8")
    assert "hubs" not in (out / "feed.json").read_text(encoding="utf-8")


def test_an_entry_the_xml_writer_refuses_is_left_out_with_a_warning_and_the_rest_written():
    from zoneinfo import ZoneInfo

    from feeds.config import Site
    from feeds.output.feedwriter import FeedSpec, feed_document
    from feeds.site.post import Post
    from feeds.site.render import Rendered

    site = Site("https://e.org", "", "站", "zh", ZoneInfo("UTC"), None, "date", None)
    posts = [
        Post(
            f"_posts/{n}.md",
            n,
            n,
            1_650_000_000_000_000 - i,
            0,
            ("c",),
            (),
            f"https://e.org/{n}",
            None,
            True,
        )
        for i, n in enumerate(["good", "bad"])
    ]
    rendered = {
        "https://e.org/good": Rendered("<p>ok</p>", "ok"),
        "https://e.org/bad": Rendered("<p>\x01</p>", "x"),
    }
    problems = []
    for kind in ("atom", "rss"):
        data = feed_document(
            FeedSpec("", "站", "https://e.org/", posts),
            kind,
            site=site,
            base_url="https://e.org/f",
            rendered=rendered,
            problems=problems,
        )
        assert b"https://e.org/good" in data and b"https://e.org/bad" not in data
    assert [str(p) for p in problems] == [
        "_posts/bad.md: left out of the feeds: All strings must be XML compatible: "
        "Unicode or ASCII, no NULL bytes or control characters"
    ] * 2


def test_a_category_name_too_long_for_a_file_name_still_gets_a_folder():
    assert len(safe_slug("a" * 300)) == 255
    assert len(safe_slug("Ab " * 200)) <= 255
    assert safe_slug("a" * 300) != safe_slug("a" * 301)
