"""`feeds build` end to end: real sites in tmp_path, every feed parsed and validated."""

from __future__ import annotations

import html
import os
import subprocess
import sys
from calendar import timegm
from pathlib import Path

import pytest

from feeds.errors import ConfigError, StrictError
from feeds.output.build import build, check_creatable
from feeds.output.feedwriter import safe_slug
from tests.conftest import CORPUS, NOW, post_text


def feed_files(out: Path) -> list[Path]:
    return sorted(out.rglob("*.xml"))


def output_files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.is_file())


def snapshot(out: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(out)): (p.read_bytes(), p.stat().st_mtime_ns) for p in output_files(out)
    }


def test_example_site_builds_valid_feeds_for_every_category(
    example_site, make_settings, check_feed, tmp_path
):
    settings = make_settings(example_site)
    report = build(settings, now=NOW)
    assert (report.posts, report.skipped) == (7, 1)
    names = {str(p.relative_to(settings.output)) for p in output_files(settings.output)}
    categories = [
        "emnews",
        "kejiribao",
        "sitenews",
        "21shijijingjibaodao",
        "21caijingAPP",
        "TechWeb",
    ]
    expected = {"atom.xml", "rss.xml", "feed.json", "index.html", "feeds.opml"} | {
        f"category/{safe_slug(c)}/{f}"
        for c in categories
        for f in ("atom.xml", "rss.xml", "feed.json", "index.html")
    }
    assert names == expected
    assert report.written == len(expected)
    for path in feed_files(settings.output):
        check_feed(path)


def test_entries_are_newest_first_limited_and_carry_what_readers_need(
    site, make_settings, check_feed
):
    for day in range(1, 26):
        site.post(
            f"2022-05-{day:02d}-p{day}.md",
            date=f"2022-05-{day:02d} 09:00:00 +0800",
            title=f"第{day}条",
            body=f"第{day}条正文。[链接](/x.html)",
        )
    settings = make_settings(site.root, "feeds: {limit: 20}\n")
    build(settings, now=NOW)
    for name in ("atom.xml", "rss.xml"):
        feed = check_feed(settings.output / "category" / "kejiribao" / name)
        titles = [entry.title for entry in feed.entries]
        assert titles == [f"第{day}条" for day in range(25, 5, -1)]
        entry = feed.entries[0]
        assert entry.link == entry.id == "https://example.org/kejiribao/2022/05/25/p25.html"
        assert entry.published in ("2022-05-25T09:00:00+08:00", "Wed, 25 May 2022 09:00:00 +0800")
        assert entry.summary == "第25条正文。链接"
        assert 'href="https://example.org/x.html"' in entry.content[0].value
        assert [tag.term for tag in entry.tags] == ["kejiribao"]
        assert entry.author == "Tester"
        assert feed.feed.title == "测试站 · kejiribao"
    rss = (settings.output / "category/kejiribao/rss.xml").read_text(encoding="utf-8")
    assert "<language>zh-CN</language>" in rss
    assert (
        '<guid isPermaLink="true">https://example.org/kejiribao/2022/05/25/p25.html</guid>' in rss
    )
    assert "<lastBuildDate>Wed, 25 May 2022 09:00:00 +0800</lastBuildDate>" in rss
    atom = (settings.output / "category/kejiribao/atom.xml").read_text(encoding="utf-8")
    assert '<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="zh-CN">' in atom
    assert "<updated>2022-05-25T09:00:00+08:00</updated>" in atom.split("<entry>")[0]
    assert '<link href="https://example.org/feeds/category/kejiribao/atom.xml" rel="self"/>' in atom


def test_display_names_and_category_pages_come_from_config(site, make_settings, check_feed):
    site.post("2022-05-24-a.md")
    settings = make_settings(
        site.root,
        "feeds:\n  categories: {kejiribao: {title: 科技日报}}\n"
        "  category_page: /category/{name}.html\n  url: https://cdn.example.org/f\n",
    )
    build(settings, now=NOW)
    feed = check_feed(settings.output / "category/kejiribao/rss.xml")
    assert feed.feed.title == "测试站 · 科技日报"
    assert feed.feed.link == "https://example.org/category/kejiribao.html"
    atom = (settings.output / "category/kejiribao/atom.xml").read_text(encoding="utf-8")
    assert "https://cdn.example.org/f/category/kejiribao/atom.xml" in atom


def test_rebuild_without_changes_touches_no_byte_and_no_mtime(example_site, make_settings):
    settings = make_settings(example_site)
    build(settings, now=NOW)
    before = snapshot(settings.output)
    report = build(settings, now=NOW.replace(year=2027))
    assert report.written == 0 and report.unchanged == len(before)
    assert snapshot(settings.output) == before


def test_a_new_post_rewrites_only_the_feeds_it_is_in(example_site, make_settings):
    settings = make_settings(example_site)
    build(settings, now=NOW)
    before = snapshot(settings.output)
    (example_site / "_posts" / "2022-05-25-new.md").write_text(
        "---\ntitle: 新\ndate: 2022-05-25 08:00:00 +0800\ncategories: sitenews\n---\n新。\n",
        encoding="utf-8",
    )
    report = build(settings, now=NOW)
    after = snapshot(settings.output)
    changed = sorted(name for name in after if after[name] != before[name])
    assert changed == [
        "atom.xml",
        "category/sitenews/atom.xml",
        "category/sitenews/feed.json",
        "category/sitenews/index.html",
        "category/sitenews/rss.xml",
        "feed.json",
        "index.html",  # the count of entries beside the category
        "rss.xml",
    ]
    assert report.written == 8


def test_categories_that_look_like_paths_stay_inside_the_output(site, make_settings, tmp_path):
    site.post("2022-05-24-a.md", categories='["../../etc", "/abs", "..", "TechWeb", "Techweb"]')
    settings = make_settings(site.root, output=tmp_path / "deep" / "out")
    build(settings, now=NOW)
    outside = [p for p in tmp_path.rglob("*.xml") if settings.output not in p.parents]
    assert outside == []
    assert len(list((settings.output / "category").iterdir())) == 5


def test_tag_feeds_when_enabled(site, make_settings, check_feed):
    site.post("2022-05-24-a.md", extra="tags: 科技日报新闻")
    settings = make_settings(site.root, "feeds: {tags: true, formats: [atom]}\n")
    build(settings, now=NOW)
    feed = check_feed(settings.output / "tag" / safe_slug("科技日报新闻") / "atom.xml")
    assert feed.feed.title == "测试站 · 科技日报新闻"
    assert not (settings.output / "rss.xml").exists()


def test_two_files_with_one_url_give_one_entry(site, make_settings, check_feed):
    site.post("2022-05-24-same.md")
    site.post("2022-05-24-same.markdown")
    settings = make_settings(site.root)
    report = build(settings, now=NOW)
    assert [str(p) for p in report.problems] == [
        f"{site.posts}/2022-05-24-same.md: skipped: same URL as {site.posts}/2022-05-24-same.markdown"
    ]
    assert len(check_feed(settings.output / "atom.xml").entries) == 1


def test_strict_writes_nothing_when_there_are_warnings(site, make_settings):
    site.post("2022-05-24-a.md", title="")
    settings = make_settings(site.root)
    with pytest.raises(StrictError):
        build(settings, now=NOW, strict=True)
    assert not settings.output.exists()


def test_forbidden_characters_in_titles_and_bodies_do_not_break_the_feed(
    site, make_settings, check_feed
):
    site.post(
        "2022-05-24-a.md",
        '---\ntitle: "控制\\x01字符\\x0b"\ndate: 2022-05-24\n---\n正\x01文\x0c。\n',
    )
    settings = make_settings(site.root)
    build(settings, now=NOW)
    entry = check_feed(settings.output / "atom.xml").entries[0]
    assert entry.title == "控制字符"
    assert entry.summary == "正文。"


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus/finews is not here")
def test_the_real_corpus_builds_one_valid_feed_per_category(make_settings, check_feed, tmp_path):
    settings = make_settings(CORPUS)
    report = build(settings, now=NOW)
    assert (report.posts, report.skipped) == (100, 1)
    assert sorted(os.listdir(settings.output / "category")) == ["emnews", "kejiribao", "sitenews"]
    for path in feed_files(settings.output):
        feed = check_feed(path)
        for entry in feed.entries:
            assert entry.link.startswith("https://finews.withounder.com/")
            assert "../" not in entry.content[0].value and 'href="//' not in entry.content[0].value
            # RSS carries the summary as escaped HTML (`&lt;1%`): count the text readers show
            assert len(html.unescape(entry.get("summary", ""))) <= 142
    kejiribao = check_feed(settings.output / "category/kejiribao/atom.xml")
    assert [e.link for e in kejiribao.entries] == [
        "https://finews.withounder.com/kejiribao/2022/05/24/NW202205242390329689.html"
    ]
    emnews = check_feed(settings.output / "category/emnews/rss.xml")
    dates = [entry.published_parsed for entry in emnews.entries]
    assert dates == sorted(dates, reverse=True)
    # a busy category: every post of the three hours before its newest, more than `limit`
    assert len(dates) > 20 and timegm(dates[0]) - timegm(dates[-1]) <= 3 * 3600


def rendered_text(field) -> str:
    """What a reader shows for a feed field: HTML fields are rendered, text fields shown as is."""
    import lxml.html

    text = field.text or ""
    if field.tag.endswith("}summary") and field.get("type", "text") == "text":
        return text
    return lxml.html.fragment_fromstring(text, create_parent="div").text_content()


def test_escaped_markup_in_posts_reaches_readers_as_text_not_markup(site, make_settings):
    from lxml import etree

    site.post(
        "2022-05-24-a.html",
        body="<p>Write &lt;script&gt;alert(document.cookie)&lt;/script&gt; in the page.</p>",
    )
    site.post("2022-05-23-b.md", date="2022-05-23", body="Try `<img src=x onerror=alert(1)>` now.")
    settings = make_settings(site.root)
    build(settings, now=NOW)
    expected = [
        "Write <script>alert(document.cookie)</script> in the page.",
        "Try <img src=x onerror=alert(1)> now.",
    ]
    rss = etree.parse(str(settings.output / "rss.xml"))
    assert [rendered_text(d) for d in rss.iterfind("channel/item/description")] == expected
    atom = etree.parse(str(settings.output / "atom.xml"))
    summaries = atom.iterfind(
        "{http://www.w3.org/2005/Atom}entry/{http://www.w3.org/2005/Atom}summary"
    )
    assert [rendered_text(s) for s in summaries] == expected
    encoded = "{http://purl.org/rss/1.0/modules/content/}encoded"
    assert [rendered_text(c) for c in rss.iter(encoded)] == expected


def test_a_post_file_name_that_is_not_utf8_does_not_stop_the_build(site, make_settings):
    site.post("2022-05-24-a.md")
    with open(os.fsencode(site.posts) + b"/2022-05-25-caf\xe9.md", "wb") as stream:
        stream.write(post_text(title="咖啡").encode("utf-8"))
    settings = make_settings(site.root)
    assert build(settings, now=NOW).posts == 2
    assert build(settings, now=NOW).mode == "unchanged"


def test_a_same_size_edit_with_the_mtime_put_back_rebuilds_as_a_cold_build_would(
    site, make_settings, tmp_path
):
    path = site.post("2022-05-24-a.md", title="旧标题", body="旧的正文。")
    site.post("2022-05-24-b.md", title="另一篇", body="别的。")
    settings = make_settings(site.root, f"state_dir: {tmp_path / 'warm-state'}\n")
    build(settings, now=NOW)
    stamp = path.stat()
    edited = post_text(title="新标题", body="新的正文。")
    assert len(edited.encode()) == stamp.st_size
    path.write_text(edited, encoding="utf-8")
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    build(settings, now=NOW)

    cold = make_settings(
        site.root, f"state_dir: {tmp_path / 'cold-state'}\n", output=tmp_path / "cold"
    )
    build(cold, now=NOW)
    assert {p.name: p.read_bytes() for p in feed_files(settings.output)} == {
        p.name: p.read_bytes() for p in feed_files(cold.output)
    }
    assert "新标题" in (settings.output / "atom.xml").read_text(encoding="utf-8")


def test_character_references_xml_forbids_cannot_break_a_feed(site, make_settings, check_feed):
    site.post("2022-05-24-a.html", body="<p>a &#x1; b &#xFFFF; c &#xB; d</p>")
    site.post("2022-05-24-b.md", body="a &#x1; b &#xFFFF; c")
    settings = make_settings(site.root)
    report = build(settings, now=NOW)
    assert report.posts == 2 and report.problems == []
    for path in feed_files(settings.output):
        check_feed(path)


def test_a_permalink_with_a_control_character_is_published_percent_encoded(
    site, make_settings, check_feed
):
    site.post("2022-05-24-a.md", extra='permalink: "/a\\x01b c<d>/"')
    settings = make_settings(site.root)
    build(settings, now=NOW)
    [entry] = check_feed(settings.output / "atom.xml").entries
    assert entry.id == entry.link == "https://example.org/a%01b%20c%3Cd%3E/"


def test_a_build_with_nothing_new_loads_no_renderer_template_engine_or_xml_library(site, tmp_path):
    """What a build with nothing new costs is mostly starting up, so it imports only what
    it needs to see that nothing changed."""
    site.post("2022-05-24-a.md")
    arguments = ["build", "-q", "--site", str(site.root), "--output", str(tmp_path / "out")]
    subprocess.run([sys.executable, "-m", "feeds", *arguments], check=True, cwd=tmp_path)
    heavy = ("jinja2", "lxml", "markdown_it", "nh3", "feedgen", "pydantic.networks")
    probe = (
        "import atexit, sys\n"
        f"atexit.register(lambda: print(sorted(set({heavy!r}) & set(sys.modules))))\n"
        "from feeds.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe, *arguments], check=True, cwd=tmp_path, capture_output=True
    )
    assert run.stdout.decode().splitlines() == ["[]"]


def test_one_post_with_a_huge_title_leaves_every_other_entry_in_the_feeds(
    site, make_settings, check_feed
):
    for n in range(21):
        site.post(f"2022-05-2{n % 3}-p{n}.md", date=f"2022-05-2{n % 3} 0{n % 10}:00:00 +0800")
    site.post("2022-05-24-huge.md", title="T" * 2_000_000, date="2022-05-24 12:00:00 +0800")
    settings = make_settings(site.root, "feeds: {window: 30d}\n")
    report = build(settings, now=NOW)
    assert [p.reason for p in report.problems] == ["title: 2,000,000 characters, cut to 500"]
    assert report.problems[0].source.endswith("2022-05-24-huge.md")
    for feed in ("atom.xml", "category/kejiribao/atom.xml"):
        assert len(check_feed(settings.output / feed).entries) == 22


# --- the output and state folders, checked before a build writes anything ---------------------


def test_a_folder_another_run_made_and_removed_meanwhile_can_be_created(tmp_path, monkeypatch):
    """``feeds schedule`` may run two builds at once; each makes and removes the folder."""
    folder = tmp_path / "out"
    real_mkdir = os.mkdir

    def made_by_another_run(path, mode=0o777):
        if Path(path) == folder:  # it was there for mkdir, and gone again for is_dir()
            raise FileExistsError(17, "File exists", str(path))
        real_mkdir(path, mode)

    monkeypatch.setattr(os, "mkdir", made_by_another_run)
    check_creatable("output", folder)
    assert not folder.exists()


def test_a_file_where_the_folder_should_be_cannot_be_created(tmp_path):
    (tmp_path / "out").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^output: cannot create .*/out: File exists$"):
        check_creatable("output", tmp_path / "out")
