"""Compose the daily digest: choose and group the posts, render the templates, inline the CSS.

Pure functions: posts, settings and the time come in; subjects, HTML and text
go out. Rendering and premailer run once per distinct content (the set of
categories that have news for a subscriber), not once per subscriber; the
few per-recipient details are filled into markers afterwards.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote, urlsplit

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from feeds.config import Settings
from feeds.errors import TemplateError
from feeds.newsletter.mailpolicy import recipient_address, transfer_encoding
from feeds.newsletter.state import Variant
from feeds.output.feedwriter import feed_url, safe_slug
from feeds.site.post import Post
from feeds.templating import environment

if TYPE_CHECKING:
    from feeds.newsletter.audience import Links

log = logging.getLogger(__name__)

RECIPIENT_MARK = "%%feeds-recipient%%"
UNSUBSCRIBE_MARK = "%%feeds-unsubscribe%%"
PREFERENCES_MARK = "%%feeds-preferences%%"
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\ufeff]+")
_TITLE_NOISE = re.compile(r"[\s。．.!！?？…]+$")


class Reader(Protocol):
    @property
    def categories(self) -> tuple[str, ...] | None: ...  # None = all


@dataclass(frozen=True)
class Item:
    """A post as the digest shows it."""

    post: Post
    summary: str
    source_link: str | None

    @property
    def story_keys(self) -> tuple[str, ...]:
        """What makes two posts the same story: the same title, or the same source link."""
        title = unicodedata.normalize("NFKC", self.post.title)
        title = _TITLE_NOISE.sub("", re.sub(r"\s+", "", title)).lower()
        keys = (f"title:{title}",)
        return (*keys, f"link:{self.source_link}") if self.source_link else keys


@dataclass(frozen=True)
class Section:
    category: str
    title: str
    total: int
    items: list[dict]
    more: int
    more_url: str


def one_line(text: str) -> str:
    """Text safe for a mail header: no CR, LF or other control characters, one space between words.

    Python's email package refuses most injections, but not all versions catch
    every case, so header text is cleaned here before it gets near a header.
    """
    return " ".join(_HEADER_UNSAFE.sub(" ", text).split())


def source_link(html: str, site_url: str) -> str | None:
    """The first link to another site: the news source these posts are copied from."""
    own = urlsplit(site_url).netloc
    for match in re.finditer(r'href="(https?://[^"]+)"', html):
        url = html_lib.unescape(match.group(1))
        if urlsplit(url).netloc != own:
            return url
    return None


def unique_stories(items: Iterable[Item]) -> list[Item]:
    """Keep the first-published post of each story; the rest are the same news again."""
    seen: set[str] = set()
    kept = []
    for item in sorted(items, key=lambda item: item.post.sort_key):
        keys = item.story_keys
        if not seen.intersection(keys):
            kept.append(item)
        seen.update(keys)
    return kept


def variant_key(categories: Sequence[str]) -> str:
    """A short stable name for one combination of categories."""
    joined = "\n".join(categories)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:16]


def categories_with_news(subscriber: Reader, by_category: dict[str, list[Item]]) -> list[str]:
    """The reader's categories that have news, sorted.

    A reader who chose a few categories is looked up by those few, not by
    every category of the day: 100,000 readers times 2,000 categories is
    too many questions.
    """
    chosen = subscriber.categories
    names = by_category if chosen is None else {name for name in chosen if name in by_category}
    return sorted(name for name in names if by_category[name])


def group_by_category(items: list[Item]) -> dict[str, list[Item]]:
    """The items of every category, newest first; a post in two categories is in both."""
    groups: dict[str, list[Item]] = {}
    for item in items:
        for category in item.post.categories:
            groups.setdefault(category, []).append(item)
    for members in groups.values():
        members.sort(key=lambda item: item.post.sort_key, reverse=True)
    return groups


def overlaps(by_category: dict[str, list[Item]]) -> dict[str, frozenset[str]]:
    """For each category, the posts of it that are in another category too.

    Only those can be dropped by ``once_each``; a category sharing none with
    the reader's earlier ones keeps its list as it is, without a copy.
    """
    homes: dict[str, int] = {}
    for members in by_category.values():
        for url in {item.post.url for item in members}:
            homes[url] = homes.get(url, 0) + 1
    return {
        category: frozenset(url for url in {i.post.url for i in members} if homes[url] > 1)
        for category, members in by_category.items()
    }


def once_each(
    categories: list[str],
    by_category: dict[str, list[Item]],
    shared: dict[str, frozenset[str]] | None = None,
) -> dict[str, list[Item]]:
    """Each story once in one digest: under the first of the reader's categories that has it.

    ``shared`` is ``overlaps(by_category)``, made once for many readers.
    """
    if shared is None:
        shared = overlaps(by_category)
    seen: set[str] = set()
    result: dict[str, list[Item]] = {}
    for category in categories:
        members = by_category[category]
        if not seen.isdisjoint(shared[category]):
            members = [item for item in members if item.post.url not in seen]
        seen.update(shared[category])
        if members:
            result[category] = members
    return result


class Composer:
    """Renders digests for one site with the user's templates."""

    def __init__(self, settings: Settings, templates_dir: Path | None):
        self.settings = settings
        self.site = settings.site
        self.env = environment(
            templates_dir,
            autoescape=jinja2.select_autoescape(["html"]),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.subject_template = SandboxedEnvironment(undefined=jinja2.StrictUndefined).from_string(
            settings.digest.subject
        )
        self.templates = {name: self._load(name) for name in ("digest.html", "digest.txt")}

    def _load(self, name: str) -> jinja2.Template:
        try:
            return self.env.get_template(name)
        except jinja2.TemplateNotFound:
            folders = ", ".join(self.env.loader.searchpath)  # type: ignore[union-attr]
            raise TemplateError(f"template {name} not found", where=folders) from None
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"line {exc.lineno}: {exc.message}", where=exc.filename) from None

    def more_url(self, category: str) -> str:
        """Where 'N more' leads: the category's page, else its feed."""
        page = self.settings.category_page(category)
        return page or feed_url(self.settings.feeds_url, f"category/{safe_slug(category)}", "atom")

    def time_label(self, post: Post, day: str) -> str:
        local = post.date.astimezone(self.site.timezone)
        return (
            local.strftime("%H:%M")
            if local.strftime("%Y-%m-%d") == day
            else local.strftime("%m-%d %H:%M")
        )

    def shown(
        self, categories: list[str], by_category: dict[str, list[Item]], limit: int
    ) -> list[tuple[str, list[Item], list[Item]]]:
        """Cap each category and the whole digest: (category, its items, those shown)."""
        left = limit
        chosen = []
        for category in categories:
            members = by_category[category]
            shown = members[: max(0, min(self.settings.digest.max_per_category, left))]
            left -= len(shown)
            chosen.append((category, members, shown))
        return chosen

    def section(self, category: str, members: list[Item], shown: list[Item], day: str) -> Section:
        return Section(
            category=category,
            title=self.settings.display_name(category),
            total=len(members),
            items=[
                {
                    "title": item.post.title,
                    "url": item.post.url,
                    "time": self.time_label(item.post, day),
                    "summary": item.summary,
                }
                for item in shown
            ],
            more=len(members) - len(shown),
            more_url=self.more_url(category),
        )

    def sections(
        self, categories: list[str], by_category: dict[str, list[Item]], day: str, limit: int
    ) -> list[Section]:
        """Cap each category and the whole digest; say how many more each section has."""
        return [
            self.section(category, members, shown, day)
            for category, members, shown in self.shown(categories, by_category, limit)
        ]

    def subject(self, day: str, count: int) -> str:
        try:
            text = self.subject_template.render(site=self.site, date=day, count=count)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"digest.subject: {exc}") from None
        return one_line(text)

    def render(
        self, categories: list[str], by_category: dict[str, list[Item]], day: str
    ) -> Variant:
        """One digest variant, inlined whole, that fits under Gmail's clipping size."""
        by_category = once_each(categories, by_category)
        categories = list(by_category)
        count = sum(len(members) for members in by_category.values())
        subject = self.subject(day, count)
        limit = self.settings.digest.max_items
        while True:
            sections = self.sections(categories, by_category, day, limit)
            context = {
                **self.constants(),
                "date": day,
                "count": count,
                "subject": subject,
                "sections": sections,
                "preheader": preheader(sections),
                "categories_label": categories_label(sections),
            }
            html = inline_css(self._render("digest.html", context))
            text = self._render("digest.txt", context)
            size = len(html.encode("utf-8")) + len(text.encode("utf-8"))
            if size <= self.settings.digest.max_bytes or limit <= 1:
                break
            limit = max(1, int(limit * 0.8))  # shrink until the mail is not clipped
        return Variant(variant_key(categories), subject, html, text, count)

    def constants(self) -> dict:
        """What every digest of this run shares; per-recipient values are markers."""
        return {
            "site": self.site,
            "recipient_email": RECIPIENT_MARK,
            "unsubscribe_url": UNSUBSCRIBE_MARK,
            "preferences_url": PREFERENCES_MARK if self.settings.web else "",
        }

    def _render(self, name: str, context: dict) -> str:
        try:
            return self.templates[name].render(context)
        except jinja2.TemplateError as exc:
            raise TemplateError(str(exc), where=name) from None


def preheader(sections: list[Section]) -> str:
    """The line inboxes show after the subject: the first headlines."""
    return headlines([section.items[0]["title"] for section in sections if section.items])


def headlines(titles: list[str]) -> str:
    return " · ".join(titles)[:150]


def categories_label(sections: list[Section]) -> str:
    return "、".join(section.title for section in sections) or "全部"


def inline_css(html: str) -> str:
    """premailer, offline and quiet: styles into attributes, @media rules kept in <style>."""
    from premailer import Premailer

    return Premailer(
        html,
        allow_network=False,
        allow_loading_external_files=False,
        disable_validation=True,
        disable_link_rewrites=True,
        keep_style_tags=False,
        strip_important=False,
        cssutils_logging_level=logging.CRITICAL,
    ).transform(pretty_print=False)


def personalize(
    text: str, email: str, unsubscribe_url: str, *, html: bool, preferences_url: str = ""
) -> str:
    escape = html_lib.escape if html else (lambda value: value)
    return (
        text.replace(RECIPIENT_MARK, escape(email))
        .replace(UNSUBSCRIBE_MARK, escape(unsubscribe_url))
        .replace(PREFERENCES_MARK, escape(preferences_url))
    )


def unsubscribe_uris(settings: Settings, email: str) -> tuple[str, str]:
    """The mailto: URI (always) and the one-click https: URI (when configured) for a recipient."""
    mailto = settings.digest.unsubscribe_mailto or settings.sender.addr_spec
    https_uri = (settings.digest.unsubscribe_url or "").replace("{email}", quote(email, safe=""))
    return f"mailto:{mailto}?subject=unsubscribe", https_uri


def unsubscribe_link(settings: Settings, email: str) -> str:
    """The link the footer shows: the web page when there is one, else the mailto: URI."""
    mailto_uri, https_uri = unsubscribe_uris(settings, email)
    return https_uri or mailto_uri


def ways_out(settings: Settings, email: str, links: Links | None) -> tuple[str, bool, str, str]:
    """List-Unsubscribe's value, whether it offers one click, and the footer's two links.

    With ``links`` (a web section) the reader's own signed pages; without,
    the configured ``unsubscribe_url``, else the mailto: URI alone.
    """
    mailto_uri, https_uri = unsubscribe_uris(settings, email)
    if links is not None:
        uris = f"<{links.unsubscribe}>, <{mailto_uri}>"
        return uris, True, links.unsubscribe, links.preferences
    if https_uri:
        return f"<{mailto_uri}>, <{https_uri}>", True, https_uri, ""
    return f"<{mailto_uri}>", False, mailto_uri, ""


def message_id(digest_key: str, email: str, domain: str) -> str:
    """The same digest to the same person always has the same Message-ID."""
    person = hashlib.sha256(email.lower().encode("utf-8")).hexdigest()[:16]
    return f"<digest.{digest_key}.{person}@{domain}>"


def build_message(
    settings: Settings,
    variant: Variant,
    *,
    email: str,
    name: str | None,
    message_id: str,
    date: datetime,
    links: Links | None = None,
) -> EmailMessage:
    """A multipart/alternative message with list headers (RFC 2369, 2919, 8058).

    With ``links`` (a web section is configured) the reader's own signed pages
    are used; without, the configured ``unsubscribe_url`` as before.
    """
    sender = settings.sender
    domain = urlsplit(settings.site.url).hostname or sender.domain
    list_unsubscribe, one_click, unsubscribe, preferences = ways_out(settings, email, links)

    message = EmailMessage()
    message["Subject"] = one_line(variant.subject)
    message["From"] = Address(one_line(sender.display_name), sender.username, sender.domain)
    message["To"] = recipient_address(one_line(name or ""), email)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    message["List-Id"] = f"{one_line(settings.site.title)} <digest.{domain}>"
    message["List-Unsubscribe"] = list_unsubscribe
    if one_click:
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    text = personalize(variant.text, email, unsubscribe, html=False, preferences_url=preferences)
    html = personalize(variant.html, email, unsubscribe, html=True, preferences_url=preferences)
    limit = message.policy.max_line_length
    message.set_content(text, cte=transfer_encoding(text, limit))
    message.add_alternative(html, subtype="html", cte=transfer_encoding(html, limit))
    return message
