"""Build as soon as post files settle, so a new post reaches its feeds in seconds.

`feeds schedule` sweeps on an interval; on a news site that leaves a post up
to `build_every` old before any reader can see it. This watcher (inotify on
Linux, through watchfiles) starts a build once `_posts/` has been quiet for
`schedule.watch_settle`, so a batch of 50 files gives one build, not 50.

Deployments replace `_posts/` whole (`git pull` renames files into place;
`rsync --delay-updates` or a swap of folders renames the folder itself). An
inotify watch follows the old folder's inode, so the watcher checks which
folder `_posts` names on every quiet tick and starts again on the new one.
The interval sweep stays as the safety net for anything a watch can miss.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import watchfiles

log = logging.getLogger("feeds.watch")

#: How often, at most, the watcher looks whether `_posts` is still the same folder.
RECHECK_MS = 1000


def folder_identity(path: Path) -> tuple[int, int] | None:
    """Device and inode of a folder, or None when there is no folder there now."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino)


def watch_posts(
    posts_dir: Path,
    on_change: Callable[[int], None],
    stop: threading.Event,
    settle: timedelta,
    ready: threading.Event | None = None,
) -> None:
    """Call `on_change(number of changes)` after each settled batch of changes, until `stop`.

    Starting to watch a folder counts as a change: at start-up (posts may
    have come while the service was down), and when `_posts` appears or is
    replaced by another folder. It is reported only once the folder is
    watched, so nothing written in between is missed. `ready` is set once
    the first watch is in place (or `_posts` is found missing).
    """
    settle_ms = max(1, int(settle.total_seconds() * 1000))
    ready = ready or threading.Event()
    watched = None
    try:
        while not stop.is_set():
            identity = folder_identity(posts_dir)
            if identity is None:
                ready.set()
                stop.wait(RECHECK_MS / 1000)
                continue
            new_folder = identity != watched
            watched = identity
            _watch_until_replaced(
                posts_dir, identity, on_change, stop, settle_ms, ready, new_folder
            )
    finally:
        ready.set()


def _watch_until_replaced(
    posts_dir: Path,
    identity: tuple[int, int],
    on_change: Callable[[int], None],
    stop: threading.Event,
    settle_ms: int,
    ready: threading.Event,
    new_folder: bool,
) -> None:
    """Watch one folder until `_posts` names another (or none) or `stop` is set."""
    batches = watchfiles.watch(
        posts_dir,
        watch_filter=None,
        step=settle_ms,
        debounce=max(settle_ms * 10, 10_000),
        stop_event=stop,
        rust_timeout=RECHECK_MS,
        yield_on_timeout=True,
        raise_interrupt=False,
    )
    for changes in batches:
        ready.set()
        if stop.is_set():
            return
        if new_folder:
            log.info("watch: watching %s; building", posts_dir)
            on_change(1)
            new_folder = False
        if changes:
            log.info("watch: %d changes in %s; building", len(changes), posts_dir)
            on_change(len(changes))
        if folder_identity(posts_dir) != identity:
            return


def start_watcher(
    posts_dir: Path,
    on_change: Callable[[int], None],
    stop: threading.Event,
    settle: timedelta,
) -> threading.Thread:
    """Run `watch_posts` in a thread; return once its watch is in place (a second at most)."""
    ready = threading.Event()
    thread = threading.Thread(
        target=watch_posts,
        args=(posts_dir, on_change, stop, settle, ready),
        name="feeds-watch",
        daemon=True,
    )
    thread.start()
    ready.wait(timeout=10 * RECHECK_MS / 1000)
    return thread
