"""Spread CPU-bound work over the machine's cores, for large batches only.

Reading 100,000 front matters or rendering 20,000 posts is pure Python work
that one core does at a time; worker processes do it side by side. They come
from a forkserver (safe beside the scheduler's threads, unlike a plain fork),
and only batches big enough to repay their start-up use them.

None of them outlives the build, however it ends: a build that stops shuts the
pool down, and a killed one (SIGKILL, or SIGTERM with the default handler)
cannot, so each worker watches the build itself (see ``follow_the_build``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Executor

T = TypeVar("T")
R = TypeVar("R")

MIN_ITEMS = 4000  # posts to read: below this, starting workers costs more than it saves


def worker_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextmanager
def workers(count: int | None = None):
    """A lazily started process pool; nothing starts unless a big batch asks for it."""
    pool: list[Executor] = []

    def get() -> Executor | None:
        wanted = count if count is not None else worker_count()
        if wanted < 2:
            return None
        if not pool:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(
                ["feeds.output.forkserver", "feeds.site.collect", "feeds.site.render"]
            )
            executor = ProcessPoolExecutor(
                max_workers=wanted, mp_context=context, initializer=follow_the_build
            )
            pool.append(executor)
        return pool[0]

    try:
        yield get
    finally:
        for executor in pool:  # after an error or a signal, only batches handed out still run
            executor.shutdown(cancel_futures=True)


def follow_the_build() -> None:
    """Worker initializer: a worker lives exactly as long as the build that started it.

    Stopping is the build's business. SIGTERM or Ctrl-C often reach the whole
    process group (``timeout``, systemd, a terminal); a worker dying of it
    would break the pool under the build while it stops cleanly, so workers
    ignore both (as the forkserver ignores SIGTERM, see ``feeds.output.forkserver``)
    and are ended by the build's pool shutdown instead.

    A killed build cannot shut anything down, and nothing else ended the
    workers: each waits on a task queue whose write end it holds itself, so it
    never sees end-of-file, and the forkserver exits only once every holder of
    its "alive" pipe, the build and each worker, has closed it. So each worker
    watches the build. Its parent is the forkserver, not the build, so neither
    its parent pid nor PR_SET_PDEATHSIG would tell; but multiprocessing keeps,
    in the build, one end of a pipe per worker open for the worker's whole
    life (the parent sentinel), and the kernel closes it when the build dies,
    whatever killed it. Once the workers are gone, the forkserver and the
    resource tracker see end-of-file and exit on their own.
    """
    import multiprocessing.connection
    import signal

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)
    build = multiprocessing.parent_process()
    if build is None:  # not started by multiprocessing
        return

    def watch() -> None:
        multiprocessing.connection.wait([build.sentinel])
        os._exit(1)  # the build is gone: nobody wants this worker's results

    threading.Thread(target=watch, name="follow-the-build", daemon=True).start()


def map_batches(
    function: Callable[[Sequence[T]], list[R]],
    items: Sequence[T],
    pool: Callable[[], Executor | None] | None,
    batch: int = 1000,
    min_items: int = MIN_ITEMS,
    on_batch: Callable[[int], None] | None = None,
) -> list[R]:
    """``function`` over ``items`` in batches, in order; in parallel when there are enough.

    ``on_batch`` hears how many items each finished batch held (for a progress bar).
    """
    executor = pool() if pool is not None and len(items) >= min_items else None
    chunks = [items[start : start + batch] for start in range(0, len(items), batch)]
    parts = executor.map(function, chunks) if executor is not None else map(function, chunks)
    results: list[R] = []
    for chunk, part in zip(chunks, parts, strict=True):
        results.extend(part)
        if on_batch is not None:
            on_batch(len(chunk))
    return results
