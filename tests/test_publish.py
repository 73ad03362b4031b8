"""What a build leaves in the output: retracted posts gone, old feeds answering, nothing half done."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from feeds.config import load_settings
from feeds.errors import StrictError
from feeds.output.build import build
from feeds.output.feedwriter import safe_slug
from feeds.output.registry import FILE as REGISTRY
from tests.conftest import NOW


def tree(out: Path) -> dict[str, bytes | None]:
    """Every file (with its bytes) and folder under ``out``."""
    return {
        str(p.relative_to(out)): p.read_bytes() if p.is_file() else None
        for p in sorted(out.rglob("*"))
    }


def settings_for(site, tmp_path: Path, name: str = "warm", config: str = ""):
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"output: {name}-out\nstate_dir: {name}-state\n{config}", encoding="utf-8")
    return load_settings(path, site_dir=site.root)


def cold_tree(site, tmp_path: Path, warm, config: str = "") -> dict[str, bytes | None]:
    """A build without cache or output, but with the warm build's record of published feeds."""
    for leftover in ("cold-out", "cold-state"):
        shutil.rmtree(tmp_path / leftover, ignore_errors=True)
    cold = settings_for(site, tmp_path, "cold", config)
    cold.state_dir.mkdir(parents=True)
    registry = (warm.state_dir / REGISTRY).read_text(encoding="utf-8")
    resolved = str(cold.output.resolve())
    (cold.state_dir / REGISTRY).write_text(
        registry.replace(str(warm.output.resolve()), resolved), encoding="utf-8"
    )
    build(cold, now=NOW)
    return tree(cold.output)


def two_categories(site) -> None:
    site.post("2022-05-24-solo.md", title="独家", categories="duzhe")
    site.post("2022-05-23-news.md", title="新闻", date="2022-05-23 09:00:00 +0800")


def test_unpublishing_a_categorys_only_post_leaves_its_feeds_valid_and_empty(
    site, tmp_path, check_feed
):
    two_categories(site)
    warm = settings_for(site, tmp_path)
    build(warm, now=NOW)
    site.post("2022-05-24-solo.md", title="独家", categories="duzhe", extra="published: false")
    build(warm, now=NOW)
    for name in ("atom.xml", "rss.xml"):
        feed = check_feed(warm.output / "category" / "duzhe" / name)
        assert feed.entries == [] and feed.feed.title == "测试站 · duzhe"
    assert not any(
        b"\xe7\x8b\xac\xe5\xae\xb6" in data for data in tree(warm.output).values() if data
    )
    assert tree(warm.output) == cold_tree(site, tmp_path, warm)


def test_an_empty_feed_says_when_it_lost_its_last_entry_and_keeps_saying_it(site, tmp_path):
    two_categories(site)
    warm = settings_for(site, tmp_path)
    build(warm, now=NOW)
    (site.posts / "2022-05-24-solo.md").unlink()
    build(warm, now=NOW.replace(microsecond=123))
    atom = warm.output / "category/duzhe/atom.xml"
    assert "<updated>2026-11-28T12:00:00+00:00</updated>" in atom.read_text(encoding="utf-8")
    site.post("2022-05-22-other.md", date="2022-05-22")
    build(warm, now=NOW.replace(year=2027))
    assert "<updated>2026-11-28T12:00:00+00:00</updated>" in atom.read_text(encoding="utf-8")


def test_a_category_change_empties_the_old_category(site, tmp_path, check_feed):
    two_categories(site)
    warm = settings_for(site, tmp_path)
    build(warm, now=NOW)
    site.post("2022-05-24-solo.md", title="独家", categories="kejiribao")
    build(warm, now=NOW)
    assert check_feed(warm.output / "category/duzhe/atom.xml").entries == []
    assert len(check_feed(warm.output / "category/kejiribao/atom.xml").entries) == 2
    assert tree(warm.output) == cold_tree(site, tmp_path, warm)


def test_deleting_every_post_empties_every_feed_including_the_site_feed(site, tmp_path, check_feed):
    two_categories(site)
    warm = settings_for(site, tmp_path)
    build(warm, now=NOW)
    for path in site.posts.iterdir():
        path.unlink()
    report = build(warm, now=NOW)
    # 3 feeds x 3 formats, 2 category pages, the index page and the OPML list
    assert report.posts == 0 and report.written == 13
    for path in sorted(warm.output.rglob("*.xml")):
        assert check_feed(path).entries == []
    assert tree(warm.output) == cold_tree(site, tmp_path, warm)


def test_dropping_a_format_removes_its_files_and_nothing_else(site, tmp_path):
    two_categories(site)
    warm = settings_for(site, tmp_path)
    build(warm, now=NOW)
    (warm.output / "robots.txt").write_text("mine", encoding="utf-8")
    (warm.output / "category/duzhe/rss.xml.bak").write_text("mine", encoding="utf-8")
    atom_only = settings_for(site, tmp_path, config="feeds: {formats: [atom]}\n")
    build(atom_only, now=NOW)
    assert sorted(str(p.relative_to(warm.output)) for p in warm.output.rglob("*.*")) == [
        "atom.xml",
        "category/duzhe/atom.xml",
        "category/duzhe/index.html",
        "category/duzhe/rss.xml.bak",
        "category/kejiribao/atom.xml",
        "category/kejiribao/index.html",
        "feeds.opml",
        "index.html",
        "robots.txt",
    ]


def test_turning_pages_off_removes_every_page_of_ours_and_nothing_else(site, tmp_path):
    two_categories(site)
    warm = settings_for(site, tmp_path)
    build(warm, now=NOW)
    (warm.output / "category/duzhe/notes.html").write_text("mine", encoding="utf-8")
    no_pages = "feeds: {pages: false}\n"
    build(settings_for(site, tmp_path, config=no_pages), now=NOW)
    assert sorted(str(p.relative_to(warm.output)) for p in warm.output.rglob("*.html")) == [
        "category/duzhe/notes.html"
    ]
    (warm.output / "category/duzhe/notes.html").unlink()
    assert tree(warm.output) == cold_tree(site, tmp_path, warm, no_pages)


def test_turning_tags_off_removes_the_tag_feeds_and_their_folders(site, tmp_path):
    site.post("2022-05-24-a.md", extra="tags: 科技 财经")
    tagged = settings_for(site, tmp_path, config="feeds: {tags: true}\n")
    build(tagged, now=NOW)
    assert len(list((tagged.output / "tag").iterdir())) == 2
    untagged = settings_for(site, tmp_path)
    build(untagged, now=NOW)
    assert not (untagged.output / "tag").exists()
    assert tree(untagged.output) == cold_tree(site, tmp_path, untagged)


def test_files_of_ours_in_a_tag_folder_go_but_other_files_stay(site, tmp_path):
    site.post("2022-05-24-a.md", extra="tags: 科技")
    tagged = settings_for(site, tmp_path, config="feeds: {tags: true}\n")
    build(tagged, now=NOW)
    folder = tagged.output / "tag" / safe_slug("科技")
    (folder / "notes.html").write_text("mine", encoding="utf-8")  # index.html is the feed's page
    build(settings_for(site, tmp_path), now=NOW)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.html"]


def test_a_new_output_folder_leaves_the_old_ones_feeds_alone(site, tmp_path):
    two_categories(site)
    build(settings_for(site, tmp_path), now=NOW)
    before = tree(tmp_path / "warm-out")
    (site.posts / "2022-05-24-solo.md").unlink()
    moved = tmp_path / "moved.yaml"
    moved.write_text("output: elsewhere\nstate_dir: warm-state\n", encoding="utf-8")
    build(load_settings(moved, site_dir=site.root), now=NOW)
    assert tree(tmp_path / "warm-out") == before
    assert not (tmp_path / "elsewhere" / "category" / "duzhe").exists()


def test_a_build_that_fails_while_writing_replaces_no_file(site, tmp_path):
    site.post("2022-05-20-k.md", categories="kejiribao")
    site.post("2022-05-20-z.md", categories="zz")
    warm = settings_for(site, tmp_path)
    build(warm, now=NOW)
    before = tree(warm.output)
    site.post("2022-05-24-k2.md", categories="kejiribao")
    site.post("2022-05-24-z2.md", categories="zz")
    shutil.rmtree(warm.output / "category/zz")
    (warm.output / "category/zz").write_text("not a folder", encoding="utf-8")
    before["category/zz"] = b"not a folder"
    for name in ("atom.xml", "rss.xml", "feed.json", "index.html"):
        del before[f"category/zz/{name}"]
    with pytest.raises(NotADirectoryError):
        build(warm, now=NOW)
    assert tree(warm.output) == before  # no feed replaced, no temporary file left


def test_temporary_files_a_killed_build_left_are_removed_and_no_others(site, tmp_path):
    two_categories(site)
    warm = settings_for(site, tmp_path)
    build(warm, now=NOW)
    ours = [
        ".atom.xml.k3j9x_2a.tmp",
        "category/duzhe/.rss.xml.0a1b2c3d.tmp",
        "category/duzhe/.index.html.q1w2e3r4.tmp",  # a folder's page
        ".index.html.zx_9c8v7.tmp",  # the index page
        ".feeds.opml.00000000.tmp",  # the OPML list
    ]
    others = [".mine.tmp", "category/duzhe/.atom.xml.tmp", "category/duzhe/.notes.txt.abcdefgh.tmp"]
    for name in ours + others:
        (warm.output / name).write_text("x", encoding="utf-8")
    (warm.state_dir / "writing").write_text(str(warm.output), encoding="utf-8")  # as a kill leaves
    build(warm, now=NOW)
    assert [name for name in ours + others if (warm.output / name).exists()] == others
    assert not (warm.state_dir / "writing").exists()


def test_a_category_named_like_anothers_slug_is_a_warning_that_strict_refuses(site, tmp_path):
    site.post("2022-05-24-a.md", categories="TechWeb")
    site.post("2022-05-23-b.md", categories=safe_slug("TechWeb"), date="2022-05-23")
    warm = settings_for(site, tmp_path)
    expected = [
        "category 'techweb-06ac56a6': no feed: its folder category/techweb-06ac56a6 "
        "belongs to category 'TechWeb'"
    ]
    with pytest.raises(StrictError):
        build(warm, now=NOW, strict=True)
    assert [str(p) for p in build(warm, now=NOW).problems] == expected
    assert [str(p) for p in build(warm, now=NOW).problems] == expected  # nothing new: still said


def test_a_damaged_registry_is_rebuilt_from_our_files_with_a_warning(
    site, tmp_path, caplog, check_feed
):
    two_categories(site)
    warm = settings_for(site, tmp_path)
    build(warm, now=NOW)
    (warm.state_dir / REGISTRY).write_bytes(b"\x00{not json")
    (site.posts / "2022-05-24-solo.md").unlink()
    build(warm, now=NOW)
    assert "feeds published before are not tracked" in caplog.text
    assert check_feed(warm.output / "category/duzhe/atom.xml").entries == []
    assert tree(warm.output) == cold_tree(site, tmp_path, warm)


def test_the_first_build_with_a_registry_adopts_the_feeds_an_earlier_version_wrote(
    site, tmp_path, check_feed
):
    site.post("2022-05-24-a.md", categories="TechWeb", extra="tags: 科技")
    site.post("2022-05-23-b.md", date="2022-05-23")
    tagged = settings_for(site, tmp_path, config="feeds: {tags: true}\n")
    build(tagged, now=NOW)
    (tagged.state_dir / REGISTRY).unlink()  # as an earlier version left it
    foreign = tagged.output / "category/other/atom.xml"
    foreign.parent.mkdir()
    foreign.write_text('<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title></feed>')
    (site.posts / "2022-05-24-a.md").unlink()
    untagged = settings_for(site, tmp_path)
    build(untagged, now=NOW)
    assert check_feed(untagged.output / "category" / safe_slug("TechWeb") / "rss.xml").entries == []
    assert not (untagged.output / "tag").exists()
    assert foreign.exists()
