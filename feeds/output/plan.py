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
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from operator import attrgetter
from typing import NamedTuple

from feeds.config import Settings
from feeds.output.feedwriter import FeedSpec, safe_slug
from feeds.output.registry import Published
from feeds.site.post import EPOCH, Post, PostProblem

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


def place(groups: Groups, post: Post, bounds: BoundsOf, tags: bool) -> list[str]:
    """Put a new post into the groups it belongs to; their windows move forward if it is newest.

    Returns those groups: no other group changed.
    """
    touched = list(groups_of(post, tags))
    for group in touched:
        members = groups.setdefault(group, [])
        members.append(post)
        members.sort(key=newest_key, reverse=True)
        kept: list[Post] = []
        for member in members:
            if not admits(kept, member, bounds(group)):
                break
            kept.append(member)
        members[:] = kept
    return touched


def feed_specs(settings: Settings, groups: Groups) -> tuple[list[FeedSpec], list[PostProblem]]:
    """The site-wide feed, then one per category, then one per tag, each in name order.

    Two names can only share a folder when one is crafted to look like the
    other's hashed slug (``techweb-06ac56a6`` beside ``TechWeb``); the first by
    name keeps it and the other is a warning (which ``--strict`` refuses), so
    that existing slugs never change.
    """
    specs = [spec_for(settings, "site", "", groups[SITE])] if groups.get(SITE) else []
    problems: list[PostProblem] = []
    names: dict[str, list[str]] = {"category": [], "tag": []}
    for group in groups:
        if group != SITE:
            kind, name = group.split("\0", 1)
            names[kind].append(name)
    for kind in ("category", "tag"):
        folders: dict[str, str] = {}
        for name in sorted(names[kind]):
            folder = folder_of(kind, name)
            if folder in folders:
                reason = f"no feed: its folder {folder} belongs to {kind} {folders[folder]!r}"
                problems.append(PostProblem(f"{kind} {name!r}", reason, False))
                continue
            folders[folder] = name
            specs.append(spec_for(settings, kind, name, groups[group_name(kind, name)]))
    return specs, problems


def folder_of(kind: str, name: str) -> str:
    return "" if kind == "site" else f"{kind}/{safe_slug(name)}"


def spec_for(
    settings: Settings,
    kind: str,
    name: str,
    entries: Sequence[Post],
    updated: datetime | None = None,
) -> FeedSpec:
    site = settings.site
    if kind == "site":
        return FeedSpec(
            "",
            site.title,
            site.root,
            entries,
            kind=kind,
            updated=updated,
            name=site.title,
            max_bytes=settings.feeds.max_bytes,
        )
    title = settings.display_name(name) if kind == "category" else name
    page = settings.category_page(name) if kind == "category" else None
    return FeedSpec(
        folder_of(kind, name),
        f"{site.title} · {title}",
        page or site.root,
        entries,
        kind=kind,
        term=name,
        updated=updated,
        name=title,
        max_bytes=settings.window(name if kind == "category" else None).max_bytes,
    )


def retracted_specs(
    settings: Settings, published: Mapping[str, Published], specs: list[FeedSpec], now: datetime
) -> list[FeedSpec]:
    """Feeds published before that have no posts now: each stays, without entries.

    Its readers' URL keeps answering with a valid feed, and no entry it showed
    stays public. Tag feeds go when tags are off (the build removes them).
    """
    produced = {spec.folder for spec in specs}
    wanted = {"site", "category", "tag"} if settings.feeds.tags else {"site", "category"}
    empty = []
    for folder, entry in sorted(published.items()):
        if (
            folder in produced
            or entry.kind not in wanted
            or folder_of(entry.kind, entry.name) != folder
        ):
            continue
        emptied = now if entry.emptied is None else EPOCH + timedelta(microseconds=entry.emptied)
        empty.append(spec_for(settings, entry.kind, entry.name, (), emptied))
    return empty
