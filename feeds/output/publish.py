"""Put a build's feeds in place: render what is stale, then replace files, then retract.

Every stale feed is rendered and written to a temporary file beside its
target before the first file is replaced, so a build that stops (a post the
XML writer refuses, a full disk, ``--strict``) leaves the previous feeds
whole. While files are being replaced a marker sits in the state folder; the
next build finds it and removes any temporary file a kill left in the output.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from feeds.config import Settings
from feeds.errors import FeedsError
from feeds.output.bytecap import describe, fit
from feeds.output.cache import FeedIndex, Stamp, file_stamp
from feeds.output.entrycache import (
    EntryCache,
    Fresh,
    Location,
    SegmentReader,
    SegmentWriter,
    entries_key,
)
from feeds.output.feedwriter import (
    FILE_NAMES,
    FeedSpec,
    feed_document,
    replace_staged,
    safe_target,
    stage,
    sweep_temporaries,
)
from feeds.output.pages import folder_page, page_environment, page_name
from feeds.output.parallel import map_batches
from feeds.output.registry import FILE as REGISTRY_FILE
from feeds.output.registry import Published, Registry
from feeds.site.post import Post, PostProblem, timestamp_us

if TYPE_CHECKING:
    from feeds.site.render import Rendered

log = logging.getLogger(__name__)

MARKER = "writing"  # in state_dir while a build replaces files in the output

# A post's HTML and summary for the feeds (summary length, the list its problems go to,
# the largest post file to read).
RenderPost = Callable[[Post, int, list[PostProblem], int], "Rendered"]


#: The registry's name for the HTML pages beside the feeds (the root one included).
PAGE_KIND = "page"


def output_name(spec: FeedSpec, kind: str) -> str:
    return f"{spec.folder}/{FILE_NAMES[kind]}" if spec.folder else FILE_NAMES[kind]


def output_names(settings: Settings, spec: FeedSpec) -> list[str]:
    """The files of one feed folder: a document per format, and the folder's page."""
    names = [output_name(spec, kind) for kind in settings.feeds.formats]
    if settings.feeds.pages and spec.folder:
        names.append(page_name(spec.folder))
    return names


def feed_signature(spec: FeedSpec, stamps: dict[str, Stamp], key: str) -> str:
    """Everything a feed is made of: settings, title, and each entry with its file's stamp."""
    parts = [key, spec.folder, spec.title, spec.name, spec.alternate, str(spec.updated)]
    # A post is a function of its file and the site settings (part of ``key``),
    # so its source and the file's stamp stand for all of it.
    parts += [f"{post.source}\0{stamps.get(post.source)}" for post in spec.entries]
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


def recorded_signature(settings, feeds_index, spec: FeedSpec, kept: set[str] | None) -> str | None:
    if kept is None or spec.folder not in kept:
        return None
    recorded = feeds_index.outputs.get(output_names(settings, spec)[0])
    return recorded[0] if recorded is not None else None


def outputs_intact(output: str, outputs: dict, names, signature: str | None = None) -> bool:
    """The files are as the last build recorded them in ``outputs`` (and were made from
    ``signature``, if given).

    Plain strings and one stat each: a build with nothing new checks thousands.
    """
    for relative in names:
        recorded = outputs.get(relative)
        if recorded is None or (signature is not None and recorded[0] != signature):
            return False
        if file_stamp(f"{output}/{relative}") != recorded[1:]:
            return False
    return True


def outputs_current(settings, feeds_index, spec, signatures) -> bool:
    names = output_names(settings, spec)
    return outputs_intact(str(settings.output), feeds_index.outputs, names, signatures[spec.folder])


def recover_interrupted_write(settings: Settings) -> None:
    """After a build killed while replacing files (or the first build that keeps a registry),
    remove the temporary files it may have left in the public output."""
    state = settings.state_dir
    if (state / MARKER).exists() or not (state / REGISTRY_FILE).exists():
        removed = sweep_temporaries(settings.output)
        if removed:
            log.info("removed %d temporary file(s) an interrupted build left", removed)
        (state / MARKER).unlink(missing_ok=True)


@dataclass
class Staged:
    """Feed files rendered and waiting beside their targets, and what rendering found."""

    files: list[tuple[str, Path | None]] = field(default_factory=list)  # None: bytes unchanged
    problems: list[PostProblem] = field(default_factory=list)
    signatures: dict[str, str] = field(default_factory=dict)  # folder -> signature
    stale: set[str] = field(default_factory=set)  # folders rendered this time
    entries: EntryCache | None = None  # with what was rendered this time; None: nothing was

    def discard(self) -> None:
        for _, temporary in self.files:
            if temporary is not None:
                temporary.unlink(missing_ok=True)


def stage_stale_feeds(
    settings, specs, stamps, feeds_index, pool, render: RenderPost, kept: set[str] | None = None
) -> Staged:
    """Render every feed whose inputs changed into temporary files; replace nothing yet.

    A folder in ``kept`` has the last build's entries, so the signature its
    files were recorded with is its own, and is not computed again.

    Entries rendered by earlier builds are taken from the entry cache: each
    batch of feeds carries where its cached entries lie, and brings back
    where it put the ones it had to render.
    """
    staged = Staged()
    staged.signatures = {
        spec.folder: recorded_signature(settings, feeds_index, spec, kept)
        or feed_signature(spec, stamps, feeds_index.key)
        for spec in specs
    }
    stale = [s for s in specs if not outputs_current(settings, feeds_index, s, staged.signatures)]
    staged.stale = {spec.folder for spec in stale}
    if not stale:
        return staged
    (settings.state_dir / MARKER).parent.mkdir(parents=True, exist_ok=True)
    (settings.state_dir / MARKER).write_text(str(settings.output), encoding="utf-8")
    entries = EntryCache.load(settings.state_dir / "cache", entries_key(settings))
    staged.entries = entries
    items = [
        (spec, tuple(entries.locate(post, stamps.get(post.source)) for post in spec.entries))
        for spec in stale
    ]
    store = (str(entries.folder), os.urandom(6).hex())
    shown = {post.source: post for spec in stale for post in spec.entries}
    # ``rendered`` is shared by the batches run here, in this process
    renderer = partial(render_feeds, settings, render, rendered={}, store=store)
    seen: set[PostProblem] = set()
    try:
        for files, problems, fresh in map_batches(renderer, items, pool, batch=25, min_items=200):
            staged.files += [(name, Path(temp) if temp else None) for name, temp in files]
            entries.add(shown, stamps, fresh)
            for problem in map(PostProblem._make, problems):
                if problem not in seen:
                    seen.add(problem)
                    staged.problems.append(problem)
    except BaseException:
        staged.discard()
        raise
    return staged


Batch = tuple[list[tuple[str, str]], tuple, list[Fresh]]


def render_feeds(
    settings: Settings,
    render: RenderPost,
    items: Sequence[tuple[FeedSpec, tuple[Location | None, ...]]],
    rendered: dict[str, Rendered],
    store: tuple[str, str],
) -> list[Batch]:
    """Render some feeds (and their pages) into temporary files beside their targets.

    Runs in worker processes: rendering happens where the feed is written, so
    the HTML of thousands of posts never has to travel between processes.
    Each feed comes with where its entries lie in the entry cache (``store``
    names its folder and this build), None for those to render; what is
    rendered here is appended to this process's segment. ``rendered`` keeps
    entries for the next batches in the same process: a post of a busy
    window is in the site-wide feed and in its category's. Returns one batch:
    per file its name and temporary file ("" when its bytes are unchanged),
    the problems found, and where the new entries were put.
    """
    problems: list[PostProblem] = []
    files: list[tuple[str, str]] = []
    make = partial(
        feed_document,
        site=settings.site,
        base_url=settings.feeds_url,
        problems=problems,
        hubs=settings.feeds.hubs,
    )
    env = page_environment(settings) if settings.feeds.pages else None
    folder, token = store
    made: list[tuple[Post, Rendered]] = []
    try:
        with SegmentReader(Path(folder)) as cached:
            for spec, locations in items:
                for post, location in zip(spec.entries, locations, strict=True):
                    if post.url in rendered:
                        continue
                    entry = cached.read(location) if location is not None else None
                    if entry is None:
                        before = len(problems)
                        entry = render(
                            post,
                            settings.feeds.summary_length,
                            problems,
                            settings.site.max_post_bytes,
                        )
                        if len(problems) == before:  # a post rendered with a problem is not kept
                            made.append((post, entry))
                    rendered[post.url] = entry
        for spec, _ in items:
            documents, cut = fit(spec, settings.feeds.formats, make, rendered)
            if cut is not None:
                where = spec.folder or "the site-wide feed"
                warning = describe(cut, len(spec.entries), spec.max_bytes)
                problems.append(PostProblem(where, warning, False))
                spec = replace(spec, entries=spec.entries[: cut.kept])
            outputs = {output_name(spec, kind): data for kind, data in documents.items()}
            if env is not None and spec.folder:
                outputs[page_name(spec.folder)] = folder_page(settings, env, spec, rendered)
            for relative, data in outputs.items():
                temporary = stage(settings.output, relative, data)
                files.append((relative, str(temporary or "")))
        fresh = SegmentWriter(Path(folder), token).append_entries(made)
    except BaseException:
        for _, temporary in files:
            if temporary:
                Path(temporary).unlink(missing_ok=True)
        raise
    return [(files, tuple(tuple(problem) for problem in problems), fresh)]


def publish(
    settings: Settings, registry: Registry, specs: list[FeedSpec], staged: Staged
) -> tuple[int, int]:
    """Replace the staged files, then remove the files the build no longer produces.

    The registry is saved first with both the old and the new feeds in it, so
    a kill at any point leaves every file of ours listed for the next build.
    Returns how many files were written and how many were already right.
    """
    formats = registered_kinds(settings)
    final = Registry(
        registry.output,
        list(formats),
        {spec.folder: published_entry(spec) for spec in specs},
        True,
    )
    pending = Registry(
        registry.output,
        list(dict.fromkeys([*registry.formats, *formats])),
        {**registry.feeds, **final.feeds},
        True,
    )
    if not pending.same_as(registry):
        pending.save(settings.state_dir)
    written = 0
    for _, temporary in staged.files:
        if temporary is not None:
            replace_staged(temporary)
            written += 1
    retire(settings.output, registry, final)
    if not final.same_as(pending):
        final.save(settings.state_dir)
    (settings.state_dir / MARKER).unlink(missing_ok=True)
    unchanged = len(staged.files) - written
    unchanged += sum(
        len(output_names(settings, spec)) for spec in specs if spec.folder not in staged.stale
    )
    return written, unchanged


def registered_kinds(settings: Settings) -> list[str]:
    """The kinds of file the registry records for every folder: the formats, and the pages."""
    return [*settings.feeds.formats, *([PAGE_KIND] if settings.feeds.pages else [])]


def published_entry(spec: FeedSpec) -> Published:
    emptied = None if spec.entries or spec.updated is None else timestamp_us(spec.updated)
    return Published(spec.kind, spec.term, emptied)


def retire(root: Path, before: Registry, after: Registry) -> None:
    """Remove the files of ours that the build no longer produces, and folders left empty."""
    for folder in before.feeds:
        names = [
            f"{folder}/{FILE_NAMES[kind]}" if folder else FILE_NAMES[kind]
            for kind in before.formats
            if kind in FILE_NAMES and (folder not in after.feeds or kind not in after.formats)
        ]
        pages_stay = folder in after.feeds and PAGE_KIND in after.formats
        if not pages_stay and (PAGE_KIND in before.formats or folder not in after.feeds):
            names.append(page_name(folder))  # a folder's page goes with its last feed
        remove_files(root, names)
    if "" not in before.feeds and PAGE_KIND in before.formats and PAGE_KIND not in after.formats:
        remove_files(root, [page_name("")])  # written even for a site without a post to list


def remove_files(root: Path, names: list[str]) -> None:
    """Remove files of ours under ``root``, and the folders (up to two levels) left empty."""
    for relative in names:
        try:
            target = safe_target(root, relative)
        except FeedsError:  # a hand-edited registry pointing elsewhere: not ours
            continue
        target.unlink(missing_ok=True)
        for parent in (target.parent, target.parent.parent):
            if parent == root.resolve():
                break
            try:
                parent.rmdir()
            except OSError:  # not empty: someone else's files, or other feeds
                break


def record_outputs(settings, specs, staged: Staged, feeds_index: FeedIndex) -> None:
    """Remember every feed file's signature and stamp, for the next build to skip it."""
    outputs = {}
    for spec in specs:
        for relative in output_names(settings, spec):
            if spec.folder not in staged.stale:  # checked just now by outputs_current
                outputs[relative] = feeds_index.outputs[relative]
            elif stamp := file_stamp(settings.output / relative):
                outputs[relative] = (staged.signatures[spec.folder], *stamp)
    feeds_index.outputs = outputs
