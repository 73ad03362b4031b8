"""Windows: every post of the last `window` before a feed's newest, at least `limit`, at most `max_entries`."""

from __future__ import annotations

from datetime import timedelta

import pytest

from feeds.config import FeedOptions
from feeds.output.plan import SITE, Bounds, group_name, newest_groups, place
from feeds.site.post import Post

HOUR_US = 3600 * 1_000_000
BASE = 1_700_000_000 * 1_000_000


def post(minute: float, category: str = "c", us: int = 0) -> Post:
    stamp = BASE + int(minute * 60 * 1_000_000) + us
    return Post(
        f"{stamp}.md",
        "s",
        f"t{minute}",
        stamp,
        0,
        (category,),
        (),
        f"https://e.org/{stamp}",
        None,
        True,
    )


def fixed(limit: int = 2, hours: float = 3, most: int = 100):
    return lambda group: Bounds(limit, int(hours * HOUR_US), most)


def minutes(members: list[Post]) -> list[float]:
    return [(p.timestamp_us - BASE) / 60_000_000 for p in members]


def test_every_post_of_the_window_back_from_the_newest_entry_and_no_older():
    posts = [post(m) for m in (0, 59, 60, 61, 180, 240)]
    groups = newest_groups(posts, fixed(limit=2, hours=3), tags=False)
    assert minutes(groups[SITE]) == [240, 180, 61, 60]  # 60 is exactly three hours before 240


def test_a_post_one_microsecond_beyond_the_edge_is_out():
    posts = [post(180), post(0, us=-1), post(0, us=1)]
    assert len(newest_groups(posts, fixed(limit=1), tags=False)[SITE]) == 2


def test_a_quiet_group_keeps_its_latest_limit_posts_however_old():
    posts = [post(m * 60 * 24) for m in range(5)]  # one a day
    assert minutes(newest_groups(posts, fixed(limit=3), tags=False)[SITE]) == [5760, 4320, 2880]


def test_max_entries_caps_a_busy_window():
    posts = [post(m) for m in range(100)]
    assert len(newest_groups(posts, fixed(limit=2, most=30), tags=False)[SITE]) == 30


def test_each_group_has_its_own_bounds():
    posts = [post(m, "busy") for m in range(0, 300, 10)] + [post(m, "quiet") for m in (0, 5)]

    def bounds(group):
        return (
            fixed(limit=1, hours=1)(group)
            if group == group_name("category", "busy")
            else fixed()(group)
        )

    groups = newest_groups(posts, bounds, tags=False)
    assert minutes(groups[group_name("category", "busy")]) == [290, 280, 270, 260, 250, 240, 230]
    assert minutes(groups[group_name("category", "quiet")]) == [5, 0]


@pytest.mark.parametrize("order", ["oldest first", "newest first", "shuffled"])
def test_placing_posts_one_by_one_gives_the_same_windows_as_planning_them_all(order):
    import random

    posts = [post(m * 7 % 500, "c" if m % 3 else "d") for m in range(120)]
    arrival = {"oldest first": sorted(posts), "newest first": sorted(posts)[::-1]}.get(order)
    if arrival is None:
        arrival = posts[:]
        random.Random(5).shuffle(arrival)
    groups: dict = {}
    for one in arrival:
        place(groups, one, fixed(limit=4, hours=1, most=40), tags=False)
    assert groups == newest_groups(posts, fixed(limit=4, hours=1, most=40), tags=False)


def test_the_settings_and_a_categorys_overrides_give_the_windows():
    options = FeedOptions(categories={"emnews": {"window": "1h", "max_bytes": 200_000}})
    assert options.window == timedelta(hours=3) and options.max_bytes == 1024 * 1024
    assert options.categories["emnews"].window == timedelta(hours=1)
