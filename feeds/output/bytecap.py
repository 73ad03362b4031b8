"""Keep every file of a feed under ``max_bytes``: first the oldest entries lose their content.

Readers and proxies give up on huge feeds (many stop at 1 MiB), and a busy
window of full posts gets there. The entries are kept as long as possible,
summaries only for the oldest; only when even that does not fit do the
oldest entries drop. All formats of a feed get the same cut, so its Atom, RSS
and JSON documents hold the same entries. The cut depends only on the entries
and their rendering, never on earlier builds, so warm builds equal cold ones.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, NamedTuple

from feeds.output.feedwriter import FeedSpec

if TYPE_CHECKING:
    from feeds.site.render import Rendered

Make = Callable[..., bytes]  # (spec, kind, rendered=...) -> the bytes of one document


class Cut(NamedTuple):
    """What the cap took: entries kept (newest first) and how many of their oldest are lean."""

    kept: int
    lean: int


def fit(
    spec: FeedSpec,
    kinds: Sequence[str],
    make: Make,
    rendered: Mapping[str, Rendered],
) -> tuple[dict[str, bytes], Cut | None]:
    """Each format's bytes, cut to fit; the cut, or None when everything fit as it was."""
    total, max_bytes = len(spec.entries), spec.max_bytes

    def documents(kept: int, lean: int) -> dict[str, bytes]:
        from feeds.site.render import Rendered

        entries = spec.entries[:kept]
        summaries = {
            post.url: Rendered("", rendered[post.url].summary) for post in entries[kept - lean :]
        }
        view = ChainMap(summaries, rendered) if lean else rendered
        part = replace(spec, entries=entries)
        return {kind: make(part, kind, rendered=view) for kind in kinds}

    def fits(kept: int, lean: int) -> bool:
        return max(len(data) for data in documents(kept, lean).values()) <= max_bytes

    whole = documents(total, 0)
    if not max_bytes or max(len(data) for data in whole.values()) <= max_bytes:
        return whole, None
    kept = last_true(lambda k: fits(k, k), 0, total)  # as many entries as fit, all lean
    lean = first_true(lambda n: fits(kept, n), 0, kept)  # then as few lean ones as possible
    return documents(kept, lean), Cut(kept, lean)


def last_true(test: Callable[[int], bool], low: int, high: int) -> int:
    """The largest n in [low, high] with test(n), for a test true up to some point; low if none."""
    while low < high:
        middle = (low + high + 1) // 2
        if test(middle):
            low = middle
        else:
            high = middle - 1
    return low


def first_true(test: Callable[[int], bool], low: int, high: int) -> int:
    """The smallest n in [low, high] with test(n), for a test true from some point on."""
    while low < high:
        middle = (low + high) // 2
        if test(middle):
            high = middle
        else:
            low = middle + 1
    return low


def describe(cut: Cut, total: int, max_bytes: int) -> str:
    """The warning: which part of the feed the cap took."""
    parts = []
    if cut.lean:
        parts.append(f"the {cut.lean} oldest of {cut.kept} entries without full content")
    if cut.kept < total:
        parts.append(f"{total - cut.kept} oldest dropped")
    return f"over feeds.max_bytes ({max_bytes} bytes): " + ", ".join(parts)
