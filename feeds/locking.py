"""Process locks in the state directory, shared by builds, the digest and the scheduler."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from feeds.errors import LockedError


@contextmanager
def exclusive_lock(state_dir: Path, name: str, what: str, *, wait: bool = False) -> Iterator[None]:
    """Hold ``state_dir/name`` exclusively; fail at once if it is taken, or ``wait`` for it.

    An flock dies with its process, so a kill -9 never leaves a stale lock.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / name
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise LockedError(f"another {what} is running (lock held on {path})") from None
        os.ftruncate(handle, 0)
        os.write(handle, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(handle)
