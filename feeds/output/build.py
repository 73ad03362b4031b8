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

import contextlib
import gc
import hashlib
import logging
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from feeds.config import Settings
from feeds.config.load import nearest_existing
from feeds.errors import ConfigError, StrictError
from feeds.locking import exclusive_lock
from feeds.output.cache import (
    SHARDS,
    FeedIndex,
    ShardedIndex,
    cache_key,
    file_stamp,
    forget_pickles,
    post_shard,
    shard_of,
)
from feeds.output.feedwriter import FeedSpec, feed_url, write_if_changed
from feeds.output.opml import FILE_NAME as OPML_FILE
from feeds.output.opml import Outline, opml_document
from feeds.output.pages import PAGE, check_templates, index_page, page_environment, templates_digest
from feeds.output.parallel import map_batches, workers
from feeds.output.plan import (
    Groups,
    bounds_of,
    feed_specs,
    folder_of,
    newest_groups,
    place,
    retracted_specs,
)
from feeds.output.publish import (
    MARKER,
    outputs_intact,
    publish,
    record_outputs,
    recover_interrupted_write,
    stage_stale_feeds,
)
from feeds.output.registry import Registry, adopt
from feeds.output.websub import PENDING, announce
from feeds.site.collect import DEFAULT_MAX_POST_BYTES, BadPost, gather, read_batch, read_body
from feeds.site.handoff import may_fork
from feeds.site.post import Post, PostProblem, timestamp_us
from feeds.site.prescan import Prescan
from feeds.site.scan import Scan, Stamps, scan

if TYPE_CHECKING:
    from feeds.site.render import Rendered

log = logging.getLogger(__name__)

# Told how many post files are to be read, it returns what to call as each batch is read.
Track = Callable[[int], Callable[[int], None]]
SITE_FILE = "site"  # begins the signature of the OPML list and the index page


@dataclass
class BuildReport:
    posts: int = 0  # files read as posts and published
    skipped: int = 0  # files that could not be used
    excluded: int = 0  # unpublished or future posts, left out on purpose
    written: int = 0
    unchanged: int = 0
    reparsed: int = 0  # post files read this time (the rest came from the cache)
    mode: str = "full"  # "unchanged", "incremental" (new posts placed) or "full"
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
    prescan: Prescan | None = None,
) -> BuildReport:
    """Build every feed of the site; return what was read, skipped and written.

    ``prescan``, a scan of the posts started before the settings loaded, is
    used if it is the scan this build would take; it is closed in any case.
    """
    if not settings.posts_dir.is_dir():
        raise ConfigError("no _posts folder in the site", where=str(settings.site_dir))
    if strict and settings.site.warnings:  # logged as the settings loaded; not listed again
        raise strict_failure(len(settings.site.warnings))
    for key, folder in (("state_dir", settings.state_dir), ("output", settings.output)):
        check_creatable(key, folder)
    lock = exclusive_lock(settings.state_dir, "build.lock", "feeds build", wait=True)
    with lock, workers(jobs) as pool, no_garbage_collection():
        return _build(settings, now, future, strict, track, pool, prescan)


def check_creatable(key: str, folder: Path) -> None:
    """Make sure ``folder`` can be created, leaving nothing behind.

    access(2) says yes to root everywhere, even under /proc, so only trying
    tells; a build that may still write nothing (--strict) must not leave an
    empty folder either, so what was created here is removed again.
    """
    missing = [path for path in (folder, *folder.parents) if not path.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        # mkdir found it there, then asked is_dir(): a concurrent build of the scheduler may
        # have made and removed it in between. Only a file in its place is a problem.
        place, mode = nearest_existing(folder.absolute())
        if place == folder.absolute() and not stat.S_ISDIR(mode):
            raise ConfigError(f"{key}: cannot create {folder}: {exc.strerror}") from None
    except OSError as exc:
        raise ConfigError(f"{key}: cannot create {folder}: {exc.strerror}") from None
    for path in missing:
        with contextlib.suppress(OSError):  # a concurrent run of the scheduler writes there now
            path.rmdir()


@contextmanager
def no_garbage_collection() -> Iterator[None]:
    """A build allocates hundreds of thousands of tuples that live until it ends.

    None of them form cycles, so walking them again and again while they are
    being created is wasted work: the cycle collector is paused for the build.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class Update:
    """What reading the posts gave: each feed group's newest posts and the tallies."""

    groups: Groups
    posts: int
    skipped: int
    excluded: int
    problems: list[PostProblem]
    next_release: int | None
    reparsed: int
    touched: set[str] | None = None  # the groups that may have changed; None: any


def _build(settings, now, future, strict, track, pool, prescan) -> BuildReport:
    cache_dir = settings.state_dir / "cache"
    forget_pickles(cache_dir)
    recover_interrupted_write(settings)
    early = prescan.take(settings.posts_dir, settings.state_dir) if prescan else None
    scanned = early or scan(settings.posts_dir, processes=2 if may_fork() else 1)
    feeds_index = FeedIndex.load(cache_dir, feeds_key(settings, future))
    if nothing_changed(settings, feeds_index, scanned, now):
        report = report_unchanged(feeds_index)
        announce_changes(settings, [], report)
        return report
    check_templates(settings)
    indexes = Indexes(settings, cache_dir)
    mode = "incremental"
    stamps: Stamps | Scan = scanned  # looked up one path at a time
    update = incremental_update(settings, indexes, feeds_index, scanned, now, future, pool)
    if update is None:
        mode = "full"
        stamps = scanned.stamps()
        update = full_update(settings, indexes, stamps, now, future, track, pool)
    report = BuildReport(
        posts=update.posts,
        skipped=update.skipped,
        excluded=update.excluded,
        reparsed=update.reparsed,
        mode=mode,
        problems=list(update.problems),
    )
    registry = Registry.load(settings.state_dir, settings.output)
    if not registry.found:
        registry = adopt(registry, settings.output)
    specs, plan_problems = feed_specs(settings, update.groups)
    specs += retracted_specs(settings, registry.feeds, specs, now.replace(microsecond=0))
    report.problems += plan_problems
    refuse_if_strict(strict, report, indexes)

    kept = None if update.touched is None else kept_folders(specs, update.touched)
    staged = stage_stale_feeds(settings, specs, stamps, feeds_index, pool, render_post, kept)
    report.problems += staged.problems
    if strict and report.problems:
        staged.discard()
        (settings.state_dir / MARKER).unlink(missing_ok=True)
    refuse_if_strict(strict, report, indexes)
    report.written, report.unchanged = publish(settings, registry, specs, staged)
    recorded = feeds_index.outputs
    record_outputs(settings, specs, staged, feeds_index)
    if staged.entries is not None:
        staged.entries.save(post.source for spec in specs for post in spec.entries)
    write_site_files(settings, specs, feeds_index, recorded, report)
    feeds_index.summary = {
        "next_release": update.next_release,
        "report": (update.posts, update.skipped, update.excluded, tuple(update.problems)),
        "plan_problems": tuple(plan_problems),
        "outputs": sorted(feeds_index.outputs),
        "scan": scanned.fingerprint,
    }
    feeds_index.scan = scanned
    feeds_index.groups = update.groups
    indexes.save()
    feeds_index.save(cache_dir)
    changed = [name for name, temporary in staged.files if temporary and not name.endswith(PAGE)]
    announce_changes(settings, changed, report)
    return report


def write_site_files(settings: Settings, specs: list[FeedSpec], feeds_index, recorded, report):
    """The OPML list and the index page, made again only when what they show changed.

    They list every feed (1,000 at a large site), so neither is made when the
    feeds it shows (their names and, on the page, their entry counts) are as
    the last build ``recorded`` them and the file is still as it was left.
    Feeds left without entries (retracted) are not offered to new readers.
    """
    live = [spec for spec in specs if spec.entries]
    makers = {OPML_FILE: (False, lambda: opml_list(settings, live))}
    if settings.feeds.pages:
        makers[PAGE] = (True, lambda: index_page(settings, page_environment(settings), live))
    output = str(settings.output)
    for relative, (counts, make) in makers.items():
        signature = site_signature(relative, feeds_index.key, live, counts)
        if outputs_intact(output, recorded, [relative], signature):
            feeds_index.outputs[relative] = recorded[relative]
            report.unchanged += 1
            continue
        written = write_if_changed(settings.output, relative, make())
        report.written += written
        report.unchanged += not written
        if stamp := file_stamp(settings.output / relative):
            feeds_index.outputs[relative] = (signature, *stamp)


def site_signature(relative: str, key: str, live: list[FeedSpec], counts: bool) -> str:
    """What the OPML list or the index page shows: each feed's folder, names and page,
    and with ``counts`` its number of entries."""
    parts = [SITE_FILE, relative, key]
    parts += [
        f"{s.folder}\0{s.name}\0{s.title}\0{s.alternate}\0{len(s.entries) if counts else ''}"
        for s in live
    ]
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


def opml_list(settings: Settings, specs: list[FeedSpec]) -> bytes:
    kind = "atom" if "atom" in settings.feeds.formats else settings.feeds.formats[0]
    outlines = {
        spec.folder: Outline(
            spec.name, feed_url(settings.feeds_url, spec.folder, kind), spec.alternate
        )
        for spec in specs
        if spec.folder == "" or spec.folder.startswith("category/")
    }
    site_feed = outlines.pop("", None)
    return opml_document(f"{settings.site.title} · feeds", site_feed, list(outlines.values()))


def announce_changes(settings: Settings, changed: list[str], report: BuildReport) -> None:
    """Tell the hubs (and retry what earlier builds could not tell them); never fails the build."""
    if not settings.feeds.hubs and not (settings.state_dir / PENDING).exists():
        return
    urls = [f"{settings.feeds_url}/{quote(relative)}" for relative in changed]
    for hub, problem in announce(settings.feeds.hubs, urls, settings.state_dir):
        report.problems.append(PostProblem(hub, problem, False))


def refuse_if_strict(strict: bool, report: BuildReport, indexes: Indexes) -> None:
    """With --strict, any warning stops the build before a file is replaced."""
    if strict and report.problems:
        indexes.save()
        raise strict_failure(report.warnings, [str(problem) for problem in report.problems])


def strict_failure(count: int, listed: list[str] | None = None) -> StrictError:
    """What stops a --strict build: how many warnings, and those not shown yet."""
    return StrictError(f"{count} warning(s) and --strict was given; no feed written", listed)


class Indexes:
    """The post-file index (path -> stamp and result) and the URL index (URL -> path)."""

    def __init__(self, settings: Settings, cache_dir: Path):
        self.key = cache_key("posts by day", settings.site, str(settings.posts_dir))
        self.cache_dir = cache_dir
        self.posts: ShardedIndex | None = None
        self.urls: ShardedIndex | None = None
        self.rewrite = False

    def load(self, shards: Iterable[int] = range(SHARDS)) -> ShardedIndex:
        self.posts = ShardedIndex.load(self.cache_dir / "posts", self.key, shards, post_shard)
        return self.posts

    def load_urls(self, shards: Iterable[int]) -> ShardedIndex:
        self.urls = ShardedIndex.load(self.cache_dir / "urls", self.key, shards)
        return self.urls

    def save(self) -> None:
        for index in (self.posts, self.urls):
            if index is not None:
                index.save(everything=self.rewrite and index is self.urls)


def full_update(settings, indexes, stamps, now, future, track, pool) -> Update:
    """Every post, from the cache or read anew; every feed group computed from scratch."""
    index = indexes.load()
    entries, fresh = read_posts(settings, index, stamps, track, pool)
    index.replace(entries, changed=fresh)
    collected = gather(
        ((path, result) for path, (_, result) in entries.items()), now=now, future=future
    )
    posts, duplicates = drop_duplicate_urls(collected.posts)
    indexes.urls = ShardedIndex(indexes.cache_dir / "urls", indexes.key)
    indexes.urls.entries = {post.url: post.source for post in posts}
    indexes.rewrite = True
    return Update(
        groups=newest_groups(posts, bounds_of(settings), settings.feeds.tags),
        posts=len(posts),
        skipped=sum(p.skipped for p in collected.problems) + len(duplicates),
        excluded=collected.excluded,
        problems=collected.problems + duplicates,
        next_release=collected.next_release,
        reparsed=len(fresh),
    )


def _as_scanned(index: ShardedIndex, path: str, before: Scan) -> bool:
    """Whether the post index holds ``path`` as the last build's scan saw it.

    The index is saved before the feed index, and also by a --strict build
    that is then refused; after either, it may already hold the new version
    of a file whose old version the feeds still show, and taking the new one
    out of the feeds would leave the old one in.
    """
    entry = index.entries.get(path)
    return isinstance(entry, tuple) and entry[0] == before.get(path)


def incremental_update(settings, indexes, feeds_index, scanned, now, future, pool) -> Update | None:
    """Place new posts into the last build's feed groups; None when only a full update will do.

    Only the index shards that hold changed files are read. A change that
    takes a post out of some feed (an edited or deleted post that a feed
    shows, a URL clash, a future post falling due) needs the rest of the
    archive to refill that feed, so it is left to the full update.
    """
    saved = feeds_index.summary
    if saved.get("next_release") is not None and timestamp_us(now) >= saved["next_release"]:
        return None
    before = feeds_index.load_scan()
    saved_groups = feeds_index.load_groups() if before is not None else None
    if saved_groups is None or before is None:
        return None
    fresh, gone = scanned.changed_since(before)
    gone_paths = set(gone)
    index = indexes.load({post_shard(path) for path in fresh + gone})
    if not index.complete or not all(_as_scanned(index, path, before) for path in gone):
        return None
    feeds_index.scan = before = None  # 100,000 names not to hold through rendering
    shown = {post.url for members in saved_groups.values() for post in members}
    posts, skipped, excluded, release = (
        saved["report"][0],
        saved["report"][1],
        saved["report"][2],
        saved["next_release"],
    )
    saved_problems = [PostProblem._make(p) for p in saved["report"][3]]
    if any(clash_paths(problem) & gone_paths for problem in saved_problems):
        return None  # a file in a URL clash changed: which one keeps the URL may change too
    problems = [p for p in saved_problems if p.source not in gone_paths]
    old = gather(((path, index.entries[path][1]) for path in gone), now=now, future=future)
    if any(post.url in shown for post in old.posts):
        return None
    posts -= len(old.posts)
    skipped -= sum(p.skipped for p in old.problems)
    excluded -= old.excluded

    reader = partial(read_batch, settings.site, settings.posts_dir)
    results = dict(zip(fresh, map_batches(reader, fresh, pool), strict=True))
    new = gather(((path, results[path]) for path in fresh), now=now, future=future)
    urls = indexes.load_urls({shard_of(post.url) for post in old.posts + new.posts})
    if not urls.complete:
        return None
    for post in old.posts:
        if urls.entries.get(post.url) == post.source:
            urls.drop(post.url)
    for post in new.posts:
        if urls.entries.get(post.url, post.source) != post.source:
            return None  # a URL clash: the full update decides which file keeps it
        urls.put(post.url, post.source)

    for path in gone:
        if scanned.get(path) is None:
            index.drop(path)
    for path in fresh:
        index.put(path, (scanned.get(path), results[path]))
    groups = saved_groups  # loaded for this build alone
    bounds = bounds_of(settings)
    touched: set[str] = set()
    for post in new.posts:
        touched.update(place(groups, post, bounds, settings.feeds.tags))
    if new.next_release is not None:
        release = new.next_release if release is None else min(release, new.next_release)
    return Update(
        groups=groups,
        posts=posts + len(new.posts),
        skipped=skipped + sum(p.skipped for p in new.problems),
        excluded=excluded + new.excluded,
        problems=problems + new.problems,
        next_release=release,
        reparsed=len(fresh),
        touched=touched,
    )


def kept_folders(specs: list[FeedSpec], touched: set[str]) -> set[str]:
    """The feed folders whose groups no new post entered: their entries are the last build's."""
    changed = {folder_of(*group.split("\0", 1)) if group else "" for group in touched}
    return {spec.folder for spec in specs if spec.folder not in changed and spec.updated is None}


def current_posts(settings: Settings, *, now: datetime) -> list[Post]:
    """Every published post now, reading only the files the build's cache does not know.

    For the digest: it reads the cache and never writes it, so it can run
    beside a build; a file changed since the last build is simply read again.
    """
    if not settings.posts_dir.is_dir():
        raise ConfigError("no _posts folder in the site", where=str(settings.site_dir))
    stamps = scan(settings.posts_dir).stamps()
    index = Indexes(settings, settings.state_dir / "cache").load()
    entries, _ = read_posts(settings, index, stamps, None, None)
    results = ((path, result) for path, (_, result) in entries.items())
    return drop_duplicate_urls(gather(results, now=now).posts)[0]


def feeds_key(settings: Settings, future: bool) -> str:
    """Everything besides the posts that a feed's bytes depend on."""
    return cache_key(
        "feeds",
        settings.site,
        settings.feeds.model_dump_json(),
        settings.feeds_url,
        str(settings.output.resolve()),
        future,
        templates_digest(settings),
    )


def nothing_changed(settings, feeds_index, scanned, now) -> bool:
    """No post file, setting, release time or feed file changed since the last build."""
    summary = feeds_index.summary
    if not summary or summary.get("scan") != scanned.fingerprint:
        return False
    release = summary.get("next_release")
    if release is not None and timestamp_us(now) >= release:
        return False
    return outputs_intact(str(settings.output), feeds_index.outputs, summary["outputs"])


def report_unchanged(feeds_index: FeedIndex) -> BuildReport:
    posts, skipped, excluded, problems = feeds_index.summary["report"]
    problems += feeds_index.summary.get("plan_problems", ())
    return BuildReport(
        posts=posts,
        skipped=skipped,
        excluded=excluded,
        unchanged=len(feeds_index.summary["outputs"]),
        mode="unchanged",
        problems=[PostProblem._make(p) for p in problems],
    )


def read_posts(settings, index, stamps, track, pool) -> tuple[dict[str, tuple], list[str]]:
    """Each post file's stamp and what it gives: from the cache when unchanged, else read now."""
    entries: dict[str, tuple] = {}
    fresh: list[str] = []
    cached = index.entries
    for path, stamp in stamps.items():
        entry = cached.get(path)
        if entry is None or entry[0] != stamp:
            fresh.append(path)
        entries[path] = entry  # a place in file order, which decides URL clashes
    advance = track(len(fresh)) if track and len(fresh) > 1000 else None
    reader = partial(read_batch, settings.site, settings.posts_dir)
    for path, result in zip(fresh, map_batches(reader, fresh, pool, on_batch=advance), strict=True):
        entries[path] = (stamps[path], result)
    return entries, fresh


CLASH = "skipped: same URL as "


def clash_paths(problem: PostProblem) -> set[str]:
    """Both files of a URL clash, or nothing for other problems."""
    if problem.reason.startswith(CLASH):
        return {problem.source, problem.reason.removeprefix(CLASH)}
    return set()


def drop_duplicate_urls(posts: list[Post]) -> tuple[list[Post], list[PostProblem]]:
    """Two files with one URL would be one page on the site; keep the first, by file name."""
    seen: dict[str, Post] = {}
    problems = []
    for post in posts:
        if post.url in seen:
            problems.append(PostProblem(post.source, f"{CLASH}{seen[post.url].source}", True))
        else:
            seen[post.url] = post
    return list(seen.values()), problems


def render_post(
    post: Post,
    summary_length: int,
    problems: list[PostProblem],
    max_bytes: int = DEFAULT_MAX_POST_BYTES,
) -> Rendered:
    from feeds.site.render import render_body

    try:
        body = read_body(post, max_bytes)
    except BadPost as exc:  # the file changed or vanished since it was read
        body = ""
        problems.append(PostProblem(post.source, f"content left out: {exc}", False))
    return render_body(
        body, is_markdown=post.is_markdown, base_url=post.url, summary_length=summary_length
    )
