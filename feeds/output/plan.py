"""Choose each feed's entries: the newest posts of the site, of each category, of each tag.

Pure functions over ``Post`` values. A feed only ever shows its newest
``limit`` posts, so a plan keeps just those per group; a new post can then
be placed without looking at the rest of the archive.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from operator import attrgetter

from feeds.config import Settings
from feeds.output.feedwriter import FeedSpec, safe_slug
from feeds.output.registry import Published
from feeds.site.post import EPOCH, Post, PostProblem

log = logging.getLogger(__name__)

SITE = ""  # the group of the site-wide feed
Groups = dict[str, list[Post]]  # group -> its newest posts, newest first
newest_key = attrgetter("timestamp_us", "url")


def group_name(kind: str, name: str) -> str:
    return f"{kind}\0{name}"


def groups_of(post: Post, tags: bool) -> Iterable[str]:
    yield SITE
    for name in post.categories:
        yield group_name("category", name)
    if tags:
        for name in post.tags:
            yield group_name("tag", name)


def newest_groups(posts: list[Post], limit: int, tags: bool) -> Groups:
    """The newest ``limit`` posts of every group, in one pass over the posts sorted once."""
    groups: Groups = {}
    for post in sorted(posts, key=newest_key, reverse=True):
        for group in groups_of(post, tags):
            members = groups.setdefault(group, [])
            if len(members) < limit:
                members.append(post)
    return groups


def place(groups: Groups, post: Post, limit: int, tags: bool) -> None:
    """Put a new post into the groups it belongs to, keeping each one's newest ``limit``."""
    for group in groups_of(post, tags):
        members = groups.setdefault(group, [])
        members.append(post)
        members.sort(key=newest_key, reverse=True)
        del members[limit:]


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
        return FeedSpec("", site.title, site.root, entries, kind=kind, updated=updated)
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
