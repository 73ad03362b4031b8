"""The post files scanned on the other core while the settings load.

A build with nothing new spends about as long starting Python and checking its
settings as it does taking one stat of every post file, and neither needs
the other until the scan is compared with the last build's. So ``feeds
build`` forks before it loads its settings, and the child scans the posts
folder that the command line and config.yaml name, as far as it can tell
without the settings.

The child's scan is only ever used as the scan the build would have taken
itself: the build takes it after the settings loaded and the build lock is
held, and only when the child scanned the very folder the settings name and
no other build saved its state or published since the child began (the child
stats the feed index and the state folder before it scans, the build stats
them again under the lock). A scan
taken a moment early is then the same as one taken under the lock at that
moment: a file changed since has a newer stamp, which the next build sees.
Anything else (a guess that missed, a child that failed, a process with
threads, which must not fork) and the build scans as it always did.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from pathlib import Path

from feeds.safefile import read_named_text
from feeds.site.handoff import fork_child, may_fork, receive, send
from feeds.site.scan import Scan, decode_scan, encode_scan, scan

log = logging.getLogger(__name__)

DEFAULT_CONFIG = Path("config.yaml")  # as feeds.config.load reads it
MAX_CONFIG_BYTES = 1_000_000  # larger, and the build scans for itself
FEED_INDEX = Path("cache") / "feeds.msgpack"  # under state_dir; saved last by every build

Stamp = tuple[int, ...] | None  # (device, inode, size, mtime_ns, ctime_ns); None: missing
Identity = tuple[Stamp, Stamp]  # the feed index's, and the state folder's


class Prescan:
    """A child scanning the posts folder; ``take`` its scan, ``close`` it in any case."""

    def __init__(self, pid: int, reader: int):
        self.pid = pid
        self.reader = reader

    @classmethod
    def start(cls, config_path: Path | None, site_dir: Path | None) -> Prescan | None:
        """Fork a child that scans the posts folder these options most likely name."""
        if not may_fork():
            return None
        try:
            reader, writer = os.pipe()
            pid = fork_child(
                reader, writer, lambda: _scan_for_parent(writer, config_path, site_dir)
            )
        except OSError:  # out of processes or descriptors: the build scans for itself
            return None
        return cls(pid, reader)

    def take(self, posts_dir: Path, state_dir: Path) -> Scan | None:
        """The child's scan if it is the one a build holding the lock would take now."""
        try:
            header = receive(self.reader)
            if header is None:
                return None
            folder, state, identity = header
            if folder != str(posts_dir) or state != str(state_dir):
                log.debug("scanned %s early, but the settings name %s", folder, posts_dir)
                return None
            if identity != _identity(state_dir):
                log.debug("scanned %s early, but another build saved since", folder)
                return None
            body = receive(self.reader)
            scanned = None if body is None else decode_scan(body)
        except ValueError:
            return None
        finally:
            self.close()
        if scanned is not None:
            log.debug("took the scan of %s made while the settings loaded", folder)
        return scanned

    def close(self) -> None:
        """Stop the child if it still runs, and reap it."""
        if self.reader < 0:
            return
        reader, self.reader = self.reader, -1  # first: a signal may interrupt this and call again
        os.close(reader)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)


def guess_folders(config_path: Path | None, site_dir: Path | None) -> tuple[Path, Path] | None:
    """The site and state folders, read as ``feeds.config.load`` reads them but without
    checking the settings; None when config.yaml cannot be read here."""
    path: Path | None = config_path or DEFAULT_CONFIG
    if path.is_file():
        from feeds import yamlsafe  # here, so that the child forks before importing PyYAML

        try:
            text = read_named_text(path, MAX_CONFIG_BYTES, "prescan")
            data = yamlsafe.load(text, fast=False, bad_dates_as_text=False) or {}
        except Exception:  # whatever it is, loading the settings says it better
            return None
    elif config_path is not None:
        return None
    else:
        data, path = {}, None
    if not isinstance(data, dict):
        return None
    base = path.parent if path else Path(".")
    site, state = data.get("site_dir"), data.get("state_dir")
    if not all(value is None or isinstance(value, str) for value in (site, state)):
        return None
    return site_dir or base / (site or "."), base / state if state else base / ".feeds"


def _scan_for_parent(writer: int, config_path: Path | None, site_dir: Path | None) -> None:
    folders = guess_folders(config_path, site_dir)
    if folders is None:
        return
    site, state = folders
    posts_dir = site / "_posts"
    send(writer, (str(posts_dir), str(state), _identity(state)))
    scanned = scan(posts_dir, processes=2)
    send(writer, encode_scan(scanned))


def _identity(state_dir: Path) -> Identity:
    """The feed index's stamp, and the state folder's.

    A build saves the feed index last. One stopped before that (killed, or
    failing to write its caches) may have replaced feed files all the same,
    and then it made and removed its "writing" marker in the state folder,
    which changed the folder's stamp: an early scan compared with that
    build's older index would take its new posts out of the feeds again.
    """
    return (_stamp(state_dir / FEED_INDEX), _stamp(state_dir))


def _stamp(path: Path) -> Stamp:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)
