"""HTML pages for people: the list of every feed (``index.html``) and one page per feed folder.

Someone who clicks a feed link sees XML, and browsers no longer style it
(Chrome drops XSLT in 2026), so each feed folder gets a page that says what
the feed is, gives its URLs to copy and shows its latest entries. The pages
come from Jinja2 templates a site owner can override (``templates/pages/``),
autoescaped, with titles and summaries that are already plain text, and
load nothing from other hosts.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from feeds.errors import TemplateError
from feeds.output.feedwriter import PAGE, FeedSpec, feed_url
from feeds.output.opml import FILE_NAME as OPML_FILE
from feeds.templating import environment, template_folders

if TYPE_CHECKING:
    import jinja2

    from feeds.config import Settings
    from feeds.site.render import Rendered

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


def page_environment(settings: Settings) -> jinja2.Environment:
    """The pages' environment, compiled once per process for as long as the templates stay the same.

    Keyed by what the templates say (``templates_digest``), so a template the
    user adds in front of the packaged one is seen at once; Jinja2 alone
    would keep serving the packaged one it had loaded.
    """
    return _environment(settings.templates_dir, templates_digest(settings))


@lru_cache(maxsize=4)
def _environment(templates_dir: Path | None, digest: str) -> jinja2.Environment:
    return _fresh_environment(templates_dir)


def _fresh_environment(templates_dir: Path | None) -> jinja2.Environment:
    import jinja2

    return environment(
        templates_dir,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def template(env: jinja2.Environment, name: str) -> jinja2.Template:
    """A page template, the user's own first; TemplateError naming the file when it is broken."""
    import jinja2

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
        env = page_environment(settings)
        for name in TEMPLATES:
            template(env, name)


def templates_digest(settings: Settings) -> str:
    """What the pages' templates say, for the build's cache key: an edit remakes the pages.

    Every file under ``pages/`` in each template folder counts, the user's and
    the package's, so a page that includes a file of the user's own sees its
    edits. Read without Jinja2, which a build with nothing new never loads.
    """
    if not settings.feeds.pages:
        return ""
    digest = hashlib.sha256()
    for folder in template_folders(settings.templates_dir):
        for path in _files_under(folder / "pages"):
            try:
                source = path.read_bytes()
            except OSError as exc:
                source = repr(exc).encode()  # check_templates reports what it breaks
            digest.update(f"{path}\0{len(source)}\0".encode("utf-8", "surrogateescape"))
            digest.update(source)
    return digest.hexdigest()


def _files_under(folder: Path) -> list[Path]:
    """Every file below ``folder``, sorted, as Jinja2's loader finds them (links to folders
    are not entered)."""
    return sorted(Path(parent, name) for parent, _, names in os.walk(folder) for name in names)


def render(env: jinja2.Environment, template_name: str, **context) -> bytes:
    import jinja2

    try:
        html = template(env, template_name).render(**context)
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


def folder_page(
    settings: Settings,
    env: jinja2.Environment,
    spec: FeedSpec,
    rendered: Mapping[str, Rendered],
) -> bytes:
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
        env,
        "pages/category.html",
        site=settings.site,
        name=spec.name or spec.title,
        home="../../",
        page=spec.alternate if spec.alternate != settings.site.root else None,
        feeds=links,
        discovery=links,
        entries=entries,
    )


def index_page(settings: Settings, env: jinja2.Environment, specs: Sequence[FeedSpec]) -> bytes:
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
        env,
        "pages/index.html",
        site=settings.site,
        site_feeds=links,
        discovery=links,
        categories=categories,
        opml=OPML_FILE,
    )
