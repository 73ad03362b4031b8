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


def hub_settings(site, make_settings, hub):
    return make_settings(site.root, f"feeds: {{hubs: ['{hub.url}']}}\nstate_dir: state\n")


def test_a_build_announces_exactly_the_feed_files_a_new_post_changed(site, make_settings, hub):
    from feeds.output.build import build
    from tests.conftest import NOW

    site.post("2022-05-24-a.md")
    site.post("2022-05-24-b.md", categories="emnews")
    settings = hub_settings(site, make_settings, hub)
    build(settings, now=NOW)
    assert len(hub.urls()) == 9  # the first build writes every feed: 3 folders, 3 formats
    hub.requests = []
    site.post("2022-05-25-c.md", categories="emnews")
    report = build(settings, now=NOW)
    assert report.problems == []
    assert hub.requests == [
        [
            ("hub.mode", "publish"),
            ("hub.url", "https://example.org/feeds/atom.xml"),
            ("hub.url", "https://example.org/feeds/rss.xml"),
            ("hub.url", "https://example.org/feeds/feed.json"),
            ("hub.url", "https://example.org/feeds/category/emnews/atom.xml"),
            ("hub.url", "https://example.org/feeds/category/emnews/rss.xml"),
            ("hub.url", "https://example.org/feeds/category/emnews/feed.json"),
        ]
    ]
    hub.requests = []
    build(settings, now=NOW)
    assert hub.requests == []


def test_a_failing_hub_warns_once_and_the_next_build_sends_what_it_missed(site, make_settings, hub):
    from feeds.output.build import build
    from tests.conftest import NOW

    site.post("2022-05-24-a.md")
    settings = hub_settings(site, make_settings, hub)
    build(settings, now=NOW)
    hub.mode, hub.requests = "refuse", []
    site.post("2022-05-25-b.md")
    report = build(settings, now=NOW)
    assert [str(p) for p in report.problems] == [
        f"{hub.url}: publish failed (HTTP 500); 6 feed URLs kept for the next build"
    ]
    assert report.written == 8  # the feeds and pages are written all the same
    hub.mode, hub.requests = "ok", []
    report = build(settings, now=NOW)  # nothing new: only what the hub missed
    assert report.mode == "unchanged" and report.problems == []
    assert len(hub.urls()) == 6 and hub.urls()[0] == "https://example.org/feeds/atom.xml"
    hub.requests = []
    build(settings, now=NOW)
    assert hub.requests == []
