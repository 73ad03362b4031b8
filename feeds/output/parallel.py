"""Spread CPU-bound work over the machine's cores, for large batches only.

Reading 100,000 front matters or rendering 20,000 posts is pure Python work
that one core does at a time; worker processes do it side by side. They come
from a forkserver (safe beside the scheduler's threads, unlike a plain fork),
and only batches big enough to repay their start-up use them.
"""

from __future__ import annotations

import os
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
            context.set_forkserver_preload(["feeds.site.collect", "feeds.site.render"])
            pool.append(ProcessPoolExecutor(max_workers=wanted, mp_context=context))
        return pool[0]

    try:
        yield get
    finally:
        for executor in pool:
            executor.shutdown()


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
