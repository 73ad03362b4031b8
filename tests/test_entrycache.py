"""The entry cache: a post is rendered once, until its file or a rendering setting changes.

Rendering is counted by wrapping ``render_post``; every build here runs in
one process (``jobs=1``), so the count sees every call.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from feeds.config import load_settings
from feeds.output import build as build_module
from feeds.output.build import build
from feeds.output.entrycache import FOLDER, INDEX, MAX_SEGMENTS
from tests.conftest import NOW


@pytest.fixture
def renders(monkeypatch) -> list[str]:
    """The source of every post rendered, in order."""
    calls: list[str] = []
    real = build_module.render_post

    def counting(post, *args, **kwargs):
        calls.append(Path(post.source).name)
        return real(post, *args, **kwargs)

    monkeypatch.setattr(build_module, "render_post", counting)
    return calls


@pytest.fixture
def news(site):
    """Twelve posts in three categories, one a day, bodies long enough to summarise."""
    for n in range(12):
        site.post(
            f"2022-05-{n + 1:02d}-p{n}.md",
            title=f"新闻{n}",
            date=f"2022-05-{n + 1:02d} 09:00:00 +0800",
            categories=["kejiribao", "emnews", "TechWeb"][n % 3],
            extra="tags: 财经" if n % 2 else "",
            body=f"第{n}条正文，[链接](/x{n}.html)。" * 3,
        )
    return site


def settings_for(site, tmp_path: Path, name: str, config: str = ""):
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"output: {name}-out\nstate_dir: {name}-state\n{config}", encoding="utf-8")
    return load_settings(path, site_dir=site.root)


def files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def cold(site, tmp_path: Path, config: str = "") -> dict[str, bytes]:
    for leftover in ("cold-out", "cold-state"):
        shutil.rmtree(tmp_path / leftover, ignore_errors=True)
    settings = settings_for(site, tmp_path, "cold", config)
    build(settings, now=NOW, jobs=1)
    return files(settings.output)


def warm_build(site, tmp_path: Path, config: str = ""):
    settings = settings_for(site, tmp_path, "warm", config)
    build(settings, now=NOW, jobs=1)
    return settings


BASE = "feeds: {limit: 3, window: 1h}\n"


@pytest.mark.parametrize(
    "changed",
    [
        "feeds: {limit: 5, window: 1h}\n",
        "feeds: {limit: 3, window: 3d}\n",
        "feeds: {limit: 2, window: 30d, max_entries: 4}\n",
        "feeds: {limit: 3, window: 1h, formats: [rss]}\n",
        "feeds: {limit: 3, window: 1h, pages: false}\n",
        "feeds: {limit: 3, window: 1h, categories: {emnews: {limit: 4}}}\n",
        "feeds: {limit: 6, window: 1h, max_bytes: 10000}\n",
    ],
)
def test_a_changed_feed_setting_renders_no_post_again(news, tmp_path, renders, changed):
    warm_build(news, tmp_path, "feeds: {limit: 6, window: 1h}\n")  # every post a feed shows
    renders.clear()
    settings = warm_build(news, tmp_path, changed)
    assert renders == []
    assert files(settings.output) == cold(news, tmp_path, changed)


def test_posts_moving_into_other_feeds_are_not_rendered_again(news, tmp_path, renders):
    warm_build(news, tmp_path, BASE)
    renders.clear()
    settings = warm_build(news, tmp_path, "feeds: {limit: 3, window: 1h, tags: true}\n")
    assert renders == []  # the tag feed 财经 shows posts of the category feeds
    assert files(settings.output) == cold(
        news, tmp_path, "feeds: {limit: 3, window: 1h, tags: true}\n"
    )


def test_an_older_post_taking_a_deleted_ones_place_is_not_rendered_again(news, tmp_path, renders):
    warm_build(news, tmp_path, BASE)
    (news.posts / "2022-05-12-p11.md").unlink()
    renders.clear()
    settings = warm_build(news, tmp_path, BASE)
    # p8 moves into the site feed, shown by its category feed before: not rendered again;
    # p2 takes p11's place in TechWeb and is shown for the first time
    assert renders == ["2022-05-03-p2.md"]
    assert "新闻8" in files(settings.output)["atom.xml"].decode()
    assert files(settings.output) == cold(news, tmp_path, BASE)


def test_a_new_post_renders_only_itself(news, tmp_path, renders):
    warm_build(news, tmp_path, BASE)
    renders.clear()
    news.post("2022-05-20-new.md", title="新", date="2022-05-20 09:00:00 +0800")
    settings = warm_build(news, tmp_path, BASE)
    assert renders == ["2022-05-20-new.md"]  # the site feed's other entries come from the cache
    assert files(settings.output) == cold(news, tmp_path, BASE)


def test_an_edited_post_is_rendered_again_even_with_its_mtime_put_back(news, tmp_path, renders):
    import os

    warm_build(news, tmp_path, BASE)
    path = news.posts / "2022-05-12-p11.md"
    status = path.stat()
    path.write_text(path.read_text(encoding="utf-8").replace("正文", "新文"), encoding="utf-8")
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
    renders.clear()
    settings = warm_build(news, tmp_path, BASE)
    assert renders == ["2022-05-12-p11.md"]
    assert "新文" in files(settings.output)["atom.xml"].decode()
    assert files(settings.output) == cold(news, tmp_path, BASE)


def test_a_changed_rendering_setting_renders_every_shown_post_again(news, tmp_path, renders):
    warm_build(news, tmp_path, BASE)
    shown = len(renders)
    renders.clear()
    config = "feeds: {limit: 3, window: 1h, summary_length: 20}\n"
    settings = warm_build(news, tmp_path, config)
    assert len(renders) == shown
    assert files(settings.output) == cold(news, tmp_path, config)


def damage_truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def damage_flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def damage_garbage(path: Path) -> None:
    path.write_bytes(b"\x93\xa4html\xa7summary")


@pytest.mark.parametrize("damage", [damage_truncate, damage_flip, damage_garbage, Path.unlink])
@pytest.mark.parametrize("which", ["index", "segments"])
def test_a_damaged_entry_cache_changes_no_output(news, tmp_path, renders, damage, which):
    settings = warm_build(news, tmp_path, BASE)
    folder = settings.state_dir / "cache" / FOLDER
    targets = [folder / INDEX] if which == "index" else sorted(folder.glob("*.seg"))
    assert targets
    for path in targets:
        damage(path)
    shutil.rmtree(settings.output)  # every feed is written again, from what the cache gives
    renders.clear()
    settings = warm_build(news, tmp_path, BASE)
    assert renders  # what did not check out was rendered again
    assert files(settings.output) == cold(news, tmp_path, BASE)
    renders.clear()
    shutil.rmtree(settings.output)
    warm_build(news, tmp_path, BASE)
    assert renders == []  # and kept again


def test_the_cache_keeps_only_posts_a_feed_shows_and_a_few_segments(news, tmp_path, renders):
    settings = warm_build(news, tmp_path, BASE)
    for n in range(30):
        news.post(
            f"2022-06-{n + 1:02d}-n{n}.md",
            title=f"后{n}",
            date=f"2022-06-{n + 1:02d} 09:00:00 +0800",
        )
        settings = warm_build(news, tmp_path, BASE)
    folder = settings.state_dir / "cache" / FOLDER
    from feeds.output.entrycache import EntryCache, entries_key

    kept = EntryCache.load(settings.state_dir / "cache", entries_key(settings)).records
    shown = {Path(source).name for source in kept}
    newest = {f"2022-06-{n + 1:02d}-n{n}.md" for n in range(27, 30)}  # site feed, kejiribao
    emnews = {"2022-05-05-p4.md", "2022-05-08-p7.md", "2022-05-11-p10.md"}
    techweb = {"2022-05-06-p5.md", "2022-05-09-p8.md", "2022-05-12-p11.md"}
    assert shown == newest | emnews | techweb
    assert len(list(folder.glob("*.seg"))) <= MAX_SEGMENTS
    live = sum(record[3] for record in kept.values())
    assert sum(p.stat().st_size for p in folder.glob("*.seg")) <= 2 * live
