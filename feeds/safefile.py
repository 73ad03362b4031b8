"""Reading a file anyone with access to a folder may have put there: a regular file, capped.

Posts (``feeds.site.collect``) and the subscribers file (``feeds.config``) are
both read here, so neither can hang a run on a FIFO, stream /dev/zero into
memory or load a huge sparse file before refusing it.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_NOFOLLOW | os.O_CLOEXEC
_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


class Unreadable(Exception):
    """Why a file was not read, in words that fit one line after its name."""


def read_regular(target: Path, max_bytes: int, limit: str) -> bytes:
    """The bytes of the regular file ``target`` (a link already resolved), at most ``max_bytes``.

    Never blocks and never reads more than the cap: a FIFO, a device or a huge
    file is refused by what ``fstat`` says of the very file that was opened
    (non-blocking, so opening a FIFO returns at once), not by a check of the
    name that a rename could outdate. ``limit`` names the cap in the message.
    """
    try:
        handle = os.open(target, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a link put there since
            raise Unreadable("a symbolic link that changed while it was read") from None
        raise Unreadable(f"cannot read the file ({exc.strerror})") from None
    return _read_opened(handle, max_bytes, limit)


def read_named_text(path: Path, max_bytes: int, limit: str) -> str:
    """A file the operator named, as text, read as ``read_regular`` reads: never blocking on a
    FIFO, never past the cap. A symbolic link is followed anywhere (the file is the
    operator's, never published); a BOM, as Excel writes one, is dropped."""
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):  # missing, a dangling link or a loop
        raise Unreadable("file not found") from None
    data = read_regular(target, max_bytes, limit)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"cannot read: {exc}") from None


def read_unless_link(path: Path, max_bytes: int, limit: str) -> bytes | None:
    """``read_regular(path)`` when ``path`` opens as it stands; None when it does not.

    Opening with O_NOFOLLOW fails on a symbolic link, so a caller that follows
    links its own way can try this first and only ask whether ``path`` is a
    link (one more system call) when it returns None: for a link, and for a
    file that will not open at all, which the careful way then explains.
    """
    try:
        handle = os.open(path, _OPEN_FLAGS)
    except (OSError, ValueError):
        return None
    return _read_opened(handle, max_bytes, limit)


def _read_opened(handle: int, max_bytes: int, limit: str) -> bytes:
    """The rest of ``read_regular``, for a handle it owns and closes."""
    try:
        status = os.fstat(handle)
        if not stat.S_ISREG(status.st_mode):
            kind = _KINDS.get(stat.S_IFMT(status.st_mode), "not a regular file")
            raise Unreadable(f"{kind}, not a regular file")
        if status.st_size > max_bytes:
            raise Unreadable(_too_big(status.st_size, max_bytes, limit))
        chunks, size = [], 0
        # Ask for what fstat promised plus one byte, not for the cap: os.read
        # allocates the whole request, and 10 MB per post cost 0.6 ms each.
        want = status.st_size + 1
        while chunk := os.read(handle, min(want, max_bytes + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:  # it grew since fstat
                raise Unreadable(_too_big(size, max_bytes, limit))
    finally:
        os.close(handle)
    return b"".join(chunks)


def _too_big(size: int, max_bytes: int, limit: str) -> str:
    return f"{size:,} bytes, more than {limit} ({max_bytes:,}); not read"
