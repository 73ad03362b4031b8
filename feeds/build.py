"""``feeds build``: collect the posts, choose each feed's entries, render them, write the feeds.

Everything is read and checked before anything is written, so a build that
stops (or a ``--strict`` build with warnings) leaves the previous feeds intact.

Builds are incremental. Post files whose size and mtime are unchanged are not
read again (their front matter is cached), and feeds whose inputs are
unchanged are not generated again; a build where nothing changed at all stops
after comparing file stamps. The output is the same, byte for byte, as a cold
build's: the caches only ever skip work whose result is known.
"""

from __future__ import annotations

import gc
import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from feeds.cache import FeedIndex, PostIndex, Stamp, cache_key, file_stamp
from feeds.collect import BadPost, gather, read_batch, read_body, scan
from feeds.config import Settings
from feeds.errors import ConfigError, StrictError
from feeds.feedwriter import FILE_NAMES, FeedSpec, safe_slug, write_if_changed
from feeds.parallel import map_batches, workers
from feeds.post import Post, PostProblem, timestamp_us
from feeds.state import exclusive_lock

if TYPE_CHECKING:
    from feeds.render import Rendered

log = logging.getLogger(__name__)

Track = Callable[[Sequence[str], str], Iterable[str]]


@dataclass
class BuildReport:
    posts: int = 0  # files read as posts and published
    skipped: int = 0  # files that could not be used
    excluded: int = 0  # unpublished or future posts, left out on purpose
    written: int = 0
    unchanged: int = 0
    reparsed: int = 0  # post files read this time (the rest came from the cache)
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
    jobs: int | None = None,
) -> BuildReport:
    """Build every feed of the site; return what was read, skipped and written."""
    if not settings.posts_dir.is_dir():
        raise ConfigError("no _posts folder in the site", where=str(settings.site_dir))
    lock = exclusive_lock(settings.state_dir, "build.lock", "feeds build", wait=True)
    with lock, workers(jobs) as pool, no_garbage_collection():
        return _build(settings, now, future, strict, track, pool)


@contextmanager
def no_garbage_collection() -> Iterator[None]:
    """A build allocates hundreds of thousands of tuples and frees them together at the end.

    Python's cycle collector would walk all of them again and again while they
    are being created (a sixth of a warm build's time); none of them form
    cycles, so it is paused for the build and runs once afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _build(settings, now, future, strict, track, pool) -> BuildReport:
    cache_dir = settings.state_dir / "cache"
    scanned = scan(settings.posts_dir)
    scan_digest = scanned.digest()
    feeds_index = FeedIndex.load(cache_dir, feeds_key(settings, future))
    if nothing_changed(settings, feeds_index, scan_digest, now):
        return report_unchanged(feeds_index)
    stamps = scanned.stamps()

    index = PostIndex.load(cache_dir, cache_key("posts", settings.site, str(settings.posts_dir)))
    entries, fresh = read_posts(settings, index, stamps, track, pool)
    index.replace(entries, changed=fresh)
    collected = gather(
        ((path, result) for path, (_, result) in entries.items()), now=now, future=future
    )
    posts, duplicates = drop_duplicate_urls(collected.posts)
    report = BuildReport(
        posts=len(posts),
        skipped=sum(p.skipped for p in collected.problems) + len(duplicates),
        excluded=collected.excluded,
        reparsed=len(fresh),
        problems=collected.problems + duplicates,
    )
    if strict and report.problems:
        index.save(cache_dir)
        raise StrictError(f"{report.warnings} warning(s) and --strict was given; no feed written")

    specs = plan_feeds(settings, posts)
    signatures = {spec.folder: feed_signature(spec, stamps, feeds_index.key) for spec in specs}
    stale = [spec for spec in specs if not outputs_current(settings, feeds_index, spec, signatures)]
    writer = partial(write_feeds, settings)
    for _relative, written, problems in map_batches(writer, stale, pool, batch=25, min_items=200):
        report.written += written
        report.unchanged += not written
        report.problems.extend(PostProblem._make(problem) for problem in problems)
    report.unchanged += (len(specs) - len(stale)) * len(settings.feeds.formats)
    for spec in specs:
        for kind in settings.feeds.formats:
            relative = output_name(spec, kind)
            stamp = file_stamp(settings.output / relative)
            if stamp:
                feeds_index.outputs[relative] = (signatures[spec.folder], *stamp)

    feeds_index.summary = {
        "scan": scan_digest,
        "next_release": collected.next_release,
        "report": (report.posts, report.skipped, report.excluded, tuple(report.problems)),
        "outputs": sorted(
            output_name(spec, kind) for spec in specs for kind in settings.feeds.formats
        ),
    }
    index.save(cache_dir)
    feeds_index.save(cache_dir)
    return report


def feeds_key(settings: Settings, future: bool) -> str:
    """Everything besides the posts that a feed's bytes depend on."""
    return cache_key(
        "feeds",
        settings.site,
        settings.feeds.model_dump_json(),
        settings.feeds_url,
        str(settings.output.resolve()),
        future,
    )


def nothing_changed(settings, feeds_index, scan_digest, now) -> bool:
    """No post file, setting, release time or feed file changed since the last build."""
    summary = feeds_index.summary
    if not summary or summary.get("scan") != scan_digest:
        return False
    release = summary.get("next_release")
    if release is not None and timestamp_us(now) >= release:
        return False
    for relative in summary["outputs"]:
        recorded = feeds_index.outputs.get(relative)
        if recorded is None or file_stamp(settings.output / relative) != recorded[1:]:
            return False
    return True


def report_unchanged(feeds_index: FeedIndex) -> BuildReport:
    posts, skipped, excluded, problems = feeds_index.summary["report"]
    return BuildReport(
        posts=posts,
        skipped=skipped,
        excluded=excluded,
        unchanged=len(feeds_index.summary["outputs"]),
        problems=[PostProblem._make(p) for p in problems],
    )


def read_posts(settings, index, stamps, track, pool) -> tuple[dict[str, tuple], list[str]]:
    """Each post file's stamp and what it gives: from the cache when unchanged, else read now."""
    entries: dict[str, tuple] = {}
    fresh: list[str] = []
    cached = index.entries
    for path, stamp in stamps.items():
        entry = cached.get(path)
        if entry is not None and entry[0] == stamp:
            entries[path] = entry
        else:
            fresh.append(path)
    if track and len(fresh) > 1000:
        fresh = list(track(fresh, "Reading posts"))
    reader = partial(read_batch, settings.site, settings.posts_dir)
    for path, result in zip(fresh, map_batches(reader, fresh, pool), strict=True):
        entries[path] = (stamps[path], result)
    return entries, fresh


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


def plan_feeds(settings: Settings, posts: list[Post]) -> list[FeedSpec]:
    """The site-wide feed, one feed per category, and one per tag when enabled."""
    site, options = settings.site, settings.feeds
    newest_first = sorted(posts, key=lambda post: post.sort_key, reverse=True)
    specs = []
    if posts:
        specs.append(FeedSpec("", site.title, site.root, newest_first[: options.limit]))
    kinds = [("category", "categories")] + ([("tag", "tags")] if options.tags else [])
    for kind, attribute in kinds:
        members = newest_by_name(newest_first, attribute, options.limit)
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
                    members[name],
                )
            )
    return specs


def newest_by_name(newest_first: list[Post], attribute: str, limit: int) -> dict[str, list[Post]]:
    """The newest ``limit`` posts of each category (or tag), in one pass over sorted posts."""
    groups: dict[str, list[Post]] = defaultdict(list)
    for post in newest_first:
        for name in getattr(post, attribute):
            members = groups[name]
            if len(members) < limit:
                members.append(post)
    return groups


def display_name(settings: Settings, kind: str, name: str) -> str:
    return settings.display_name(name) if kind == "category" else name


def alternate_page(settings: Settings, kind: str, name: str) -> str:
    page = settings.category_page(name) if kind == "category" else None
    return page or settings.site.root


def output_name(spec: FeedSpec, kind: str) -> str:
    return f"{spec.folder}/{FILE_NAMES[kind]}" if spec.folder else FILE_NAMES[kind]


def feed_signature(spec: FeedSpec, stamps: dict[str, Stamp], key: str) -> str:
    """Everything a feed is made of: settings, title, and each entry with its file's stamp."""
    parts = [key, spec.folder, spec.title, spec.alternate]
    # A post is a function of its file and the site settings (part of ``key``),
    # so its source and the file's stamp stand for all of it.
    parts += [f"{post.source}\0{stamps.get(post.source)}" for post in spec.entries]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def outputs_current(settings, feeds_index, spec, signatures) -> bool:
    for kind in settings.feeds.formats:
        relative = output_name(spec, kind)
        recorded = feeds_index.outputs.get(relative)
        if recorded is None or recorded[0] != signatures[spec.folder]:
            return False
        if file_stamp(settings.output / relative) != recorded[1:]:
            return False
    return True


def write_feeds(settings: Settings, specs: Sequence[FeedSpec]) -> list[tuple[str, bool, tuple]]:
    """Render the entries of some feeds and write their files; runs in worker processes.

    Rendering happens where the feed is written, so the HTML of thousands of
    posts never has to travel between processes.
    """
    from feeds.feedwriter import feed_document

    rendered: dict[str, Rendered] = {}
    problems: list[PostProblem] = []
    for spec in specs:
        for post in spec.entries:
            if post.url not in rendered:
                rendered[post.url] = render_post(post, settings.feeds.summary_length, problems)
    results = []
    for spec in specs:
        for kind in settings.feeds.formats:
            relative = output_name(spec, kind)
            data = feed_document(
                spec, kind, site=settings.site, base_url=settings.feeds_url, rendered=rendered
            )
            results.append((relative, write_if_changed(settings.output, relative, data), ()))
    if results and problems:
        relative, written, _ = results[-1]
        results[-1] = (relative, written, tuple(tuple(problem) for problem in problems))
    return results


def render_post(post: Post, summary_length: int, problems: list[PostProblem]) -> Rendered:
    from feeds.render import render_body

    try:
        body = read_body(post)
    except BadPost as exc:  # the file changed or vanished since it was read
        body = ""
        problems.append(PostProblem(post.source, f"content left out: {exc}", False))
    return render_body(
        body, is_markdown=post.is_markdown, base_url=post.url, summary_length=summary_length
    )
