"""Feed documents with feedgen, written atomically and only when their bytes change.

A rebuild with no new posts must change no byte and no mtime, so web
servers' ETags and readers' conditional GETs keep working: every date in a
feed comes from the posts, never from the clock, and a file whose bytes are
the same is not touched.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from feeds import __version__
from feeds.config import Site
from feeds.errors import FeedsError
from feeds.output.jsonfeed import json_feed_document
from feeds.site.post import Post
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
    hubs: Sequence[str] = (),
) -> bytes:
    """The bytes of one Atom, RSS or JSON Feed document. Same input, same bytes."""
    self_url = feed_url(base_url, spec.folder, kind)
    if kind == "json":
        return json_feed_document(
            title=spec.title,
            home_page_url=spec.alternate,
            feed_url=self_url,
            site=site,
            hubs=hubs,
            entries=spec.entries,
            rendered=rendered,
        )
    from feedgen.feed import FeedGenerator

    generator = FeedGenerator()
    if kind == "rss":  # RSS's own <author> must be an email address; readers know dc:creator
        generator.load_extension("dc", atom=False, rss=True)
    generator.id(feed_url(base_url, spec.folder, "atom"))
    generator.title(xml_safe(spec.title))
    generator.description(xml_safe(site.description or spec.title))
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
    if spec.entries:
        newest = max(post.date for post in spec.entries)
        generator.updated(newest)
        generator.lastBuildDate(newest)
        generator.pubDate(newest)
    for post in spec.entries:
        add_entry(generator, post, rendered[post.url], dublin_core=kind == "rss")
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


def add_entry(
    generator: FeedGenerator, post: Post, rendered: Rendered, *, dublin_core: bool
) -> None:
    entry = generator.add_entry(order="append")
    entry.guid(post.url, permalink=True)
    entry.title(xml_safe(post.title))
    entry.link(href=post.url, rel="alternate")
    entry.published(post.date)
    entry.updated(post.date)
    if post.author:
        entry.author({"name": xml_safe(post.author)})
        if dublin_core:
            entry.dc.dc_creator(xml_safe(post.author))
    for name in dict.fromkeys(post.categories + post.tags):
        entry.category(term=xml_safe(name))
    if rendered.summary:
        entry.summary(rendered.summary)
    if rendered.html:
        entry.content(rendered.html, type="html")


def write_if_changed(root: Path, relative: str, data: bytes) -> bool:
    """Atomically replace ``root/relative`` with ``data``; leave it alone if it already holds them.

    Returns whether the file was written. A reader never sees a half-written
    file: the bytes go to a temporary file in the same folder, then a rename.
    """
    target = safe_target(root, relative)
    try:
        if target.stat().st_size == len(data) and target.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    safe_target(root, relative)  # the folders just made must not lead elsewhere either
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True
