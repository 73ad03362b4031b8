"""The busy day of the issue, smaller: posts arrive hour by hour, a build after each hour,
readers poll every feed; with the default settings no reader misses a post."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import feedparser

from feeds.output.build import build
from tests.test_cache import cold_output, files, settings_for

BEIJING = timezone(timedelta(hours=8))
DAY = datetime(2026, 11, 27, tzinfo=BEIJING)
CATEGORIES = ["gundong", "kejiribao", "emnews", "yanbao", "gangu", "huangjin"]


def posts_in_hour(hour: int) -> int:
    """A daytime peak, as on the real site: a few posts a night hour, many more by day."""
    return 3 + (12 if 8 <= hour < 20 else 0) + (8 if 9 <= hour < 12 else 0)


def add_hour(site, hour: int, counter: list[int]) -> dict[str, str]:
    """Write this hour's posts; return each new post's URL path and category."""
    added = {}
    for i in range(posts_in_hour(hour)):
        n = counter[0]
        counter[0] += 1
        category = "gundong" if n % 5 < 2 else CATEGORIES[1 + (n // 5 + n % 5) % 5]
        moment = DAY + timedelta(hours=hour, minutes=i * 59 // posts_in_hour(hour))
        name = f"p{n}"
        site.post(
            f"{moment:%Y-%m-%d}-{name}.md",
            title=f"第{n}条",
            date=f"{moment:%Y-%m-%d %H:%M:%S %z}",
            categories=category,
            body=f"第{n}条新闻的正文。" * 40,
        )
        added[f"/{category}/{moment:%Y/%m/%d}/{name}.html"] = category
    return added


def read_ids(path: Path) -> set[str]:
    """The entry ids a reader gets from one feed file."""
    if path.suffix == ".json":
        return {item["id"] for item in json.loads(path.read_bytes())["items"]}
    parsed = feedparser.parse(path.read_bytes())
    assert not parsed.bozo, path
    return {entry.id for entry in parsed.entries}


def poll(out: Path, seen: dict[str, set[str]]) -> None:
    for path in out.rglob("*"):
        if path.name in ("atom.xml", "rss.xml", "feed.json"):
            seen.setdefault(str(path.relative_to(out)), set()).update(read_ids(path))


def test_readers_polling_hourly_or_every_two_hours_see_every_post(site, tmp_path):
    settings = settings_for(site, tmp_path)  # the default feed settings
    counter = [0]
    published: dict[str, str] = {}
    hourly: dict[str, set[str]] = {}
    two_hourly: dict[str, set[str]] = {}
    for hour in range(24):
        published |= add_hour(site, hour, counter)
        now = (DAY + timedelta(hours=hour + 1)).astimezone(UTC)
        report = build(settings, now=now)
        assert report.problems == []
        poll(settings.output, hourly)
        if hour % 2 or hour == 23:
            poll(settings.output, two_hourly)
        for path in settings.output.rglob("*"):
            assert path.stat().st_size <= settings.feeds.max_bytes, path

    assert len(published) == counter[0] == 240
    assert (
        max(posts_in_hour(h) for h in range(24)) > settings.feeds.limit
    )  # limit alone would miss posts
    for seen in (hourly, two_hourly):
        for path, category in published.items():
            url = f"https://example.org{path}"
            for kind in ("atom.xml", "rss.xml", "feed.json"):
                assert url in seen[kind], (kind, path)
                assert url in seen[f"category/{category}/{kind}"], (category, kind, path)
    assert files(settings.output) == cold_output(site, tmp_path, now=now)
