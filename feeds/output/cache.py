"""What a build remembers for the next one, under ``<state_dir>/cache/``.

Every file is written atomically and sealed with a key and a checksum: a
different key (a new version of feeds, a changed site setting), a damaged
file or one that does not decode counts as absent, so a stale or broken cache
can only cost time, never change output or stop a build.

- ``posts/NN.msgpack``: what each post file gave when it was last read, keyed
  by its path, size, mtime and ctime. A file whose stamp is unchanged is not
  read again. Sharded by the day in the file's name (``post_shard``).
- ``urls/NN.msgpack``: which post file holds each URL, for incremental builds.
- ``scan.msgpack`` and ``groups.msgpack``: the last build's stamps of every post
  file and each feed's newest posts, for the next build to start from.
- ``feeds.msgpack``: for every feed file written, a signature of everything it
  was made from (its posts, their files' stamps, the feed settings) and the
  file's own size and mtime. A feed whose signature and file are unchanged is
  not generated again.
- ``entries/``: the rendered HTML and summary of every post a feed shows, so
  that no post is rendered twice; see ``feeds.output.entrycache``.

The files are MessagePack, not pickles: whoever can write the state folder can
make a build slow, but never make it run code.

Deleting the state directory and the output folder gives a cold build.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import msgpack

from feeds import __version__
from feeds.site.post import Post
from feeds.site.scan import Scan, decode_scan, encode_scan

log = logging.getLogger(__name__)

FORMAT = 3  # 3: titles are stripped of HTML when read
Stamp = tuple[int, ...]  # (size, mtime_ns, ctime_ns)


def cache_key(*parts: Any) -> str:
    """A digest of everything a cached result depends on, the tool's version included."""
    text = repr((FORMAT, __version__, *parts))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


MAGIC = b"feeds-cache 2\n"
_SEAL = 32  # bytes of BLAKE2b over the key and the payload


def _seal(key: str, payload: bytes | memoryview) -> bytes:
    digest = hashlib.blake2b(key.encode(), digest_size=_SEAL)
    digest.update(payload)
    return digest.digest()


def _load(path: Path, key: str, decode: Callable[[Any], Any] = lambda value: value) -> Any:
    """The stored value, or None when the file is missing, for another key, damaged or odd.

    The checksum catches damage before the decoder sees it; ``decode`` turns
    MessagePack's tuples back into the values a build uses, and a value of the
    wrong shape (a file written by hand) fails there and counts as absent too.
    """
    try:
        data = path.read_bytes()
    except OSError:
        return None
    start = len(MAGIC) + _SEAL
    payload = memoryview(data)[start:]  # not a copy: some of these files are megabytes
    if not data.startswith(MAGIC) or data[len(MAGIC) : start] != _seal(key, payload):
        return None
    try:
        return decode(msgpack.unpackb(payload, use_list=False, unicode_errors="surrogatepass"))
    except Exception:  # anything a hand-made file can raise means "no cache"
        log.debug("ignoring the cache file %s: it does not decode", path)
        return None


def _save(path: Path, key: str, value: Any) -> None:
    """Write atomically; a file that already holds these bytes is left alone (a rename costs
    more than reading a small file, and a full build saves every shard)."""
    payload = msgpack.packb(value, unicode_errors="surrogatepass")
    head = MAGIC + _seal(key, payload)
    try:
        if path.stat().st_size == len(head) + len(payload):
            data = path.read_bytes()
            if data.startswith(head) and memoryview(data)[len(head) :] == payload:
                return
    except OSError:
        path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(head)
            stream.write(payload)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def forget_pickles(cache_dir: Path) -> None:
    """Remove the pickle caches of earlier versions, which are never read again."""
    if (cache_dir / "feeds.pickle").exists():
        for old in [*cache_dir.glob("*.pickle"), *cache_dir.glob("*/*.pickle")]:
            old.unlink(missing_ok=True)


SHARDS = 64


def shard_of(name: str) -> int:
    return zlib.crc32(name.encode("utf-8", "surrogateescape")) % SHARDS


_DAY = re.compile(r"\d{2,4}-\d{1,2}-\d{1,2}-")
DAY_SPREAD = 4  # shards one day's post files are spread over


def post_shard(path: str) -> int:
    """The shard of a post file: chosen by the day its name starts with, four shards to a day.

    New posts are mostly of the last day or two, so a build after 1,000 new
    posts reads and rewrites eight shards, not all 64 (and does not hold the
    whole archive's index in memory); a day of thousands still spreads out.
    """
    name = path.rpartition("/")[2]
    spread = zlib.crc32(name.encode("utf-8", "surrogateescape")) % DAY_SPREAD
    day = _DAY.match(name)
    return (_day_shard(day.group()) + spread) % SHARDS if day else shard_of(path)


@lru_cache(maxsize=4096)
def _day_shard(day: str) -> int:
    return zlib.crc32(day.encode()) % SHARDS


@dataclass
class ShardedIndex:
    """A dictionary kept in 64 files by a hash of its keys.

    A build that changed a few entries rewrites a few small files instead of
    the whole index of a large archive, and an incremental build reads only
    the shards it needs. A shard that is missing or has another key counts as
    empty and unreliable (``complete`` is then false).
    """

    folder: Path
    key: str
    entries: dict[str, Any] = field(default_factory=dict)
    dirty: set[int] = field(default_factory=set)
    complete: bool = True
    shard_of: Callable[[str], int] = shard_of  # which shard holds a key

    @classmethod
    def load(
        cls,
        folder: Path,
        key: str,
        shards: Iterable[int] = range(SHARDS),
        place: Callable[[str], int] = shard_of,
    ) -> ShardedIndex:
        index = cls(folder, key, shard_of=place)
        for shard in shards:
            part = _load(folder / f"{shard:02d}.msgpack", key, decode_shard)
            if part is None:
                index.dirty.add(shard)
                index.complete = False
            else:
                index.entries.update(part)
        return index

    def replace(self, current: dict[str, Any], changed: Iterable[str]) -> None:
        """Take ``current`` as all the entries; ``changed`` are the keys whose values are new."""
        for name in self.entries.keys() - current.keys():
            self.dirty.add(self.shard_of(name))
        if len(self.dirty) < SHARDS:
            self.dirty.update(map(self.shard_of, changed))
        self.entries = current

    def put(self, name: str, value: Any) -> None:
        self.entries[name] = value
        self.dirty.add(self.shard_of(name))

    def drop(self, name: str) -> None:
        if self.entries.pop(name, None) is not None:
            self.dirty.add(self.shard_of(name))

    def save(self, *, everything: bool = False) -> None:
        """Write the shards that changed (all 64 with ``everything``)."""
        shards = set(range(SHARDS)) if everything else self.dirty
        parts: dict[int, dict[str, Any]] = {shard: {} for shard in shards}
        for name, value in self.entries.items():
            part = parts.get(self.shard_of(name))
            if part is not None:
                part[name] = value
        for shard, part in parts.items():
            _save(self.folder / f"{shard:02d}.msgpack", self.key, part)
        self.dirty.clear()


@dataclass
class FeedIndex:
    """Per feed file: (signature, size, mtime_ns); the last build's summary and scan of posts.

    The summary holds the scan's fingerprint, so a build with nothing new
    reads this one small file; the scan itself is read only to find what changed.
    """

    key: str
    outputs: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    scan: Scan | None = None
    groups: Any = None  # each feed group's newest posts; loaded only when needed
    cache_dir: Path | None = None

    @classmethod
    def load(cls, cache_dir: Path, key: str) -> FeedIndex:
        payload = _load(cache_dir / "feeds.msgpack", key, decode_feeds) or {}
        return cls(
            key, payload.get("outputs", {}), payload.get("summary", {}), None, None, cache_dir
        )

    def load_scan(self) -> Scan | None:
        """The last build's scan; None when missing, damaged or not the one the summary names."""
        if self.scan is None and self.cache_dir is not None and self.summary:
            scan = _load(self.cache_dir / "scan.msgpack", self.key, decode_scan)
            if scan is not None and scan.fingerprint == self.summary.get("scan"):
                self.scan = scan
        return self.scan

    def load_groups(self) -> Any:
        if self.groups is None and self.cache_dir is not None and self.summary:
            self.groups = _load(self.cache_dir / "groups.msgpack", self.key, decode_groups)
        return self.groups

    def save(self, cache_dir: Path) -> None:
        """The summary last: it names the scan the other files go with."""
        _save(cache_dir / "scan.msgpack", self.key, encode_scan(self.scan))
        _save(cache_dir / "groups.msgpack", self.key, self.groups)
        _save(
            cache_dir / "feeds.msgpack",
            self.key,
            {"outputs": self.outputs, "summary": self.summary},
        )


def decode_shard(value: Any) -> dict[str, Any]:
    """A shard as a dictionary; its values' outer shape is checked, as the build unpacks it."""
    shard = dict(value)
    for name, entry in shard.items():
        if type(name) is not str or not isinstance(entry, str | tuple):
            raise ValueError(f"odd entry {name!r}")
    return shard


def decode_groups(value: Any) -> dict[str, list[Post]]:
    return {str(group): [Post._make(post) for post in posts] for group, posts in value.items()}


def decode_feeds(value: Any) -> dict[str, Any]:
    outputs = {str(name): tuple(record) for name, record in value["outputs"].items()}
    summary = dict(value["summary"])
    if summary:
        summary["outputs"] = list(summary["outputs"])
    return {"outputs": outputs, "summary": summary}


def file_stamp(path: str | os.PathLike[str]) -> Stamp | None:
    """A file's size and mtime, or None when it is not there; a plain string path is the
    cheaper one to pass where thousands are checked."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_size, status.st_mtime_ns)
