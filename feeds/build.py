"""``feeds build``: collect the posts, choose each feed's entries, render them, write the feeds.

Everything is read and checked before anything is written, so a build that
stops (or a ``--strict`` build with warnings) leaves the previous feeds intact.
"""

from __future__ import annotations

import heapq
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from feeds.collect import BadPost, collect, post_files, read_body
from feeds.config import Settings
from feeds.errors import ConfigError, StrictError
from feeds.feedwriter import FILE_NAMES, FeedSpec, feed_document, safe_slug, write_if_changed
from feeds.post import Post, PostProblem
from feeds.render import Rendered, render_body

log = logging.getLogger(__name__)

Track = Callable[[Sequence[Path], str], Iterable[Path]]


@dataclass
class BuildReport:
    posts: int = 0  # files read as posts and published
    skipped: int = 0  # files that could not be used
    excluded: int = 0  # unpublished or future posts, left out on purpose
    written: int = 0
    unchanged: int = 0
    problems: list[PostProblem] = field(default_factory=list)

    @property
    def warnings(self) -> int:
        return len(self.problems)


def build(
    settings: Settings,
    *,
    now: datetime,
    future: bool = False,
    strict: bool = False,
    track: Track | None = None,
) -> BuildReport:
    """Build every feed of the site; return what was read, skipped and written."""
    if not settings.posts_dir.is_dir():
        raise ConfigError("no _posts folder in the site", where=str(settings.site_dir))
    files = post_files(settings.posts_dir)
    if track:
        files = list(track(files, "Reading posts"))
    collected = collect(settings.site, settings.posts_dir, now=now, future=future, files=files)
    posts, duplicates = drop_duplicate_urls(collected.posts)
    report = BuildReport(
        posts=len(posts),
        skipped=sum(p.skipped for p in collected.problems) + len(duplicates),
        excluded=collected.excluded,
        problems=collected.problems + duplicates,
    )
    if strict and report.problems:
        raise StrictError(f"{report.warnings} warning(s) and --strict was given; no feed written")
    specs = plan_feeds(settings, posts)
    rendered = render_entries(settings, specs, report)
    for spec in specs:
        for kind in settings.feeds.formats:
            data = feed_document(
                spec, kind, site=settings.site, base_url=settings.feeds_url, rendered=rendered
            )
            relative = f"{spec.folder}/{FILE_NAMES[kind]}" if spec.folder else FILE_NAMES[kind]
            if write_if_changed(settings.output, relative, data):
                report.written += 1
            else:
                report.unchanged += 1
    return report


def drop_duplicate_urls(posts: list[Post]) -> tuple[list[Post], list[PostProblem]]:
    """Two files with one URL would be one page on the site; keep the first, by file name."""
    seen: dict[str, Post] = {}
    problems = []
    for post in posts:
        if post.url in seen:
            problems.append(
                PostProblem(post.source, f"skipped: same URL as {seen[post.url].source}", True)
            )
        else:
            seen[post.url] = post
    return list(seen.values()), problems


def newest(posts: Iterable[Post], limit: int) -> list[Post]:
    return heapq.nlargest(limit, posts, key=lambda post: post.sort_key)


def plan_feeds(settings: Settings, posts: list[Post]) -> list[FeedSpec]:
    """The site-wide feed, one feed per category, and one per tag when enabled."""
    site, options = settings.site, settings.feeds
    limit = options.limit
    specs = []
    if posts:
        specs.append(FeedSpec("", site.title, site.root, newest(posts, limit)))
    groups: list[tuple[str, dict[str, list[Post]]]] = [("category", group_by(posts, "categories"))]
    if options.tags:
        groups.append(("tag", group_by(posts, "tags")))
    for kind, members in groups:
        folders: dict[str, str] = {}
        for name in sorted(members):
            folder = f"{kind}/{safe_slug(name)}"
            if folder in folders:  # only a crafted name could collide with a hashed one
                log.warning("%s %r shares a folder with %r; skipped", kind, name, folders[folder])
                continue
            folders[folder] = name
            specs.append(
                FeedSpec(
                    folder,
                    f"{site.title} · {display_name(settings, kind, name)}",
                    alternate_page(settings, kind, name),
                    newest(members[name], limit),
                )
            )
    return specs


def group_by(posts: list[Post], attribute: str) -> dict[str, list[Post]]:
    groups: dict[str, list[Post]] = defaultdict(list)
    for post in posts:
        for name in getattr(post, attribute):
            groups[name].append(post)
    return groups


def display_name(settings: Settings, kind: str, name: str) -> str:
    return settings.display_name(name) if kind == "category" else name


def alternate_page(settings: Settings, kind: str, name: str) -> str:
    page = settings.category_page(name) if kind == "category" else None
    return page or settings.site.root


def render_entries(
    settings: Settings, specs: list[FeedSpec], report: BuildReport
) -> dict[str, Rendered]:
    """Render only the posts that reach some feed: at scale, most posts never do."""
    rendered: dict[str, Rendered] = {}
    for spec in specs:
        for post in spec.entries:
            if post.url not in rendered:
                rendered[post.url] = render_post(settings, post, report)
    return rendered


def render_post(settings: Settings, post: Post, report: BuildReport) -> Rendered:
    try:
        body = read_body(post)
    except BadPost as exc:  # the file changed or vanished since it was read
        report.problems.append(PostProblem(post.source, f"content left out: {exc}", False))
        body = ""
    return render_body(
        body,
        is_markdown=post.is_markdown,
        base_url=post.url,
        summary_length=settings.feeds.summary_length,
    )
