"""What the rest of feeds is given: the site and the settings, resolved and frozen.

Plain values with no reading or checking left to do; ``load`` makes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from feeds.config.schema import ConfigFile, DigestOptions, FeedOptions, Subscriber, WebOptions
from feeds.config.values import parse_mailbox

if TYPE_CHECKING:
    from email.headerregistry import Address


class Window(NamedTuple):
    """What one feed holds: every post of ``span`` back from its newest, within the bounds."""

    limit: int  # at least this many entries, however old
    span: timedelta
    max_entries: int
    max_bytes: int  # no file of the feed grows past this


@dataclass(frozen=True)
class Site:
    """The site as feeds see it: _config.yml with config.yaml's overrides applied."""

    url: str
    baseurl: str
    title: str
    language: str | None
    timezone: ZoneInfo
    author: str | None
    permalink: str
    description: str | None
    max_post_bytes: int = 10_000_000  # a post file larger than this is skipped unread
    # what _config.yml says that Jekyll takes and feeds warns of; never part of a cache key
    warnings: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def root(self) -> str:
        """The site's home page, e.g. https://finews.withounder.com/."""
        return f"{self.url}{self.baseurl}/"

    def absolute(self, path: str) -> str:
        """An absolute URL for a site path such as /emnews/2021/12/08/x.html."""
        return f"{self.url}{self.baseurl}{path}"


@dataclass(frozen=True)
class Settings:
    """Everything a command needs, resolved and checked."""

    config_path: Path | None
    site_dir: Path
    output: Path
    state_dir: Path
    site: Site
    feeds: FeedOptions
    raw: ConfigFile
    subscribers: list[Subscriber] = field(default_factory=list)
    templates_dir: Path | None = None
    bounces_maildir: Path | None = None

    def category_page(self, name: str) -> str | None:
        """The site's HTML page for a category, when config names the pattern."""
        page = self.feeds.category_page
        if not page:
            return None
        return self.site.absolute("/" + page.lstrip("/").replace("{name}", quote(name)))

    def display_name(self, category: str) -> str:
        configured = self.feeds.categories.get(category)
        return configured.title if configured and configured.title else category

    def window(self, category: str | None = None) -> Window:
        """A feed's window: the category's overrides over the ``feeds`` defaults."""
        feeds = self.feeds
        own = feeds.categories.get(category) if category is not None else None

        def pick(key: str):
            value = getattr(own, key) if own is not None else None
            return getattr(feeds, key) if value is None else value

        return Window(pick("limit"), pick("window"), pick("max_entries"), pick("max_bytes"))

    @property
    def digest(self) -> DigestOptions:
        return self.raw.digest

    @property
    def web(self) -> WebOptions | None:
        return self.raw.web

    @property
    def sender(self) -> Address:
        """The From address; by default digest@ the site's host."""
        if self.digest.from_address:
            return parse_mailbox(self.digest.from_address)
        from email.headerregistry import Address

        host = urlsplit(self.site.url).hostname or "localhost"
        return Address(display_name=self.site.title, username="digest", domain=host)

    @property
    def posts_dir(self) -> Path:
        return self.site_dir / "_posts"

    @property
    def feeds_url(self) -> str:
        """Where the output folder is served; feeds' self links start here."""
        return self.feeds.url or f"{self.site.url}{self.site.baseurl}/feeds"
