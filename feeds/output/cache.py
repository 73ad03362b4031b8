"""What a build remembers for the next one, under ``<state_dir>/cache/``.

Two files, each written atomically and each stamped with a key: a different
key (a new version of feeds, a changed site setting) makes the file count
as absent, so a stale cache can only cost time, never change output.

- ``posts/NN.pickle``: what each post file gave when it was last read, keyed by
  its path, size and mtime. A file whose stamp is unchanged is not read again.
- ``scan.pickle`` and ``groups.pickle``: the last build's stamps of every post
  file and each feed's newest posts, for the next build to start from.
- ``feeds.pickle``: for every feed file written, a signature of everything it
  was made from (its posts, their files' stamps, the feed settings) and the
  file's own size and mtime. A feed whose signature and file are unchanged is
  not generated again.

Deleting the state directory and the output folder gives a cold build.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feeds import __version__

FORMAT = 2  # 2: titles are stripped of HTML when read
Stamp = tuple[int, int]  # (size, mtime_ns)


def cache_key(*parts: Any) -> str:
    """A digest of everything a cached result depends on, the tool's version included."""
    text = repr((FORMAT, __version__, *parts))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _load(path: Path, key: str) -> Any:
    try:
        with open(path, "rb") as stream:
            stored_key, payload = pickle.load(stream)
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError):
        return None
    return payload if stored_key == key else None


def _save(path: Path, key: str, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            pickle.dump((key, payload), stream, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


SHARDS = 64


def shard_of(name: str) -> int:
    return zlib.crc32(name.encode("utf-8")) % SHARDS


@dataclass
class ShardedIndex:
    """A dictionary kept in 64 pickle files by a hash of its keys.

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

    @classmethod
    def load(cls, folder: Path, key: str, shards: Iterable[int] = range(SHARDS)) -> ShardedIndex:
        index = cls(folder, key)
        for shard in shards:
            part = _load(folder / f"{shard:02d}.pickle", key)
            if part is None:
                index.dirty.add(shard)
                index.complete = False
            else:
                index.entries.update(part)
        return index

    def replace(self, current: dict[str, Any], changed: Iterable[str]) -> None:
        """Take ``current`` as all the entries; ``changed`` are the keys whose values are new."""
        for name in self.entries.keys() - current.keys():
            self.dirty.add(shard_of(name))
        self.dirty.update(shard_of(name) for name in changed)
        self.entries = current

    def put(self, name: str, value: Any) -> None:
        self.entries[name] = value
        self.dirty.add(shard_of(name))

    def drop(self, name: str) -> None:
        if self.entries.pop(name, None) is not None:
            self.dirty.add(shard_of(name))

    def save(self, *, everything: bool = False) -> None:
        """Write the shards that changed (all 64 with ``everything``)."""
        shards = set(range(SHARDS)) if everything else self.dirty
        parts: dict[int, dict[str, Any]] = {shard: {} for shard in shards}
        for name, value in self.entries.items():
            part = parts.get(shard_of(name))
            if part is not None:
                part[name] = value
        for shard, part in parts.items():
            _save(self.folder / f"{shard:02d}.pickle", self.key, part)
        self.dirty.clear()


@dataclass
class FeedIndex:
    """Per feed file: (signature, size, mtime_ns); the last build's summary and scan of posts."""

    key: str
    outputs: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    scan: Any = None
    groups: Any = None  # each feed group's newest posts; loaded only when needed
    cache_dir: Path | None = None

    @classmethod
    def load(cls, cache_dir: Path, key: str) -> FeedIndex:
        payload = _load(cache_dir / "feeds.pickle", key) or {}
        scan = _load(cache_dir / "scan.pickle", key) if payload else None
        if scan is None:
            payload = {}
        return cls(
            key, payload.get("outputs", {}), payload.get("summary", {}), scan, None, cache_dir
        )

    def load_groups(self) -> Any:
        if self.groups is None and self.cache_dir is not None and self.summary:
            self.groups = _load(self.cache_dir / "groups.pickle", self.key)
        return self.groups

    def save(self, cache_dir: Path) -> None:
        _save(cache_dir / "scan.pickle", self.key, self.scan)
        _save(cache_dir / "groups.pickle", self.key, self.groups)
        _save(
            cache_dir / "feeds.pickle", self.key, {"outputs": self.outputs, "summary": self.summary}
        )


def file_stamp(path: Path) -> Stamp | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return (status.st_size, status.st_mtime_ns)
