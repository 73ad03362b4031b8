"""Plain values handed from a forked child to its parent through a pipe.

marshal, not pickle: both ends are the same program at the same version,
the values are lists, strings, numbers and bytes, and marshal writes and
reads 100,000 names in a few milliseconds.
"""

from __future__ import annotations

import marshal
import os
import signal

_LENGTH = 8  # bytes of the little-endian length before each value
_PR_SET_PDEATHSIG = 1  # prctl(2)


def fork_or_close(reader: int, writer: int) -> int:
    """``os.fork()``; if it fails, the pipe's two ends are closed before the error goes on."""
    try:
        return os.fork()
    except OSError:
        os.close(reader)
        os.close(writer)
        raise


def end_with_parent(parent: int) -> None:
    """In a forked child: be killed as soon as ``parent`` ends, however it ends (Linux).

    Neither a build killed outright (or by a SIGTERM before it handles one)
    nor a child SIGKILLed by its build can stop the processes they forked:
    these would scan on, the build's stdout and stderr open, until they next
    wrote to a pipe nobody reads. Elsewhere a child ends only then.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGKILL))
    except (OSError, AttributeError):  # no prctl here
        return
    if os.getppid() != parent:  # it ended before the line above
        os._exit(0)


def send(writer: int, value: object) -> None:
    data = marshal.dumps(value)
    view = memoryview(len(data).to_bytes(_LENGTH, "little") + data)
    while view:
        view = view[os.write(writer, view) :]


def receive(reader: int) -> object | None:
    """The next value, or None when the child ended (or failed) before sending it whole."""
    size = _read_exactly(reader, _LENGTH)
    if size is None:
        return None
    data = _read_exactly(reader, int.from_bytes(size, "little"))
    try:
        return None if data is None else marshal.loads(data)
    except (EOFError, ValueError, TypeError):
        return None


def _read_exactly(reader: int, size: int) -> bytes | None:
    parts, left = [], size
    while left:
        part = os.read(reader, min(left, 1 << 20))
        if not part:
            return None
        parts.append(part)
        left -= len(part)
    return b"".join(parts)
