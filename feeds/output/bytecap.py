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
from itertools import accumulate
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
    """Each format's bytes, cut to fit; the cut, or None when everything fit as it was.

    A busy window makes a large feed, so the cut is not searched by making the
    documents again and again: a model of what each entry and its content
    weigh in each format (measured on the documents with all content and with
    none) chooses it, and a cut that still does not fit is tightened by what
    it missed. Three or four documents per format instead of twenty.
    """
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

    whole = documents(total, 0)
    if not max_bytes or max(len(data) for data in whole.values()) <= max_bytes:
        return whole, None
    model = Model(spec, rendered, whole, documents(total, total), documents(0, 0))
    excess = {kind: len(data) - max_bytes for kind, data in whole.items()}
    while True:
        cut = model.cut(excess)
        made = documents(*cut)
        over = {kind: len(data) - max_bytes for kind, data in made.items()}
        if max(over.values()) <= 0 or cut == (0, 0):
            return made, cut
        for kind, missed in over.items():
            excess[kind] += max(missed, 0) + 64


class Model:
    """What leaving out an entry, or only its content, saves in each format, from measurements.

    Each entry's raw sizes (its HTML; its title, URL and summary) are scaled
    by what the formats were seen to spend on them: the markup around an entry
    and the escaping of its content.
    """

    def __init__(self, spec, rendered, whole, lean, empty):
        entries = spec.entries
        self.total = len(entries)
        content = [len(rendered[post.url].html.encode()) for post in entries]
        rest = [
            len(rendered[post.url].summary.encode()) + len(post.title.encode()) + 2 * len(post.url)
            for post in entries
        ]
        self.content_before = list(accumulate(content, initial=0))
        self.content_after = list(accumulate(reversed(content), initial=0))[::-1]
        self.rest_after = list(accumulate(reversed(rest), initial=0))[::-1]
        all_content, all_rest = self.content_before[-1], self.rest_after[0]
        self.scale = {
            kind: (len(whole[kind]) - len(lean[kind])) / all_content if all_content else 1.0
            for kind in whole
        }
        self.markup = {
            kind: (len(lean[kind]) - len(empty[kind]) - all_rest) / self.total for kind in whole
        }

    def saved(self, kind: str, kept: int, lean: int) -> float:
        dropped = self.total - kept
        content_kept_lean = self.content_before[kept] - self.content_before[kept - lean]
        return (
            self.rest_after[kept]
            + dropped * self.markup[kind]
            + self.scale[kind] * (self.content_after[kept] + content_kept_lean)
        )

    def cut(self, excess: dict[str, int]) -> Cut:
        """The fewest entries dropped, then the fewest made lean, that save ``excess``."""

        def enough(kept: int, lean: int) -> bool:
            return all(self.saved(kind, kept, lean) >= need for kind, need in excess.items())

        kept = last_true(lambda k: enough(k, k), 0, self.total)
        return Cut(kept, first_true(lambda n: enough(kept, n), 0, kept))


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
