"""Choose each feed's entries: the newest posts of the site, of each category, of each tag.

Pure functions over ``Post`` values. A feed only ever shows its newest
``limit`` posts, so a plan keeps just those per group; a new post can then
be placed without looking at the rest of the archive.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from operator import attrgetter

from feeds.config import Settings
from feeds.output.feedwriter import FeedSpec, safe_slug
from feeds.site.post import Post

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
