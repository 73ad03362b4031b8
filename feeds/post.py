"""The value object that flows through every stage of the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Post:
    """One published post, as Jekyll would publish it.

    The body is deliberately not held here: at the real site's scale most
    posts never reach a feed, and keeping every body in memory would make
    memory grow with the archive. ``collect.read_body`` fetches it for the
    few posts that are rendered.
    """

    path: Path  # the source file
    source: str  # the path as shown to the user, relative to the site's parent folder
    slug: str
    title: str
    date: datetime  # timezone-aware, in the post's own offset
    categories: tuple[str, ...]
    tags: tuple[str, ...]
    url: str  # absolute permalink; also the entry's id, forever
    author: str | None
    is_markdown: bool

    @property
    def sort_key(self) -> tuple[datetime, str]:
        """Newest first with a stable tie-break, so equal dates never reorder between builds."""
        return (self.date, self.url)


@dataclass(frozen=True, slots=True)
class PostProblem:
    """A post that was skipped or used with a warning: ``source: reason``."""

    source: str
    reason: str
    skipped: bool

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"
