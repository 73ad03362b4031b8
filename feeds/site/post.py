"""The value object that flows through every stage of the pipeline."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@lru_cache(maxsize=64)
def fixed_zone(offset_seconds: int) -> timezone:
    return timezone(timedelta(seconds=offset_seconds))


def timestamp_us(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (a float timestamp would round)."""
    return (moment - EPOCH) // _MICROSECOND


class Post(NamedTuple):
    """One published post, as Jekyll would publish it. Immutable.

    A named tuple, not a class with a datetime inside: the real archive has
    100,000 posts, and a warm build rebuilds them all from the cache in a
    fraction of a second only if a post is a plain tuple. The body is not held
    either, so memory does not grow with posts that never reach a feed;
    ``collect.read_body`` fetches it for the few that are rendered.
    """

    source: str  # the file, as a path the user recognises
    slug: str
    title: str
    timestamp_us: int  # the publication instant, in microseconds since the epoch
    utc_offset: int  # seconds east of UTC: the post's own offset, kept for display
    categories: tuple[str, ...]
    tags: tuple[str, ...]
    url: str  # absolute permalink; also the entry's id, forever
    author: str | None
    is_markdown: bool
    front_hash: str = ""  # of the front matter it was made from; see collect.read_body

    @property
    def path(self) -> Path:
        return Path(self.source)

    @property
    def date(self) -> datetime:
        """Timezone-aware, in the post's own offset."""
        moment = EPOCH + timedelta(microseconds=self.timestamp_us)
        return moment.astimezone(fixed_zone(self.utc_offset))

    @property
    def sort_key(self) -> tuple[int, str]:
        """Newest first with a stable tie-break, so equal dates never reorder between builds."""
        return (self.timestamp_us, self.url)


class PostProblem(NamedTuple):
    """A post that was skipped or used with a warning: ``source: reason``."""

    source: str
    reason: str
    skipped: bool

    def __str__(self) -> str:
        return one_line(f"{self.source}: {self.reason}")


_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def one_line(text: str) -> str:
    """``text`` with control characters escaped (``\\n``, ``\\x01``), so that a file
    name holding a newline cannot split a warning into two lines or fake a second one."""
    if text.isprintable():
        return text
    return "".join(
        char.encode("unicode_escape").decode("ascii")
        if unicodedata.category(char) in _UNPRINTABLE
        else char
        for char in text
    )
