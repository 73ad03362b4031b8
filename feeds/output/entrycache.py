"""Rendered entries kept between builds, under ``<state_dir>/cache/entries/``.

Rendering a post (Markdown, sanitising, the summary) is most of what a build
does, and a post renders the same until its file or a setting rendering
depends on changes. With its rendering kept, a changed feed setting (limit,
window, formats) or a post moving from one feed to another renders nothing
again, and a new post renders only itself, not the feeds' other entries.

- ``index.msgpack``: per post file, a hash of the stamp, front matter hash,
  URL and kind it was rendered with, and where its record lies. Sealed like every
  cache file, with a key holding every setting rendering depends on (see
  ``entries_key``), so a changed setting empties it.
- ``*.seg``: records (MessagePack of the HTML and the summary) back to back.
  Each process that renders appends to its own segment, so the HTML never
  travels between processes, and a build that needs 40 entries reads 40
  records rather than the whole cache. A record is checked by its CRC-32 and
  length when read; one that does not check out is rendered again.

After each build the index keeps only the posts some feed shows; segments
that are mostly dead, or one too many, are rewritten, and segments the
index does not name are deleted. The cache stays a few times the size of the
HTML the feeds show, however long the site runs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import zlib
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgpack

from feeds.output.cache import Stamp, _load, _save, cache_key
from feeds.site.post import Post

if TYPE_CHECKING:
    from feeds.config import Settings
    from feeds.site.render import Rendered

log = logging.getLogger(__name__)

FOLDER = "entries"
INDEX = "index.msgpack"
# Bump when render_post gives other output for the same post and settings
# (the source of feeds.site.render and the libraries' versions count too).
RENDERER = 1
MAX_SEGMENTS = 8  # more, and the smallest are merged into one
_SEGMENT = re.compile(r"^[0-9a-f]{1,32}-[0-9]{1,10}\.seg$")

Location = tuple[str, int, int, int]  # segment, offset, length, CRC-32
Fresh = tuple[str, Location]  # what a worker reports for each post it rendered


def entries_key(settings: Settings) -> str:
    """Everything besides the post file that a rendered entry depends on."""
    from feeds.site import render

    try:
        with open(render.__file__, "rb") as stream:
            source = hashlib.sha256(stream.read()).hexdigest()
    except (OSError, TypeError):  # a frozen or zipped install: the versions still count
        source = ""
    return cache_key(
        "entries",
        RENDERER,
        source,
        _version("markdown-it-py"),
        _version("nh3"),
        settings.feeds.summary_length,
        settings.site.max_post_bytes,
        settings.site.url,
        settings.site.baseurl,
    )


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return ""


@dataclass
class EntryCache:
    """Per post file: (check, *location) of its rendering; see ``check_of``."""

    folder: Path
    key: str
    records: dict[str, tuple[int, str, int, int, int]] = field(default_factory=dict)

    @classmethod
    def load(cls, cache_dir: Path, key: str) -> EntryCache:
        folder = cache_dir / FOLDER
        return cls(folder, key, _load(folder / INDEX, key, decode_index) or {})

    def locate(self, post: Post, stamp: Stamp | None) -> Location | None:
        """Where the post's rendering lies, if it was made from this very file and front matter."""
        record = self.records.get(post.source)
        if record is None or stamp is None or record[0] != check_of(post, stamp):
            return None
        return record[1:]

    def add(self, posts: dict[str, Post], stamps: dict[str, Stamp], fresh: Iterable[Fresh]) -> None:
        for source, location in fresh:
            stamp = stamps.get(source)
            if stamp is not None:
                self.records[source] = (check_of(posts[source], stamp), *location)

    def save(self, shown: Iterable[str]) -> None:
        """Keep the entries of the posts in ``shown``; reclaim the space of the rest."""
        sizes = segment_sizes(self.folder)
        records = self.records
        self.records = {
            source: records[source]
            for source in shown
            if source in records and records[source][1] in sizes
        }
        live: dict[str, int] = {}
        for record in self.records.values():
            live[record[1]] = live.get(record[1], 0) + record[3]
        wasted = {name for name, used in live.items() if 2 * used < sizes[name]}
        named = sorted(live, key=sizes.__getitem__)
        if len(named) > MAX_SEGMENTS:
            wasted.update(named[: len(named) - MAX_SEGMENTS + 1])
        if len(wasted) > 1 or any(live[name] < sizes[name] for name in wasted):
            self.rewrite(wasted)
        _save(self.folder / INDEX, self.key, encode_index(self.records))
        used = {record[1] for record in self.records.values()}
        for name in sizes.keys() - used:
            (self.folder / name).unlink(missing_ok=True)

    def rewrite(self, segments: set[str]) -> None:
        """Move the live records of ``segments`` into one new segment."""
        moving = [(s, r) for s, r in self.records.items() if r[1] in segments]
        with SegmentReader(self.folder) as reader:
            records = [(source, reader.raw(record[1:])) for source, record in moving]
        writer = SegmentWriter(self.folder, os.urandom(6).hex())
        located = writer.append([data for _, data in records if data is not None])
        places = iter(located)
        for (source, data), (_, record) in zip(records, moving, strict=True):
            if data is None:
                del self.records[source]  # damaged: rendered again when next needed
            else:
                self.records[source] = (record[0], *next(places))


def check_of(post: Post, stamp: Stamp) -> int:
    """What a rendering was made from besides the settings: the file and what was read of it.

    64 bits of a hash, so the index holds a number, not the URL and front matter hash.
    """
    made_from = f"{stamp}\0{post.front_hash}\0{post.url}\0{post.is_markdown}"
    digest = hashlib.blake2b(made_from.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def segment_sizes(folder: Path) -> dict[str, int]:
    try:
        with os.scandir(folder) as entries:
            return {
                entry.name: entry.stat().st_size
                for entry in entries
                if _SEGMENT.match(entry.name) and entry.is_file(follow_symlinks=False)
            }
    except OSError:
        return {}


def encode_index(records: dict[str, tuple[int, str, int, int, int]]) -> tuple:
    """Columns: the sources joined, the segments' names, and five numbers per record.

    A build that renders one post loads and saves the index of every shown
    post; as columns, 16,000 of them cost a few milliseconds, not a hundred.
    """
    segments = sorted({record[1] for record in records.values()})
    number = {name: n for n, name in enumerate(segments)}
    numbers = array("q")
    for check, segment, offset, length, crc in records.values():
        numbers.extend((check, number[segment], offset, length, crc))
    return ("\0".join(records), segments, numbers.tobytes())


def decode_index(value: Any) -> dict[str, tuple[int, str, int, int, int]]:
    joined, segments, packed = value
    if type(joined) is not str or not all(
        type(name) is str and _SEGMENT.match(name) for name in segments
    ):
        raise ValueError("odd index")
    sources = joined.split("\0") if joined else []
    numbers = array("q", packed)
    if len(numbers) != 5 * len(sources):
        raise ValueError("columns of different lengths")
    names = [segments[n] for n in numbers[1::5]]
    return dict(
        zip(
            sources,
            zip(numbers[0::5], names, numbers[2::5], numbers[3::5], numbers[4::5], strict=True),
            strict=True,
        )
    )


class SegmentWriter:
    """Appends records to ``<token>-<pid>.seg``: one segment per process and build."""

    def __init__(self, folder: Path, token: str):
        self.folder = folder
        self.name = f"{token}-{os.getpid()}.seg"

    def append(self, records: list[bytes]) -> list[Location]:
        if not records:
            return []
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / self.name, "ab") as stream:
            offset = stream.tell()
            stream.write(b"".join(records))
        located = []
        for data in records:
            located.append((self.name, offset, len(data), zlib.crc32(data)))
            offset += len(data)
        return located

    def append_entries(self, entries: list[tuple[Post, Rendered]]) -> list[Fresh]:
        packed = [pack(rendered) for _, rendered in entries]
        located = self.append(packed)
        return [(post.source, place) for (post, _), place in zip(entries, located, strict=True)]


def pack(rendered: Rendered) -> bytes:
    return msgpack.packb((rendered.html, rendered.summary), unicode_errors="surrogatepass")


class SegmentReader:
    """Reads records, each segment opened once; None for a record that does not check out."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.handles: dict[str, int | None] = {}

    def __enter__(self) -> SegmentReader:
        return self

    def __exit__(self, *_: object) -> None:
        for handle in self.handles.values():
            if handle is not None:
                os.close(handle)
        self.handles.clear()

    def raw(self, location: Location) -> bytes | None:
        name, offset, length, crc = location
        if name not in self.handles:
            try:
                self.handles[name] = os.open(self.folder / name, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError:
                self.handles[name] = None
        handle = self.handles[name]
        if handle is None:
            return None
        try:
            data = os.pread(handle, length, offset)
        except (OSError, ValueError, OverflowError):  # offsets from a damaged index
            return None
        return data if len(data) == length and zlib.crc32(data) == crc else None

    def read(self, location: Location) -> Rendered | None:
        from feeds.site.render import Rendered

        data = self.raw(location)
        if data is None:
            return None
        try:
            html, summary = msgpack.unpackb(data, unicode_errors="surrogatepass")
        except Exception:  # a record that checks out but does not decode: render again
            return None
        if type(html) is not str or type(summary) is not str:
            return None
        return Rendered(html, summary)
