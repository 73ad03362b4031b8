"""The watcher: a post file that lands, changes or goes reaches the feeds without waiting for the sweep."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from feeds.watch import start_watcher
from tests.conftest import recent, wait_for
from tests.test_schedule import schedule_config

SETTLE = timedelta(milliseconds=200)


@pytest.fixture
def watched(tmp_path):
    """A watcher on a real folder, recording how often it asked for a build."""
    posts = tmp_path / "_posts"
    posts.mkdir()
    calls: list[int] = []
    stop = threading.Event()
    thread = start_watcher(posts, calls.append, stop, SETTLE)
    yield posts, calls
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_a_batch_of_files_settles_into_a_build_or_two_not_fifty(tmp_path):
    posts = tmp_path / "_posts"
    posts.mkdir()
    calls: list[int] = []
    stop = threading.Event()
    thread = start_watcher(posts, calls.append, stop, timedelta(seconds=2))
    wait_for(lambda: calls == [1])  # the start-up build
    for n in range(50):
        (posts / f"2026-11-28-{n}.md").write_text("---\ntitle: x\n---\n", encoding="utf-8")
    wait_for(lambda: sum(calls) >= 51, timeout=30)
    stop.set()
    thread.join(timeout=10)
    assert len(calls) <= 3


def test_a_replaced_posts_folder_is_noticed_and_then_watched(watched, tmp_path):
    posts, calls = watched
    wait_for(lambda: calls == [1])
    fresh = tmp_path / "_posts.new"
    fresh.mkdir()
    (fresh / "2026-11-28-a.md").write_text("---\ntitle: a\n---\n", encoding="utf-8")
    posts.rename(tmp_path / "_posts.old")
    fresh.rename(posts)
    wait_for(lambda: len(calls) > 1)
    seen = len(calls)
    (posts / "2026-11-28-b.md").write_text("---\ntitle: b\n---\n", encoding="utf-8")
    wait_for(lambda: len(calls) > seen)


def test_a_missing_posts_folder_is_waited_for(tmp_path):
    posts = tmp_path / "_posts"
    calls: list[int] = []
    stop = threading.Event()
    thread = start_watcher(posts, calls.append, stop, SETTLE)
    posts.mkdir()
    wait_for(lambda: thread.is_alive())
    (posts / "2026-11-28-a.md").write_text("---\ntitle: a\n---\n", encoding="utf-8")
    wait_for(lambda: calls)
    stop.set()
    thread.join(timeout=10)


WATCH_ONLY = schedule_config(every="1h", extra="").replace(
    "digest_cron", "digest: false, watch_settle: 0.2s, digest_cron"
)


def test_the_scheduler_builds_new_edited_and_deleted_posts_without_waiting_for_the_sweep(
    site,
    service,
    tmp_path,
):
    site.post("2026-11-28-first.md", title="第一篇", date=recent(60))
    running = service(WATCH_ONLY).start()
    feed = tmp_path / "out" / "category" / "kejiribao" / "atom.xml"
    wait_for(lambda: feed.exists() and "第一篇" in feed.read_text(encoding="utf-8"))
    second = site.post("2026-11-28-second.md", title="第二篇", date=recent(30))
    wait_for(lambda: "第二篇" in feed.read_text(encoding="utf-8"))
    site.post("2026-11-28-second.md", title="第二篇（更正）", date=recent(30))
    wait_for(lambda: "第二篇（更正）" in feed.read_text(encoding="utf-8"))
    second.unlink()
    wait_for(lambda: "第二篇" not in feed.read_text(encoding="utf-8"))
    assert running.stop() == 0
    assert "watch: " in running.text() and "Traceback" not in running.text()


def test_the_scheduler_follows_a_posts_folder_swapped_in_by_a_deploy(
    site,
    service,
    tmp_path,
):
    site.post("2026-11-28-first.md", title="第一篇", date=recent(60))
    running = service(WATCH_ONLY).start()
    feed = tmp_path / "out" / "category" / "kejiribao" / "atom.xml"
    wait_for(lambda: feed.exists())
    staged = site.root / "_posts.staged"
    staged.mkdir()
    for path in site.posts.iterdir():
        (staged / path.name).write_bytes(path.read_bytes())
    (staged / "2026-11-28-deployed.md").write_text(
        (site.posts / "2026-11-28-first.md")
        .read_text(encoding="utf-8")
        .replace("第一篇", "部署的一篇"),
        encoding="utf-8",
    )
    site.posts.rename(site.root / "_posts.previous")
    staged.rename(site.posts)
    wait_for(lambda: "部署的一篇" in feed.read_text(encoding="utf-8"))
    site.post("2026-11-28-after.md", title="之后一篇", date=recent(10))
    wait_for(lambda: "之后一篇" in feed.read_text(encoding="utf-8"))
    assert running.stop() == 0
