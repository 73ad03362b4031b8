"""Which post files a site has, and which changed since the last build.

A build with nothing new is one listing of ``_posts/`` and one stat per
file, compared with the last build's; everything else a build does waits
on that comparison, so it is kept lean and in its own module.
"""

from __future__ import annotations

import hashlib
import os
import stat
from array import array
from functools import cached_property
from operator import attrgetter
from pathlib import Path
from typing import Any, NamedTuple

from feeds.site.handoff import fork_child, receive, send

Stamps = dict[str, tuple[int, ...]]  # path -> (size, mtime_ns, ctime_ns)


class Listed(NamedTuple):
    """One folder's post files in the order the folder lists them, with their stamps."""

    folder: str  # relative to the root: "" for the posts folder itself
    prefix: str  # what comes before each name: "" in the posts folder, else "sub/folder/"
    names: list[str]
    sizes: array
    mtimes: array
    ctimes: array


class Scan:
    """Every post file under a folder with its size, mtime and ctime, in a stable
    order: each folder's files by name, then its subfolders'.

    The ctime is there because an mtime can be put back (``touch -r``, rsync,
    an editor keeping it) after a same-size edit; the ctime cannot, as any
    write or ``utime`` sets it to the present.

    Kept as each folder's files in the order the folder lists them: a build
    with nothing new only compares ``fingerprint`` with the last build's, and
    at 100,000 posts sorting the names would cost more than that whole
    comparison. The stable order (``names``, ``stamps``) is made when asked for.
    """

    def __init__(self, root: str, folders: list[Listed]):
        self.root = root
        self.folders = folders  # in the stable order; each folder's files as listed

    @cached_property
    def fingerprint(self) -> bytes:
        """A digest of every name and stamp as listed: equal when nothing was added, removed
        or touched and the folders list their files in the same order (as they do when
        nothing changed). Different fingerprints say only that ``changed_since`` must look."""
        digest = hashlib.blake2b(self.root.encode("utf-8", "surrogateescape"), digest_size=16)
        for folder in self.folders:
            head = f"\0{len(folder.names)}\0{folder.folder}\0{folder.prefix}\0"
            digest.update(head.encode("utf-8", "surrogateescape"))
            digest.update("\0".join(folder.names).encode("utf-8", "surrogateescape"))
            for column in (folder.sizes, folder.mtimes, folder.ctimes):
                digest.update(column)
        return digest.digest()

    @cached_property
    def _ordered(self) -> tuple[list[str], array, array, array]:
        names: list[str] = []
        sizes, mtimes, ctimes = array("q"), array("q"), array("q")
        for _, prefix, found, *columns in self.folders:
            order = sorted(range(len(found)), key=found.__getitem__)
            names.extend([f"{prefix}{found[n]}" for n in order] if prefix else sorted(found))
            for ordered, column in zip((sizes, mtimes, ctimes), columns, strict=True):
                ordered.extend([column[n] for n in order])
        return names, sizes, mtimes, ctimes

    @property
    def names(self) -> list[str]:
        """Relative to ``root``, in the stable order."""
        return self._ordered[0]

    def stamps(self) -> Stamps:
        """Path -> (size, mtime_ns, ctime_ns), in the stable order."""
        return {
            f"{self.root}/{name}": (size, mtime, ctime)
            for name, size, mtime, ctime in zip(*self._ordered, strict=True)
        }

    def get(self, path: str) -> tuple[int, int, int] | None:
        """One path's stamp, as ``stamps().get`` gives it, without making them all."""
        relative = path.removeprefix(f"{self.root}/")
        if relative == path:
            return None
        folder, _, name = relative.rpartition("/")
        for listed, places in self._where.get(folder, ()):
            number = places.get(name)
            if number is not None:
                return (listed.sizes[number], listed.mtimes[number], listed.ctimes[number])
        return None

    @cached_property
    def _where(self) -> dict[str, list[tuple[Listed, dict[str, int]]]]:
        """Each folder's listings (an unreadable subfolder is listed in its parent) with their
        names' places; made on the first ``get``."""
        where: dict[str, list[tuple[Listed, dict[str, int]]]] = {}
        for listed in self.folders:
            places = dict(zip(listed.names, range(len(listed.names)), strict=True))
            where.setdefault(listed.prefix[:-1], []).append((listed, places))
        return where

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Scan):
            return NotImplemented
        return self.root == other.root and self._ordered == other._ordered

    __hash__ = None  # type: ignore[assignment]

    def changed_since(self, before: Scan) -> tuple[list[str], list[str]]:
        """The paths added or touched since ``before``, and those touched or removed.

        Each list in the stable order. A folder whose names are listed as
        before is compared column by column, the others name by name.
        """
        was = {folder.folder: folder for folder in before.folders}
        fresh: list[str] = []
        gone: list[str] = []
        for folder in self.folders:
            new, old = _changes(folder, was.pop(folder.folder, None))
            fresh += [f"{self.root}/{folder.prefix}{name}" for name in new]
            gone += [f"{self.root}/{folder.prefix}{name}" for name in old]
        for folder in was.values():
            gone += [f"{self.root}/{folder.prefix}{name}" for name in sorted(folder.names)]
        return fresh, gone


def _changes(now: Listed, before: Listed | None) -> tuple[list[str], list[str]]:
    """One folder's names added or touched, and touched or removed, each sorted.

    A folder lists its files in the same order from one build to the next,
    but for the names added or removed in between; the runs of names the two
    listings share are found by comparing slices of them, and the stamps run
    by run. Only a folder with many changes is compared name by name.
    """
    if before is None:
        return sorted(now.names), []
    if now.prefix != before.prefix:  # a file where an unreadable folder was, or the reverse
        return sorted(now.names), sorted(before.names)
    aligned = _runs(now.names, before.names)
    if aligned is None:
        return _changes_by_name(now, before)
    runs, added, removed = aligned
    touched = []
    for start, was, length in runs:
        if any(
            column[start : start + length] != old[was : was + length]
            for column, old in zip(now[3:], before[3:], strict=True)
        ):
            rows = zip(*(column[start : start + length] for column in now[3:]), strict=True)
            olds = zip(*(old[was : was + length] for old in before[3:]), strict=True)
            names = now.names[start : start + length]
            pairs = zip(names, rows, olds, strict=True)
            touched += [name for name, row, then in pairs if row != then]
    return sorted(added + touched), sorted(touched + removed)


_SKEW = 64  # names added or removed in one folder beyond which names are compared one by one
_GAP = 16  # names added or removed in a row that the runs are found across


def _runs(now: list[str], before: list[str]):
    """The runs ``(start, was, length)`` of names both listings hold in the same order, the
    names only ``now`` holds, and those only ``before`` held; None for too many changes.

    Where the listings part, the next name of either one is looked for a few
    names ahead in the other: names added in a row, or removed in a row.
    Anything else (a folder that listed its names in another order) is left
    to the comparison name by name.
    """
    runs: list[tuple[int, int, int]] = []
    added: list[str] = []
    removed: list[str] = []
    at = was = 0
    while True:
        length = _same(now, before, at, was)
        if length:
            runs.append((at, was, length))
            at, was = at + length, was + length
        if at == len(now) or was == len(before):
            added += now[at:]
            removed += before[was:]
            return (runs, added, removed) if len(added) + len(removed) <= _SKEW else None
        if len(added) + len(removed) >= _SKEW:
            return None
        if (skip := _find(now, before[was], at + 1)) is not None:
            added += now[at:skip]
            at = skip
        elif (skip := _find(before, now[at], was + 1)) is not None:
            removed += before[was:skip]
            was = skip
        else:
            return None


def _find(names: list[str], name: str, start: int) -> int | None:
    try:
        return names.index(name, start, start + _GAP)
    except ValueError:
        return None


def _same(now: list[str], before: list[str], at: int, was: int) -> int:
    """How many names from ``now[at]`` and ``before[was]`` on are the same: by slices of
    doubling length, then halving, so the names are compared about twice, in C."""
    most = min(len(now) - at, len(before) - was)
    low, step = 0, 1
    while low < most:
        high = min(low + step, most)
        if now[at + low : at + high] != before[was + low : was + high]:
            while high - low > 1:
                middle = (low + high) // 2
                if now[at + low : at + middle] == before[was + low : was + middle]:
                    low = middle
                else:
                    high = middle
            return low
        low, step = high, step * 2
    return low


def _changes_by_name(now: Listed, before: Listed) -> tuple[list[str], list[str]]:
    places = dict(zip(before.names, range(len(before.names)), strict=True))
    found = list(map(places.get, now.names))  # each name's place before, or None
    sizes, mtimes, ctimes = before.sizes, before.mtimes, before.ctimes
    fresh, touched = [], []
    for name, was, size, mtime, ctime in zip(now.names, found, *now[3:], strict=True):
        if was is None:
            fresh.append(name)
        elif sizes[was] != size or mtimes[was] != mtime or ctimes[was] != ctime:
            fresh.append(name)
            touched.append(name)
    removed: list[str] = []
    if len(found) - found.count(None) != len(before.names):
        removed = list(places.keys() - set(now.names))
    return sorted(fresh), sorted(touched + removed)


def encode_scan(scan: Scan) -> tuple:
    """A scan as plain values (strings, bytes, lists), to keep or to hand over."""
    folders = [
        (folder.folder, folder.prefix, "\0".join(folder.names), *map(bytes, folder[3:]))
        for folder in scan.folders
    ]
    return (scan.root, folders)


def decode_scan(value: Any) -> Scan:
    """``encode_scan``'s values as a scan again; ValueError when they are not its shape."""
    root, folders = value
    listed = []
    for folder, prefix, joined, *columns in folders:
        if not all(type(text) is str for text in (root, folder, prefix, joined)):
            raise ValueError("odd scan")
        names = joined.split("\0") if joined else []
        arrays = [array("q", column) for column in columns]
        if len(arrays) != 3 or any(len(column) != len(names) for column in arrays):
            raise ValueError("columns of different lengths")
        listed.append(Listed(folder, prefix, names, *arrays))
    return Scan(root, listed)


def scan(posts_dir: Path, *, processes: int = 1) -> Scan:
    """Every entry Jekyll would consider under ``_posts/``; see ``Scan``.

    Like Jekyll's EntryFilter, names starting with '.', '_' or '#' and backup
    files ending in '~' are not posts. Like Jekyll's glob, subfolders are
    entered but symbolic links to folders are not (so ``ln -s . loop`` cannot
    loop). Everything else that is not a folder is listed, FIFOs and dangling
    links included, for ``read_file`` to turn into one warning each. Of
    everything a warm build does, this is the part that grows with the
    archive, so it stays lean: one stat per entry, two for a symbolic link.
    With ``processes=2`` a large folder is statted by two processes, which
    only a process without threads may ask for, as it forks.
    """
    root = str(posts_dir)
    folders: list[Listed] = []
    pending = [""]
    while pending:
        relative = pending.pop()
        prefix = f"{relative}/" if relative else ""
        try:
            path = f"{root}/{relative}" if relative else root
            listed, subfolders = _list(path, relative == "", processes)
        except OSError:
            if not relative:
                raise
            # listed as an entry, so that reading it says why (e.g. permission denied)
            parent, _, name = relative.rpartition("/")
            zero = array("q", [0])
            above = f"{parent}/" if parent else ""
            folders.append(Listed(relative, above, [name], zero, zero, zero))
            continue
        pending.extend(reversed([f"{prefix}{name}" for name in sorted(subfolders)]))
        folders.append(Listed(relative, prefix, *listed))
    return Scan(root, folders)


_MODE, _SIZE = attrgetter("st_mode"), attrgetter("st_size")
_MTIME, _CTIME = attrgetter("st_mtime_ns"), attrgetter("st_ctime_ns")
_CHUNK = 4096  # stats held at once: the columns keep three numbers of each, not 20
SPLIT_AT = 8192  # names in one folder from which ``processes=2`` stats them in two


def _list(
    folder: str, is_root: bool, processes: int
) -> tuple[tuple[list[str], array, array, array], list[str]]:
    """The candidate names in one folder as it lists them with their size, mtime and ctime
    (a link's target's, when it has one), and the names of its subfolders."""
    flags = os.O_RDONLY | os.O_DIRECTORY | (0 if is_root else os.O_NOFOLLOW)
    handle = os.open(folder, flags)
    try:
        found = [n for n in os.listdir(handle) if n[0] not in "._#" and n[-1] != "~"]
        if processes > 1 and len(found) >= SPLIT_AT:
            return _stat_in_two(found, handle)
        return _stat_all(found, handle)
    finally:
        os.close(handle)


def _stat_all(
    found: list[str], handle: int
) -> tuple[tuple[list[str], array, array, array], list[str]]:
    names: list[str] = []
    sizes, mtimes, ctimes = array("q"), array("q"), array("q")
    subfolders: list[str] = []
    for start in range(0, len(found), _CHUNK):
        chunk, stats = _stats(found[start : start + _CHUNK], handle)
        modes = list(map(_MODE, stats))
        if any(map(stat.S_ISLNK, modes)):
            stats = [_through_link(n, st, handle) for n, st in zip(chunk, stats, strict=True)]
            modes = list(map(_MODE, stats))
        if any(map(stat.S_ISDIR, modes)):
            is_folder = list(map(stat.S_ISDIR, modes))
            subfolders += [n for n, d in zip(chunk, is_folder, strict=True) if d]
            chunk = [n for n, d in zip(chunk, is_folder, strict=True) if not d]
            stats = [st for st, d in zip(stats, is_folder, strict=True) if not d]
        names += chunk
        sizes.extend(map(_SIZE, stats))
        mtimes.extend(map(_MTIME, stats))
        ctimes.extend(map(_CTIME, stats))
    return (names, sizes, mtimes, ctimes), subfolders


def _stat_in_two(
    found: list[str], handle: int
) -> tuple[tuple[list[str], array, array, array], list[str]]:
    """``_stat_all`` with the second half of the names statted by a forked child.

    The stat calls of a large folder are most of a build with nothing new, and
    they run as well on two cores as on one. The child's half comes back as
    plain values; if it does not come back whole, that half is statted here.
    """
    half = len(found) // 2

    def second_half() -> None:
        (names, *columns), subfolders = _stat_all(found[half:], handle)
        send(writer, (names, *map(bytes, columns), subfolders))

    try:
        reader, writer = os.pipe()
        pid = fork_child(reader, writer, second_half)
    except OSError:  # out of processes or descriptors
        return _stat_all(found, handle)
    try:
        (names, sizes, mtimes, ctimes), subfolders = _stat_all(found[:half], handle)
        theirs = receive(reader)
    finally:
        os.close(reader)
        os.waitpid(pid, 0)
    if theirs is None:
        (more, *columns), deeper = _stat_all(found[half:], handle)
    else:
        more, *raw, deeper = theirs
        columns = [array("q", column) for column in raw]
    names += more
    for mine, other in zip((sizes, mtimes, ctimes), columns, strict=True):
        mine.extend(other)
    return (names, sizes, mtimes, ctimes), subfolders + deeper


def _through_link(name: str, status: os.stat_result, handle: int) -> os.stat_result:
    """A symbolic link's target's stat; the link's own for a folder (listed, never entered)
    or when the target is missing or a loop (``read_file`` says so)."""
    if not stat.S_ISLNK(status.st_mode):
        return status
    try:
        target = os.stat(name, dir_fd=handle)
    except OSError:
        return status
    return status if stat.S_ISDIR(target.st_mode) else target


def _stats(names: list[str], handle: int) -> tuple[list[str], list[os.stat_result]]:
    """Each name's own stat; a name gone since the listing is left out."""
    try:
        return names, [os.stat(name, dir_fd=handle, follow_symlinks=False) for name in names]
    except OSError:  # something vanished since the listing: take what is still there
        pairs = [(name, _lstat(name, handle)) for name in names]
        return [n for n, st in pairs if st is not None], [st for _, st in pairs if st is not None]


def _lstat(name: str, handle: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=handle, follow_symlinks=False)
    except OSError:
        return None


def post_files(posts_dir: Path) -> list[Path]:
    return [Path(path) for path in scan(posts_dir).stamps()]
