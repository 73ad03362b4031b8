"""Choose each feed's entries: the posts of its window, of the site, each category, each tag.

Pure functions over ``Post`` values. A feed holds every post of the last
``window`` measured back from its own newest entry (never from the clock, so
a build with nothing new changes nothing), at least ``limit`` of them and at
most ``max_entries``. That is always a run of the group's newest posts, and
a new post can only move a window forward, so a plan keeps just those per
group and places a new post without looking at the rest of the archive.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta
from operator import attrgetter
from typing import NamedTuple

from feeds.config import Settings
from feeds.output.feedwriter import FeedSpec, safe_slug
from feeds.site.post import Post

log = logging.getLogger(__name__)

SITE = ""  # the group of the site-wide feed
Groups = dict[str, list[Post]]  # group -> its newest posts, newest first
newest_key = attrgetter("timestamp_us", "url")


class Bounds(NamedTuple):
    """A group's window in the units the plan compares: entries and microseconds."""

    limit: int
    span_us: int
    most: int


BoundsOf = Callable[[str], Bounds]


def bounds_of(settings: Settings) -> BoundsOf:
    """Each group's bounds: a category's own overrides, else the ``feeds`` settings."""
    known: dict[str, Bounds] = {}

    def bounds(group: str) -> Bounds:
        if group not in known:
            kind, _, name = group.partition("\0")
            window = settings.window(name if kind == "category" else None)
            span_us = window.span // timedelta(microseconds=1)
            known[group] = Bounds(window.limit, span_us, window.max_entries)
        return known[group]

    return bounds


def group_name(kind: str, name: str) -> str:
    return f"{kind}\0{name}"


def groups_of(post: Post, tags: bool) -> Iterable[str]:
    yield SITE
    for name in post.categories:
        yield group_name("category", name)
    if tags:
        for name in post.tags:
            yield group_name("tag", name)


def admits(members: list[Post], post: Post, bounds: Bounds) -> bool:
    """Whether a post older than all ``members`` still belongs in their window."""
    count = len(members)
    if count >= bounds.most:
        return False
    return count < bounds.limit or post.timestamp_us >= members[0].timestamp_us - bounds.span_us


def newest_groups(posts: list[Post], bounds: BoundsOf, tags: bool) -> Groups:
    """Every group's window, in one pass over the posts sorted once."""
    groups: Groups = {}
    for post in sorted(posts, key=newest_key, reverse=True):
        for group in groups_of(post, tags):
            members = groups.setdefault(group, [])
            if admits(members, post, bounds(group)):
                members.append(post)
    return groups


def place(groups: Groups, post: Post, bounds: BoundsOf, tags: bool) -> None:
    """Put a new post into the groups it belongs to; their windows move forward if it is newest."""
    for group in groups_of(post, tags):
        members = groups.setdefault(group, [])
        members.append(post)
        members.sort(key=newest_key, reverse=True)
        kept: list[Post] = []
        for member in members:
            if not admits(kept, member, bounds(group)):
                break
            kept.append(member)
        members[:] = kept


def feed_specs(settings: Settings, groups: Groups) -> list[FeedSpec]:
    """The site-wide feed, then one per category, then one per tag, each in name order."""
    site = settings.site
    specs = (
        [FeedSpec("", site.title, site.root, groups[SITE], site.title, settings.feeds.max_bytes)]
        if groups.get(SITE)
        else []
    )
    names: dict[str, list[str]] = {"category": [], "tag": []}
    for group in groups:
        if group != SITE:
            kind, name = group.split("\0", 1)
            names[kind].append(name)
    for kind in ("category", "tag"):
        folders: dict[str, str] = {}
        for name in sorted(names[kind]):
            folder = f"{kind}/{safe_slug(name)}"
            if folder in folders:  # only a crafted name could collide with a hashed one
                log.warning("%s %r shares a folder with %r; skipped", kind, name, folders[folder])
                continue
            folders[folder] = name
            title = settings.display_name(name) if kind == "category" else name
            page = settings.category_page(name) if kind == "category" else None
            specs.append(
                FeedSpec(
                    folder,
                    f"{site.title} · {title}",
                    page or site.root,
                    groups[group_name(kind, name)],
                    title,
                    settings.window(name if kind == "category" else None).max_bytes,
                )
            )
    return specs
