"""Publishing to WebSub hubs: exact URLs, batches, and hubs that fail never lose an announcement."""

from __future__ import annotations

from feeds.output import websub
from feeds.output.websub import PENDING, announce

FEEDS = [f"https://example.org/feeds/category/c{n}/atom.xml" for n in range(3)]


def test_one_publish_per_hub_with_every_changed_url(hub, tmp_path):
    assert announce([hub.url], FEEDS, tmp_path) == []
    assert hub.requests == [[("hub.mode", "publish")] + [("hub.url", url) for url in FEEDS]]
    assert hub.content_types == ["application/x-www-form-urlencoded"]
    assert not (tmp_path / PENDING).exists()


def test_nothing_changed_sends_nothing(hub, tmp_path):
    assert announce([hub.url], [], tmp_path) == []
    assert hub.requests == []


def test_long_lists_go_in_batches(hub, tmp_path, monkeypatch):
    monkeypatch.setattr(websub, "BATCH", 2)
    announce([hub.url], FEEDS, tmp_path)
    assert [len(form) for form in hub.requests] == [3, 2]
    assert hub.urls() == FEEDS


def test_a_refusing_hub_gives_one_warning_and_the_next_build_sends_its_urls(hub, tmp_path):
    hub.mode = "refuse"
    problems = announce([hub.url], FEEDS[:2], tmp_path)
    assert problems == [(hub.url, "publish failed (HTTP 500); 2 feed URLs kept for the next build")]
    hub.mode, hub.requests = "ok", []
    assert announce([hub.url], FEEDS[2:], tmp_path) == []
    assert hub.urls() == FEEDS
    assert not (tmp_path / PENDING).exists()


def test_a_hanging_hub_times_out_and_keeps_its_urls(hub, tmp_path):
    hub.mode = "hang"
    problems = announce([hub.url], FEEDS, tmp_path, timeout=0.5)
    assert problems == [
        (hub.url, "publish failed (no answer in time); 3 feed URLs kept for the next build")
    ]
    hub.mode = "ok"
    announce([hub.url], [], tmp_path)
    assert hub.urls() == FEEDS


def test_an_unreachable_hub_does_not_keep_the_others_from_their_urls(hub, tmp_path):
    from tests.conftest import free_port

    dead = f"http://127.0.0.1:{free_port()}/"
    problems = announce([dead, hub.url], FEEDS[:1], tmp_path)
    assert [where for where, _ in problems] == [dead]
    assert problems[0][1].endswith("; 1 feed URL kept for the next build")
    assert hub.urls() == FEEDS[:1]


def test_urls_of_a_hub_no_longer_configured_are_dropped(hub, tmp_path):
    (tmp_path / PENDING).write_text('{"https://old.example/": ["x"]}', encoding="utf-8")
    announce([hub.url], FEEDS[:1], tmp_path)
    assert hub.urls() == FEEDS[:1]
    assert not (tmp_path / PENDING).exists()


def test_a_damaged_pending_file_counts_as_empty(hub, tmp_path):
    (tmp_path / PENDING).write_text("not json", encoding="utf-8")
    assert announce([hub.url], FEEDS[:1], tmp_path) == []
    assert hub.urls() == FEEDS[:1]
