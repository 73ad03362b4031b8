"""HTML pages for people: the list of every feed (``index.html``) and one page per feed folder.

Someone who clicks a feed link sees XML, and browsers no longer style it
(Chrome drops XSLT in 2026), so each feed folder gets a page that says what
the feed is, gives its URLs to copy and shows its latest entries. The pages
come from Jinja2 templates a site owner can override (``templates/pages/``),
autoescaped, with titles and summaries that are already plain text, and
load nothing from other hosts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import jinja2

from feeds.errors import TemplateError
from feeds.output.feedwriter import FeedSpec, feed_url
from feeds.output.opml import FILE_NAME as OPML_FILE
from feeds.templating import environment

if TYPE_CHECKING:
    from feeds.config import Settings
    from feeds.site.render import Rendered

PAGE = "index.html"
TEMPLATES = ("pages/index.html", "pages/category.html")
LABELS = {"atom": "Atom", "rss": "RSS", "json": "JSON Feed"}
MEDIA_TYPES = {
    "atom": "application/atom+xml",
    "rss": "application/rss+xml",
    "json": "application/feed+json",
}


class FeedLink(NamedTuple):
    label: str
    url: str
    media_type: str
    title: str


class Entry(NamedTuple):
    title: str
    url: str
    datetime: str  # RFC 3339, for <time datetime>
    when: str  # as people read it, in the site's timezone
    summary: str


class Category(NamedTuple):
    name: str
    slug: str
    page: str  # the feed folder's page, relative to the index
    count: int
    feeds: list[FeedLink]


def page_name(folder: str) -> str:
    return f"{folder}/{PAGE}" if folder else PAGE


@cache
def _environment(templates_dir: Path | None) -> jinja2.Environment:
    return environment(
        templates_dir,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def template(settings: Settings, name: str) -> jinja2.Template:
    """A page template, the user's own first; TemplateError naming the file when it is broken."""
    env = _environment(settings.templates_dir)
    try:
        return env.get_template(name)
    except jinja2.TemplateNotFound:
        folders = ", ".join(env.loader.searchpath)  # type: ignore[union-attr]
        raise TemplateError(f"template {name} not found", where=folders) from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"line {exc.lineno}: {exc.message}", where=exc.filename) from None


def check_templates(settings: Settings) -> None:
    """Load every page template before the build writes anything, so a broken one stops it whole."""
    if settings.feeds.pages:
        for name in TEMPLATES:
            template(settings, name)


def render(settings: Settings, template_name: str, **context) -> bytes:
    try:
        html = template(settings, template_name).render(site=settings.site, **context)
    except jinja2.TemplateError as exc:
        raise TemplateError(str(exc), where=template_name) from None
    return html.encode("utf-8")


def feed_links(settings: Settings, spec: FeedSpec) -> list[FeedLink]:
    return [
        FeedLink(
            LABELS[kind],
            feed_url(settings.feeds_url, spec.folder, kind),
            MEDIA_TYPES[kind],
            f"{spec.title} ({LABELS[kind]})",
        )
        for kind in settings.feeds.formats
    ]


def folder_page(settings: Settings, spec: FeedSpec, rendered: Mapping[str, Rendered]) -> bytes:
    """The page of one category or tag feed, written beside its feed files."""
    timezone = settings.site.timezone
    entries = [
        Entry(
            post.title,
            post.url,
            post.date.isoformat(),
            post.date.astimezone(timezone).strftime("%Y-%m-%d %H:%M"),
            rendered[post.url].summary,
        )
        for post in spec.entries
    ]
    links = feed_links(settings, spec)
    return render(
        settings,
        "pages/category.html",
        name=spec.name or spec.title,
        home="../../",
        page=spec.alternate if spec.alternate != settings.site.root else None,
        feeds=links,
        discovery=links,
        entries=entries,
    )


def index_page(settings: Settings, specs: Sequence[FeedSpec]) -> bytes:
    """Every category, by display name, with its count of entries, its page and its feeds."""
    site_feeds = [feed_links(settings, spec) for spec in specs if spec.folder == ""]
    categories = [
        Category(
            spec.name or spec.title,
            spec.folder.rsplit("/", 1)[-1],
            f"{spec.folder}/",
            len(spec.entries),
            feed_links(settings, spec),
        )
        for spec in specs
        if spec.folder.startswith("category/")
    ]
    categories.sort(key=lambda category: (category.name.casefold(), category.slug))
    links = site_feeds[0] if site_feeds else []
    return render(
        settings,
        "pages/index.html",
        site_feeds=links,
        discovery=links,
        categories=categories,
        opml=OPML_FILE,
    )
