"""Feed documents with feedgen, written atomically and only when their bytes change.

A rebuild with no new posts must change no byte and no mtime, so web
servers' ETags and readers' conditional GETs keep working: every date in a
feed comes from the posts, never from the clock, and a file whose bytes are
the same is not touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from feeds import __version__
from feeds.config import Site
from feeds.errors import FeedsError
from feeds.output.jsonfeed import json_feed_document
from feeds.output.opml import FILE_NAME as OPML_FILE
from feeds.site.post import EPOCH, Post, PostProblem
from feeds.site.render import xml_safe

if TYPE_CHECKING:
    from feedgen.feed import FeedGenerator

    from feeds.site.render import Rendered

_PLAIN_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
FILE_NAMES = {"atom": "atom.xml", "rss": "rss.xml", "json": "feed.json"}
ATOM_NS = "http://www.w3.org/2005/Atom"
_MAX_NAME = 255  # bytes in a file name, on every common file system


def safe_slug(name: str) -> str:
    """A folder name for a category or tag that is safe on every file system and stable forever.

    Lowercase ASCII names (the usual pinyin slugs such as ``kejiribao``) are
    used as they are. Any other name, with upper case, spaces, parentheses,
    CJK or path tricks such as ``../..``, keeps its ASCII letters and digits
    and gains a short hash of the exact name, so ``TechWeb`` and ``Techweb``
    never share a folder, even on a case-insensitive disk.
    """
    if _PLAIN_SLUG.match(name) and len(name) <= _MAX_NAME:
        return name
    readable = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[: _MAX_NAME - 9].rstrip("-")
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    return f"{readable}-{digest}" if readable else digest


def safe_target(root: Path, relative: str) -> Path:
    """``root/relative``, refusing anything that would land outside ``root``."""
    base = root.resolve()
    target = (base / relative).resolve()
    if not target.is_relative_to(base) or target == base:
        raise FeedsError(
            f"refusing to write outside the output folder: {relative!r}", where=str(root)
        )
    return target


@dataclass(frozen=True)
class FeedSpec:
    """One feed to write: which posts, under which folder, with which title."""

    folder: str  # "" for the site-wide feed, "category/<slug>" or "tag/<slug>"
    title: str
    alternate: str  # the HTML page this feed mirrors
    entries: Sequence[Post]
    kind: str = "site"  # "site", "category" or "tag"
    term: str = ""  # the category or tag as posts write it
    updated: datetime | None = None  # for a feed without entries: when it lost its last one
    name: str = ""  # the display name of its category or tag, for pages and lists
    max_bytes: int = 0  # no file of the feed may be larger; 0 for no cap


def feed_url(base_url: str, folder: str, kind: str) -> str:
    path = f"{folder}/{FILE_NAMES[kind]}" if folder else FILE_NAMES[kind]
    return f"{base_url}/{quote(path)}"


def feed_document(
    spec: FeedSpec,
    kind: str,
    *,
    site: Site,
    base_url: str,
    rendered: Mapping[str, Rendered],
    problems: list[PostProblem] | None = None,
    hubs: Sequence[str] = (),
) -> bytes:
    """The bytes of one Atom, RSS or JSON Feed document. Same input, same bytes.

    An entry that feedgen or XML refuses is left out (with a problem naming
    its file) rather than stopping the feed; anything else wrong raises.
    """
    if kind == "json":
        return json_feed_document(
            title=spec.title,
            home_page_url=spec.alternate,
            feed_url=feed_url(base_url, spec.folder, kind),
            site=site,
            hubs=hubs,
            entries=spec.entries,
            rendered=rendered,
        )
    document = partial(_document, spec, kind, site, base_url, rendered, hubs=hubs)
    try:
        return document(spec.entries)
    except ENTRY_ERRORS:
        pass
    kept = []
    for post in spec.entries:
        try:
            document([post])
        except ENTRY_ERRORS as exc:
            if problems is not None:
                problems.append(PostProblem(post.source, f"left out of the feeds: {exc}", False))
        else:
            kept.append(post)
    return document(kept)


ENTRY_ERRORS = (ValueError, TypeError, OverflowError)


def _document(
    spec: FeedSpec,
    kind: str,
    site: Site,
    base_url: str,
    rendered: Mapping[str, Rendered],
    entries: Sequence[Post],
    hubs: Sequence[str] = (),
) -> bytes:
    from feedgen.feed import FeedGenerator

    generator = FeedGenerator()
    if kind == "rss":  # RSS's own <author> must be an email address; readers know dc:creator
        generator.load_extension("dc", atom=False, rss=True)
    self_url = feed_url(base_url, spec.folder, kind)
    generator.id(feed_url(base_url, spec.folder, "atom"))
    generator.title(xml_safe(spec.title))
    generator.description(as_html(xml_safe(site.description or spec.title), kind))
    generator.link(href=self_url, rel="self")
    if kind == "atom":
        for hub in hubs:
            generator.link(href=hub, rel="hub")
    generator.link(
        href=spec.alternate, rel="alternate"
    )  # last: feedgen's RSS <link> is the last one
    if site.language:
        generator.language(site.language)
    generator.author({"name": xml_safe(site.author or site.title)})
    generator.generator("feeds", version=__version__)
    # Never the clock: a feed without entries says when it lost its last one.
    updated = max((post.date for post in entries), default=spec.updated or EPOCH)
    generator.updated(updated)
    generator.lastBuildDate(updated)
    if entries:
        generator.pubDate(updated)
    for post in entries:
        add_entry(generator, post, rendered[post.url], kind)
    if kind == "atom":
        return generator.atom_str(pretty=True, encoding="UTF-8")
    return with_rss_hubs(generator.rss_str(pretty=True, encoding="UTF-8"), hubs)


def with_rss_hubs(document: bytes, hubs: Sequence[str]) -> bytes:
    """Add ``<atom:link rel="hub">`` after the RSS self link; feedgen writes only the self link."""
    if not hubs:
        return document
    from lxml import etree

    root = etree.fromstring(document, etree.XMLParser(remove_blank_text=True))
    channel = root.find("channel")
    anchor = channel.find(f"{{{ATOM_NS}}}link[@rel='self']")
    for hub in reversed(hubs):
        link = etree.Element(f"{{{ATOM_NS}}}link", href=hub, rel="hub")
        anchor.addnext(link)
    return etree.tostring(root, pretty_print=True, encoding="UTF-8", xml_declaration=True)


def as_html(text: str, kind: str) -> str:
    """Plain text as a field of ``kind`` carries it.

    RSS has no way to say "this is text": readers render ``<description>`` as
    HTML, so a summary that reads ``<script>`` must be sent as ``&lt;script&gt;``
    there. Atom's summary and subtitle are text by default and stay as they are.
    """
    return html.escape(text, quote=False) if kind == "rss" else text


def add_entry(generator: FeedGenerator, post: Post, rendered: Rendered, kind: str) -> None:
    entry = generator.add_entry(order="append")
    entry.guid(post.url, permalink=True)
    entry.title(xml_safe(post.title))
    entry.link(href=post.url, rel="alternate")
    entry.published(post.date)
    entry.updated(post.date)
    if post.author:
        entry.author({"name": xml_safe(post.author)})
        if kind == "rss":
            entry.dc.dc_creator(xml_safe(post.author))
    for name in dict.fromkeys(post.categories + post.tags):
        entry.category(term=xml_safe(name))
    if rendered.summary:
        entry.summary(as_html(rendered.summary, kind))
    if rendered.html:
        entry.content(rendered.html, type="html")


def write_if_changed(root: Path, relative: str, data: bytes) -> bool:
    """Atomically replace ``root/relative`` with ``data``; leave it alone if it already holds them.

    Returns whether the file was written.
    """
    temporary = stage(root, relative, data)
    if temporary is not None:
        replace_staged(temporary)
    return temporary is not None


def stage(root: Path, relative: str, data: bytes) -> Path | None:
    """Write ``data`` beside ``root/relative`` in a temporary file, or None if the file holds them.

    ``replace_staged`` then puts it in place with a rename, so a reader never
    sees a half-written file, and a build can prepare every file before it
    replaces the first one.
    """
    target = safe_target(root, relative)
    try:
        if target.stat().st_size == len(data) and target.read_bytes() == data:
            return None
    except FileNotFoundError:
        pass
    if not target.parent.is_dir():  # a folder that was there was resolved with the target
        target.parent.mkdir(parents=True, exist_ok=True)
        safe_target(root, relative)  # the folders just made must not lead elsewhere either
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o644)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return Path(temporary)


def staged_target(temporary: Path) -> Path:
    """The file a temporary stands in for: ``.atom.xml.k3j9x_2a.tmp`` -> ``atom.xml``."""
    return temporary.with_name(temporary.name[1:].rsplit(".", 2)[0])


def replace_staged(temporary: Path) -> None:
    try:
        os.replace(temporary, staged_target(temporary))
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


PAGE = "index.html"  # each feed folder's page for people, and the index at the top
# Every file a build stages: the feed formats, the pages and the OPML list.
STAGED_NAMES = frozenset({*FILE_NAMES.values(), PAGE, OPML_FILE})


def is_our_temporary(name: str) -> bool:
    """A name ``stage`` makes (mkstemp: 8 of [a-z0-9_]) for one of the files a build writes."""
    match = _TEMPORARY.match(name)
    return match is not None and match.group(1) in STAGED_NAMES


_TEMPORARY = re.compile(r"^\.(.+)\.[a-z0-9_]{8}\.tmp$")


def sweep_temporaries(root: Path) -> int:
    """Remove the temporary files a killed build left where builds write (the output's top,
    ``category/*/`` and ``tag/*/``); only names ``stage`` makes. Returns how many."""
    folders = [root]
    for group in ("category", "tag"):
        with contextlib.suppress(OSError):
            folders += [entry for entry in (root / group).iterdir() if entry.is_dir()]
    removed = 0
    for folder in folders:
        with contextlib.suppress(OSError):
            for entry in folder.iterdir():
                if is_our_temporary(entry.name) and entry.is_file():
                    entry.unlink(missing_ok=True)
                    removed += 1
    return removed
