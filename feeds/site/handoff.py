"""Plain values handed from a forked child to its parent through a pipe.

marshal, not pickle: both ends are the same program at the same version,
the values are lists, strings, numbers and bytes, and marshal writes and
reads 100,000 names in a few milliseconds.
"""

from __future__ import annotations

import marshal
import os
import signal
import threading
from collections.abc import Callable

_LENGTH = 8  # bytes of the little-endian length before each value
_PR_SET_PDEATHSIG = 1  # prctl(2)
_HELD = {signal.SIGINT, signal.SIGTERM}


def may_fork() -> bool:
    """Whether this process may fork a child that runs Python: not with other threads,
    one of which may hold a lock (the import lock, a logging handler's) the child needs."""
    return threading.active_count() == 1


def fork_child(reader: int, writer: int, work: Callable[[], None]) -> int:
    """Fork a child that runs ``work`` (which sends into ``writer``) and ends; its pid.

    The child leaves by ``os._exit`` whatever happens, so it never runs on
    into the parent's code nor flushes the parent's buffered output; it dies
    with its parent, and on SIGINT or SIGTERM. Both signals are held over the
    fork, so that none lands in the child before it stands in its ``try``.
    If the fork fails, both ends of the pipe are closed before the error goes on.
    """
    parent = os.getpid()
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        pid = os.fork()
    except OSError:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        os.close(reader)
        os.close(writer)
        raise
    if pid == 0:  # pragma: no cover - the child; what it sends is checked by the callers
        try:
            end_with_parent(parent)
            os.close(reader)
            for number in _HELD:
                signal.signal(number, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
            work()
        finally:
            os._exit(0)
    signal.pthread_sigmask(signal.SIG_SETMASK, held)
    os.close(writer)
    return pid


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
