"""Incremental builds: the caches skip only work whose result is known, never change output."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from feeds.config import load_settings
from feeds.output import cache
from feeds.output.build import build
from feeds.site import scan as scan_module
from feeds.site.handoff import fork_child
from tests.conftest import NOW


def output_files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.is_file())


def files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in output_files(out)}


def mtimes(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in output_files(out)}


@pytest.fixture
def news(site):
    for n in range(30):
        category = ["kejiribao", "emnews", "TechWeb"][n % 3]
        site.post(
            f"2022-05-{n % 28 + 1:02d}-p{n}.md",
            title=f"新闻{n}",
            date=f"2022-05-{n % 28 + 1:02d} 0{n % 10}:00:00 +0800",
            categories=category,
        )
    return site


def settings_for(site, tmp_path: Path, name: str = "warm", config: str = ""):
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"output: {name}-out\nstate_dir: {name}-state\n{config}", encoding="utf-8")
    return load_settings(path, site_dir=site.root)


def cold_output(site, tmp_path: Path, config: str = "", now=NOW) -> dict[str, bytes]:
    """What a build from nothing gives: fresh output folder, fresh state."""
    for leftover in ("cold-out", "cold-state"):
        shutil.rmtree(tmp_path / leftover, ignore_errors=True)
    settings = settings_for(site, tmp_path, "cold", config)
    build(settings, now=now)
    return files(settings.output)


def test_warm_builds_give_the_same_bytes_as_cold_builds_through_every_change(news, tmp_path):
    warm = settings_for(news, tmp_path)
    build(warm, now=NOW)
    assert files(warm.output) == cold_output(news, tmp_path)
    news.post("2022-05-29-new.md", title="新的", date="2022-05-29 09:00:00 +0800")
    (news.posts / "2022-05-03-p2.md").write_text(
        (news.posts / "2022-05-03-p2.md")
        .read_text(encoding="utf-8")
        .replace("新闻2", "改过的标题"),
        encoding="utf-8",
    )
    (news.posts / "2022-05-05-p4.md").unlink()
    report = build(warm, now=NOW)
    assert report.reparsed == 2
    assert files(warm.output) == cold_output(news, tmp_path)
    assert any("改过的标题" in data.decode() for data in files(warm.output).values())


def test_nothing_changed_reads_no_post_and_touches_no_file(news, tmp_path):
    warm = settings_for(news, tmp_path)
    build(warm, now=NOW)
    before = mtimes(warm.output)
    report = build(warm, now=NOW + timedelta(days=1))
    assert (report.reparsed, report.written, report.unchanged) == (0, 0, len(before))
    assert (report.posts, report.skipped) == (30, 0)
    assert mtimes(warm.output) == before


def test_warnings_are_repeated_by_a_build_with_nothing_new(news, tmp_path):
    news.post("2022-05-10-untitled.md", title="")
    warm = settings_for(news, tmp_path)
    first = build(warm, now=NOW)
    second = build(warm, now=NOW)
    assert [str(p) for p in second.problems] == [str(p) for p in first.problems] != []


def test_an_edited_post_is_read_again_and_only_its_feeds_are_rewritten(news, tmp_path):
    warm = settings_for(news, tmp_path)
    build(warm, now=NOW)
    before = mtimes(warm.output)
    path = news.posts / "2022-05-02-p1.md"  # emnews, not among the site feed's newest 20
    path.write_text(
        path.read_text(encoding="utf-8").replace("正文。", "新正文。"), encoding="utf-8"
    )
    report = build(warm, now=NOW)
    after = mtimes(warm.output)
    assert report.reparsed == 1
    assert sorted(name for name in after if after[name] != before[name]) == [
        "category/emnews/atom.xml",
        "category/emnews/feed.json",
        "category/emnews/index.html",
        "category/emnews/rss.xml",
    ]


def test_a_deleted_post_leaves_its_feeds(news, tmp_path):
    warm = settings_for(news, tmp_path)
    build(warm, now=NOW)
    (news.posts / "2022-05-28-p27.md").unlink()
    build(warm, now=NOW)
    assert "新闻27" not in files(warm.output)["category/emnews/atom.xml"].decode()
    assert files(warm.output) == cold_output(news, tmp_path)


def test_a_changed_feed_setting_rewrites_only_what_it_changes_and_reads_no_post(news, tmp_path):
    warm = settings_for(news, tmp_path)
    build(warm, now=NOW)
    before = mtimes(warm.output)
    config = "feeds:\n  categories: {kejiribao: {title: 科技日报}}\n"
    renamed = settings_for(news, tmp_path, "warm", config)
    report = build(renamed, now=NOW)
    after = mtimes(renamed.output)
    assert report.reparsed == 0
    assert sorted(name for name in after if after[name] != before[name]) == [
        "category/kejiribao/atom.xml",
        "category/kejiribao/feed.json",
        "category/kejiribao/index.html",
        "category/kejiribao/rss.xml",
        "feeds.opml",  # the display name is listed in both
        "index.html",
    ]
    assert files(renamed.output) == cold_output(news, tmp_path, config)


def test_a_changed_site_setting_reads_every_post_again(news, tmp_path):
    warm = settings_for(news, tmp_path)
    build(warm, now=NOW)
    moved = settings_for(news, tmp_path, "warm", "site: {url: 'https://new.example.org'}\n")
    report = build(moved, now=NOW)
    assert report.reparsed == 30
    assert "https://new.example.org/kejiribao/" in files(moved.output)["atom.xml"].decode()


def test_a_new_version_of_feeds_ignores_the_old_caches(news, tmp_path, monkeypatch):
    warm = settings_for(news, tmp_path)
    build(warm, now=NOW)
    monkeypatch.setattr(cache, "__version__", "99.0.0")
    report = build(warm, now=NOW)
    assert report.reparsed == 30
    assert report.written == 0  # same bytes as before, so no file is touched


def test_a_future_post_appears_once_its_time_has_come(news, tmp_path):
    news.post("2022-06-10-later.md", title="以后的", date="2022-06-10 08:00:00 +0800")
    warm = settings_for(news, tmp_path)
    early = NOW.replace(year=2022, month=6, day=1)
    build(warm, now=early)
    assert "以后的" not in files(warm.output)["atom.xml"].decode()
    late = NOW.replace(year=2022, month=6, day=11)
    build(warm, now=late)
    assert "以后的" in files(warm.output)["atom.xml"].decode()
    assert files(warm.output) == cold_output(news, tmp_path, now=late)


def test_a_feed_file_removed_by_hand_is_written_again(news, tmp_path):
    warm = settings_for(news, tmp_path)
    build(warm, now=NOW)
    (warm.output / "category" / "emnews" / "rss.xml").unlink()
    report = build(warm, now=NOW)
    assert report.written == 1
    assert files(warm.output) == cold_output(news, tmp_path)


def test_a_damaged_cache_is_ignored(news, tmp_path):
    warm = settings_for(news, tmp_path)
    build(warm, now=NOW)
    damaged = [
        warm.state_dir / "cache" / "feeds.msgpack",
        *(warm.state_dir / "cache").rglob("posts/*"),
    ]
    assert len(damaged) > 2
    for path in damaged:
        path.write_bytes(b"not a cache")
    report = build(warm, now=NOW)
    assert report.reparsed == 30
    assert files(warm.output) == cold_output(news, tmp_path)


def corrupt(data: bytes, rng) -> bytes:
    """One of the ways a disk, a crash or a person damages a file."""
    how = rng.randrange(5)
    if how == 0 and data:
        return data[: rng.randrange(len(data))]
    if how == 1:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    if how == 2:
        return data + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 20)))
    damaged = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        if damaged:
            damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
    return bytes(damaged)


def test_random_damage_to_any_cache_file_gives_a_cold_build(news, tmp_path):
    import random

    warm = settings_for(news, tmp_path)
    rng = random.Random(9)
    for _ in range(12):
        build(warm, now=NOW)
        cache_files = sorted((warm.state_dir / "cache").rglob("*.msgpack"))
        assert len(cache_files) > 60
        for path in cache_files:
            path.write_bytes(corrupt(path.read_bytes(), rng))
        news.post(
            "2022-05-15-p14.md", title=f"新闻{rng.randrange(2)}", date="2022-05-15 04:00:00 +0800"
        )
        build(warm, now=NOW)
        assert files(warm.output) == cold_output(news, tmp_path)


def test_a_cache_file_cannot_run_code(news, tmp_path):
    import os
    import pickle

    class Exploit:
        def __reduce__(self):
            return (os.mkdir, (str(tmp_path / "pwned"),))

    warm = settings_for(news, tmp_path)
    build(warm, now=NOW)
    cache_dir = warm.state_dir / "cache"
    planted = [*cache_dir.rglob("*.msgpack"), cache_dir / "feeds.pickle", cache_dir / "scan.pickle"]
    for path in planted:
        path.write_bytes(pickle.dumps(("key", Exploit())))
    report = build(warm, now=NOW)
    assert not (tmp_path / "pwned").exists()
    assert report.reparsed == 30
    assert files(warm.output) == cold_output(news, tmp_path)


def test_deleting_state_and_output_gives_a_cold_build(news, tmp_path):
    warm = settings_for(news, tmp_path)
    build(warm, now=NOW)
    shutil.rmtree(warm.state_dir)
    shutil.rmtree(warm.output)
    report = build(warm, now=NOW)
    assert report.reparsed == 30 and report.written == len(files(warm.output))


def incremental_matches_cold(news, tmp_path, change) -> str:
    """Apply ``change`` after a warm build; the next build must equal a cold one."""
    config = "feeds: {limit: 5, tags: true}\n"  # feeds show 5 of each category's 10 posts
    warm = settings_for(news, tmp_path, config=config)
    build(warm, now=NOW)
    change(news)
    report = build(warm, now=NOW)
    assert files(warm.output) == cold_output(news, tmp_path, config)
    return report.mode


@pytest.mark.parametrize(
    ("name", "change", "mode"),
    [
        (
            "newest post",
            lambda s: s.post("2022-05-30-n.md", date="2022-05-30 10:00:00 +0800"),
            "incremental",
        ),
        (
            "old post",
            lambda s: s.post("2021-01-01-o.md", date="2021-01-01 10:00:00 +0800"),
            "incremental",
        ),
        ("new category", lambda s: s.post("2022-05-30-c.md", categories="Wind"), "incremental"),
        ("tags too", lambda s: s.post("2022-05-30-t.md", extra="tags: 财经 新闻"), "incremental"),
        (
            "unpublished",
            lambda s: s.post("2022-05-30-u.md", extra="published: false"),
            "incremental",
        ),
        ("bad post", lambda s: s.post("2022-05-30-b.md", "---\n- x\n---\n"), "incremental"),
        ("untitled", lambda s: s.post("2022-05-30-e.md", title=""), "incremental"),
        (
            "future post",
            lambda s: s.post("2027-01-01-f.md", date="2027-01-01 10:00:00 +0800"),
            "incremental",
        ),
        ("old post edited", lambda s: s.post("2022-05-01-p0.md", title="旧闻新改"), "incremental"),
        ("old post deleted", lambda s: (s.posts / "2022-05-01-p0.md").unlink(), "incremental"),
        ("shown post edited", lambda s: s.post("2022-05-28-p27.md", title="改"), "full"),
        ("shown post deleted", lambda s: (s.posts / "2022-05-28-p27.md").unlink(), "full"),
        (
            "URL clash",
            lambda s: s.post(
                "2022-05-28-p27.markdown", categories="kejiribao", date="2022-05-28 07:00:00 +0800"
            ),
            "full",
        ),
    ],
)
def test_incremental_builds_equal_cold_builds(news, tmp_path, name, change, mode):
    assert incremental_matches_cold(news, tmp_path, change) == mode


def test_a_build_after_a_strict_refusal_still_knows_what_the_feeds_show(news, tmp_path):
    """A refused --strict build keeps the posts it read, but published nothing: the next
    build must take the feeds' old version of an edited post out, not the new one."""
    from feeds.errors import StrictError

    warm = settings_for(news, tmp_path)
    build(warm, now=NOW)
    moved = {"title": "新闻27", "date": "2022-05-28 07:00:00 +0800", "categories": "emnews"}
    news.post("2022-05-28-p27.md", **moved)  # was in kejiribao: its URL changes
    bad = news.post("2022-05-30-b.md", "---\n- x\n---\n")
    with pytest.raises(StrictError):
        build(warm, now=NOW, strict=True)
    bad.unlink()
    build(warm, now=NOW)
    assert files(warm.output) == cold_output(news, tmp_path)


def test_a_build_stopped_before_saving_its_feed_index_is_mended_by_the_next(
    news, tmp_path, monkeypatch
):
    """The post index is saved before the feed index; a build that dies in between has
    published, and the next one must not put the old version of an edited post back."""

    def disk_full(self, cache_dir):
        raise OSError(28, "No space left on device")

    warm = settings_for(news, tmp_path)
    build(warm, now=NOW)
    moved = {"title": "新闻27", "date": "2022-05-28 07:00:00 +0800", "categories": "emnews"}
    news.post("2022-05-28-p27.md", **moved)
    with monkeypatch.context() as patched:
        patched.setattr(cache.FeedIndex, "save", disk_full)
        with pytest.raises(OSError):
            build(warm, now=NOW)
    build(warm, now=NOW)
    assert files(warm.output) == cold_output(news, tmp_path)


def test_builds_that_stat_in_two_processes_equal_builds_in_one(news, tmp_path, monkeypatch):
    forks = []

    def counted(*args):
        forks.append(args)
        return fork_child(*args)

    monkeypatch.setattr(scan_module, "SPLIT_AT", 2)
    monkeypatch.setattr(scan_module, "fork_child", counted)
    warm = settings_for(news, tmp_path)
    build(warm, now=NOW)
    news.post("2022-05-29-new.md", title="新的", date="2022-05-29 09:00:00 +0800")
    news.post("2022-05-28-p27.md", title="改", date="2022-05-28 07:00:00 +0800")
    (news.posts / "2022-05-05-p4.md").unlink()
    build(warm, now=NOW)
    assert len(forks) == 2
    monkeypatch.setattr(scan_module, "SPLIT_AT", 10**9)
    assert files(warm.output) == cold_output(news, tmp_path)
    assert len(forks) == 2


def test_a_future_post_falling_due_takes_the_full_path(news, tmp_path):
    news.post("2022-06-10-later.md", title="以后的", date="2022-06-10 08:00:00 +0800")
    warm = settings_for(news, tmp_path)
    build(warm, now=NOW.replace(year=2022, month=6, day=1))
    news.post("2022-06-02-more.md", title="又一篇", date="2022-06-02 08:00:00 +0800")
    assert build(warm, now=NOW.replace(year=2022, month=6, day=3)).mode == "incremental"
    report = build(warm, now=NOW.replace(year=2022, month=6, day=11))
    assert report.mode == "full"
    assert files(warm.output) == cold_output(
        news, tmp_path, now=NOW.replace(year=2022, month=6, day=11)
    )


def test_warnings_survive_incremental_builds(news, tmp_path):
    news.post("2022-05-10-untitled.md", title="")
    warm = settings_for(news, tmp_path)
    build(warm, now=NOW)
    news.post("2022-05-30-new.md")
    report = build(warm, now=NOW)
    assert report.mode == "incremental"
    assert [p.source.rsplit("/", 1)[-1] for p in report.problems] == ["2022-05-10-untitled.md"]
    assert (report.posts, report.skipped) == (32, 0)


# --- windows: a post leaves a feed in a warm build exactly as in a cold one -----------------------

WINDOWED = "feeds: {limit: 3, window: 2h, tags: true}\n"


@pytest.fixture
def busy(site):
    """A rolling category with a post every 20 minutes for ten hours, and a quiet one."""
    for n in range(30):
        hour, minute = divmod(n * 20, 60)
        site.post(
            f"2022-05-24-r{n}.md",
            title=f"滚动{n}",
            date=f"2022-05-24 {hour:02d}:{minute:02d}:00 +0800",
            categories="rolling",
            extra="tags: 快讯" if n % 2 else "",
        )
    for day in (1, 5, 9):
        site.post(
            f"2022-05-0{day}-q.md",
            title=f"安静{day}",
            date=f"2022-05-0{day} 12:00:00 +0800",
            categories="quiet",
        )
    return site


def windowed_matches_cold(busy, tmp_path, change, config: str = WINDOWED) -> str:
    warm = settings_for(busy, tmp_path, config=config)
    build(warm, now=NOW)
    change(busy)
    report = build(warm, now=NOW)
    assert files(warm.output) == cold_output(busy, tmp_path, config)
    return report.mode


def entry_titles(out: Path, folder: str) -> list[str]:
    import json

    return [
        item["title"] for item in json.loads((out / folder / "feed.json").read_bytes())["items"]
    ]


def test_a_rolling_feed_holds_exactly_its_window_and_a_quiet_one_its_limit(busy, tmp_path):
    warm = settings_for(busy, tmp_path, config=WINDOWED)
    build(warm, now=NOW)
    # the newest is 09:40; 07:40 is exactly two hours before it and is in
    assert entry_titles(warm.output, "category/rolling") == [f"滚动{n}" for n in range(29, 22, -1)]
    assert entry_titles(warm.output, "category/quiet") == ["安静9", "安静5", "安静1"]


@pytest.mark.parametrize(
    ("change", "mode"),
    [
        # 10:00 moves the window on: 07:40 leaves it by time
        (
            lambda s: s.post(
                "2022-05-24-n1.md", date="2022-05-24 10:00:00 +0800", categories="rolling"
            ),
            "incremental",
        ),
        # exactly two hours after the oldest shown post: nothing leaves
        (
            lambda s: s.post(
                "2022-05-24-n2.md", date="2022-05-24 09:40:00 +0800", categories="rolling"
            ),
            "incremental",
        ),
        # much later: every old post leaves but the newest `limit`
        (
            lambda s: s.post(
                "2022-05-25-n3.md", date="2022-05-25 12:00:00 +0800", categories="rolling"
            ),
            "incremental",
        ),
        (
            lambda s: s.post(
                "2022-05-10-q.md",
                title="安静10",
                date="2022-05-10 12:00:00 +0800",
                categories="quiet",
            ),
            "incremental",
        ),
        # a shown post edited to an older date: its place must be refilled
        (
            lambda s: s.post(
                "2022-05-24-r29.md",
                title="改期",
                date="2022-05-20 08:00:00 +0800",
                categories="rolling",
            ),
            "full",
        ),
        # an old post edited to a newer date enters the window
        (
            lambda s: s.post(
                "2022-05-24-r0.md",
                title="提前",
                date="2022-05-24 09:50:00 +0800",
                categories="rolling",
            ),
            "incremental",
        ),
    ],
    ids=[
        "moves the window",
        "at the edge",
        "far later",
        "quiet category",
        "edited older",
        "edited newer",
    ],
)
def test_windowed_incremental_builds_equal_cold_builds(busy, tmp_path, change, mode):
    assert windowed_matches_cold(busy, tmp_path, change) == mode


def test_a_categorys_own_window_is_kept_through_warm_builds(busy, tmp_path):
    config = "feeds:\n  limit: 3\n  window: 2h\n  categories: {rolling: {window: 1h, limit: 1}}\n"

    def change(s):
        return s.post("2022-05-24-n.md", date="2022-05-24 10:00:00 +0800", categories="rolling")

    windowed_matches_cold(busy, tmp_path, change, config)
    warm_out = tmp_path / "warm-out"
    assert len(entry_titles(warm_out, "category/rolling")) == 4  # 09:00 to 10:00
    assert len(entry_titles(warm_out, "")) == 7  # the site-wide feed keeps its two hours


def test_a_feed_over_its_byte_cap_sheds_content_then_entries_and_says_so(busy, tmp_path):
    for n in range(30):
        path = busy.posts / f"2022-05-24-r{n}.md"
        path.write_text(
            path.read_text(encoding="utf-8").replace("正文。", "长文。" * 400), encoding="utf-8"
        )
    config = (
        "feeds:\n  limit: 3\n  window: 10h\n  summary_length: 20\n"
        "  categories: {rolling: {max_bytes: 20000}}\n"
    )
    warm = settings_for(busy, tmp_path, config=config)
    report = build(warm, now=NOW)
    [warning] = [str(p) for p in report.problems]
    lean = int(warning.split("the ")[1].split(" oldest")[0])
    assert warning == (
        "category/rolling: over feeds.max_bytes (20000 bytes): "
        f"the {lean} oldest of 30 entries without full content"
    )
    rolling = {
        name: data
        for name, data in files(warm.output).items()
        if name.startswith("category/rolling/")
    }
    assert max(len(data) for name, data in rolling.items() if not name.endswith(".html")) <= 20000
    import json

    items = json.loads(rolling["category/rolling/feed.json"])["items"]
    assert [bool(item["content_html"]) for item in items] == [True] * (30 - lean) + [False] * lean
    assert 0 < lean < 30 and all(item["summary"] for item in items)
    atom = rolling["category/rolling/atom.xml"].decode()
    assert atom.count("<entry>") == 30 and atom.count("<content") == 30 - lean
    busy.post(
        "2022-05-24-n.md",
        date="2022-05-24 10:00:00 +0800",
        categories="rolling",
        body="长文。" * 400,
    )
    build(warm, now=NOW)
    assert files(warm.output) == cold_output(busy, tmp_path, config)


def test_when_even_summaries_are_too_many_the_oldest_entries_drop(busy, tmp_path):
    config = "feeds:\n  limit: 3\n  window: 1d\n  max_entries: 5000\n  max_bytes: 10000\n"
    for n in range(30, 90):
        busy.post(
            f"2022-05-24-x{n}.md",
            title=f"快讯{n}" * 5,
            date="2022-05-24 10:00:00 +0800",
            categories="rolling",
        )
    warm = settings_for(busy, tmp_path, config=config)
    report = build(warm, now=NOW)
    warnings = [str(p) for p in report.problems]
    assert len(warnings) == 2
    assert warnings[0].startswith("the site-wide feed: over feeds.max_bytes (10000 bytes): ")
    assert warnings[1].startswith("category/rolling: over feeds.max_bytes (10000 bytes): ")
    assert all(warning.endswith(" oldest dropped") for warning in warnings)
    assert (
        max(len(data) for name, data in files(warm.output).items() if not name.endswith(".html"))
        <= 10000
    )


def test_strict_refuses_a_feed_over_its_byte_cap_before_any_file_is_replaced(busy, tmp_path):
    from feeds.errors import StrictError

    config = "feeds:\n  limit: 3\n  window: 10h\n  max_bytes: 10000\n"
    warm = settings_for(busy, tmp_path, config=config)
    with pytest.raises(StrictError):
        build(warm, now=NOW, strict=True)
    assert not warm.output.exists() or files(warm.output) == {}


def test_a_new_post_signs_only_the_feeds_it_enters(news, tmp_path, monkeypatch):
    from feeds.output import publish

    signed: list[str] = []
    real = publish.feed_signature
    monkeypatch.setattr(
        publish, "feed_signature", lambda spec, *a: signed.append(spec.folder) or real(spec, *a)
    )
    warm = settings_for(news, tmp_path)
    build(warm, now=NOW)
    assert len(signed) == 4  # the site feed and three categories
    signed.clear()
    news.post("2022-05-29-new.md", date="2022-05-29 09:00:00 +0800", categories="emnews")
    assert build(warm, now=NOW).mode == "incremental"
    assert sorted(signed) == ["", "category/emnews"]  # the others' recorded signatures stand
    assert files(warm.output) == cold_output(news, tmp_path)


# --- the OPML list and the index page: made again only when what they show changed ---------------


def test_a_new_post_leaves_the_opml_list_unmade_and_recounts_the_index_page(
    news, tmp_path, monkeypatch
):
    from feeds.output import build as build_module

    made: list[str] = []
    for name in ("opml_list", "index_page"):
        real = getattr(build_module, name)
        monkeypatch.setattr(
            build_module, name, lambda *a, _r=real, _n=name: made.append(_n) or _r(*a)
        )
    warm = settings_for(news, tmp_path)
    build(warm, now=NOW)
    assert made == ["opml_list", "index_page"]
    made.clear()
    news.post("2022-05-29-new.md", title="新", date="2022-05-29 09:00:00 +0800")
    build(warm, now=NOW)
    assert made == ["index_page"]  # no feed came, went or was renamed; kejiribao has one more
    assert files(warm.output) == cold_output(news, tmp_path)


def test_an_opml_list_changed_by_hand_is_made_again(news, tmp_path):
    warm = settings_for(news, tmp_path)
    build(warm, now=NOW)
    (warm.output / "feeds.opml").write_text("<opml/>", encoding="utf-8")
    (warm.output / "index.html").unlink()
    news.post("2022-05-29-new.md", title="新", date="2022-05-29 09:00:00 +0800")
    build(warm, now=NOW)
    assert files(warm.output) == cold_output(news, tmp_path)


def test_new_posts_of_one_day_rewrite_a_few_index_shards(news, tmp_path):
    warm = settings_for(news, tmp_path)
    build(warm, now=NOW)
    shards = warm.state_dir / "cache" / "posts"
    before = {path.name: path.stat().st_mtime_ns for path in shards.iterdir()}
    for n in range(40):
        news.post(f"2022-05-29-day{n}.md", title=f"当天{n}", date="2022-05-29 09:00:00 +0800")
    assert build(warm, now=NOW).mode == "incremental"
    after = {path.name: path.stat().st_mtime_ns for path in shards.iterdir()}
    assert 0 < sum(after[name] != before.get(name) for name in after) <= cache.DAY_SPREAD
    assert files(warm.output) == cold_output(news, tmp_path)


def test_the_days_of_an_archive_spread_over_every_index_shard():
    paths = [f"/s/_posts/2022-{m:02d}-{d:02d}-p{d}.md" for m in range(1, 13) for d in range(1, 29)]
    assert len({cache.post_shard(path) for path in paths}) == cache.SHARDS
    undated = [f"/s/_posts/notes/{n}.md" for n in range(1000)]
    assert len({cache.post_shard(path) for path in undated}) == cache.SHARDS
