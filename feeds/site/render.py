"""Post bodies to safe, absolute HTML and to plain-text summaries. Pure functions.

Feed readers show entry content out of the site's context, so every link and
image must be absolute and nothing active may survive: the HTML is rendered
with markdown-it (CommonMark with raw HTML, as kramdown treats these posts),
sanitized with nh3, and its URLs resolved against the post's own permalink,
as a browser on that page would resolve them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple
from urllib.parse import urljoin, urlparse, urlsplit

_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_URL_ATTRIBUTES = frozenset({"href", "src", "cite", "longdesc", "poster"})
_SAFE_SCHEMES = frozenset({"http", "https", "mailto", "ftp", "tel"})
_SEPARATORS = re.compile(r"[\s|｜/·•,，、\-–—]*")
_SENTENCE_ENDS = "。！？!?"
_CLOSERS = "”’」』）)】"
_OUTSIDE_LINKS = "descendant-or-self::text()[not(ancestor::a)]"
_SPACE_AFTER_CJK_PUNCT = re.compile(r"(?<=[。，、；：！？）」』”’】])\s+")
_SPACE_BEFORE_CJK_PUNCT = re.compile(r"\s+(?=[。，、；：！？）」』”’】])")


@dataclass(frozen=True, slots=True)
class Rendered:
    """What feeds and digests show of a post."""

    html: str
    summary: str


_HTML_BLOCKS = re.compile(r"<script.*?</script>|<!--.*?-->|<style.*?</style>", re.S | re.I)
_HTML_TAG = re.compile(r"</?[A-Za-z!?][^>]*>", re.S)


def strip_html(text: str) -> str:
    """A title as text, as jekyll-feed's ``strip_html`` makes it: no tags, scripts or comments.

    Only what looks like a tag goes (``<`` then a letter, ``/``, ``!`` or ``?``),
    so a financial title such as ``利率<3%，涨幅>2%`` keeps its signs. Entities
    such as ``&amp;`` are text, as in jekyll-feed, and are escaped as such.
    """
    return _HTML_TAG.sub("", _HTML_BLOCKS.sub("", text))


def xml_safe(text: str) -> str:
    """Remove the characters XML 1.0 forbids, which would make the whole feed unreadable."""
    return _XML_FORBIDDEN.sub("", text)


@cache
def _markdown():
    """Imported on first use: a build with nothing to render should not pay for it."""
    from markdown_it import MarkdownIt

    class Markdown(MarkdownIt):
        """markdown-it, with plain links taken as they are written.

        Normalizing a link (mdurl's parse, punycode, format and percent-encoding)
        cost about 25 us, a seventh of rendering a post; a plain link comes
        back unchanged from all of it, so only the others are normalized.
        """

        def normalizeLink(self, url: str) -> str:
            return url if _is_plain_link(url) else super().normalizeLink(url)

        def normalizeLinkText(self, link: str) -> str:
            if _is_plain_link(link) and "%" not in link and "xn--" not in link:
                return link
            return super().normalizeLinkText(link)

    return Markdown("commonmark", {"html": True, "typographer": True}).enable(
        ["table", "strikethrough", "smartquotes"]
    )


# A link mdurl gives back as written: http(s) or protocol-relative with a plain host name
# (mdurl moves or drops labels longer than 63 or names longer than 255), or a relative path
# without ":" (mdurl could take what is before it for a scheme); every character one that
# mdurl's encode keeps, "%" only in a complete escape.
_LINK_CHAR = r"(?:[A-Za-z0-9;/?:@&=+$,\-_.!~*'()#]|%[0-9A-Fa-f]{2})"
_PLAIN_LINK = re.compile(
    r"(?:https?:)?//(?P<host>[A-Za-z0-9_-]{1,63}(?:\.[A-Za-z0-9_-]{1,63})*)"
    rf"(?:[/?#]{_LINK_CHAR}*)?"
    r"|(?!//)(?:[A-Za-z0-9;/?@&=+$,\-_.!~*'()#]|%[0-9A-Fa-f]{2})+"
)


def _is_plain_link(url: str) -> bool:
    plain = _PLAIN_LINK.fullmatch(url)
    return plain is not None and len(plain.group("host") or "") <= 255


@cache
def _allowed_attributes() -> dict[str, set[str]]:
    import nh3

    allowed = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()}
    allowed.setdefault("img", set()).update({"src", "alt", "width", "height", "title"})
    allowed.setdefault("a", set()).update({"href", "title"})
    return allowed


def markdown_to_html(body: str) -> str:
    return _markdown().render(body)


def absolute_url(value: str, base: str) -> str | None:
    """Resolve ``value`` against ``base`` as a browser would; None for schemes that can run code."""
    return url_resolver(base)(value)


def url_resolver(base: str) -> Callable[[str], str | None]:
    """``absolute_url`` for every URL of one post, its base parsed once.

    The rule is urljoin's, byte for byte. urljoin parses both URLs and puts
    the result back together, a third of what sanitizing a post cost; the
    usual links (``https://host/path``, ``//host/path``, ``../folder/``) are
    plain enough that the result is known from their text: an absolute one
    comes back as it is, a protocol-relative one gains the base's scheme, and
    a relative path is resolved the way urljoin resolves it, on the base's
    path split once. Everything else still goes to urljoin.
    """
    joinable = _joinable_base(base)

    def resolve(value: str) -> str | None:
        value = value.strip()
        if not value:
            return None
        if joinable is not None:
            if plain := _PLAIN_NETWORK_URL.fullmatch(value):
                if plain.group("scheme"):
                    return value
                if joinable.scheme:
                    return f"{joinable.scheme}:{value}"
            elif joinable.scheme and (plain := _PLAIN_PATH.fullmatch(value)):
                return joinable.join_path(*plain.group("path", "query", "fragment"))
        resolved = urljoin(base, value)
        scheme = urlsplit(resolved).scheme.lower()
        return resolved if scheme in _SAFE_SCHEMES else None

    return resolve


def _printable_ascii(excluded: str) -> str:
    """A regex class of the printable ASCII characters (no space) but ``excluded``."""
    kept = (chr(code) for code in range(0x21, 0x7F) if chr(code) not in excluded)
    return "[" + "".join(re.escape(char) for char in kept) + "]"


# Printable ASCII only, so urlsplit strips and removes nothing; no brackets in a host (urlsplit
# checks IPv6 hosts); no ";" in a path (path parameters) and no empty "?" or "#" (urljoin
# drops those): urljoin gives such a URL back as written.
_HOST = _printable_ascii("/?#[]")
_TAIL = rf"(?:\?(?P<query>{_printable_ascii('#')}+))?(?:#(?P<fragment>{_printable_ascii('')}+))?"
_PLAIN_NETWORK_URL = re.compile(
    rf"(?P<scheme>https?:)?//{_HOST}+(?:/{_printable_ascii('?#;')}*)?{_TAIL}"
)
# A relative path without a scheme (no ":") and without a host (no leading "//").
_PLAIN_PATH = re.compile(rf"(?P<path>(?!//){_printable_ascii('?#;:')}+){_TAIL}")


class _JoinableBase(NamedTuple):
    """What urljoin takes from a base to resolve a relative link.

    ``scheme`` is "" when relative links are left to urljoin: a base that is
    not http(s) with a host, or no base at all.
    """

    scheme: str
    netloc: str
    directories: list[str]  # the base path's segments but the last, as urljoin splits them

    def join_path(self, path: str, query: str | None, fragment: str | None) -> str:
        """urljoin's resolution of a relative path without a scheme, host or parameters."""
        if path[:1] == "/":
            segments = path.split("/")
        else:
            segments = self.directories + path.split("/")
            segments[1:-1] = filter(None, segments[1:-1])
        resolved: list[str] = []
        for segment in segments:
            if segment == "..":
                if resolved:
                    resolved.pop()
            elif segment != ".":
                resolved.append(segment)
        if segments[-1] in (".", ".."):
            resolved.append("")
        joined = "/".join(resolved) or "/"
        if joined[:1] != "/":  # urlunsplit's slash between host and path
            joined = "/" + joined
        url = f"{self.scheme}://{self.netloc}{joined}"
        if query:
            url += "?" + query
        if fragment:
            url += "#" + fragment
        return url


def _joinable_base(base: str) -> _JoinableBase | None:
    """The base as urljoin parses it; None when parsing it fails (urljoin then says why)."""
    if not base:
        return _JoinableBase("", "", [])  # urljoin returns the URL as it is
    try:
        scheme, netloc, path, _, _, _ = urlparse(base)
    except ValueError:
        return None
    if scheme not in ("http", "https") or not netloc:
        return _JoinableBase("", "", [])
    directories = path.split("/")
    if directories[-1] != "":
        del directories[-1]
    return _JoinableBase(scheme, netloc, directories)


def sanitize(html: str, base_url: str) -> str:
    """Keep harmless markup only, with every URL absolute."""
    import nh3

    resolve = url_resolver(base_url)

    def keep(tag: str, attribute: str, value: str) -> str | None:
        if attribute in _URL_ATTRIBUTES:
            return resolve(value)
        return value

    # nh3 decodes character references such as &#x1; or &#xFFFF;, so what XML
    # forbids is removed from its output, not only from its input.
    return xml_safe(
        nh3.clean(
            xml_safe(html),
            attributes=_allowed_attributes(),
            attribute_filter=keep,
            link_rel=None,
            url_schemes=set(_SAFE_SCHEMES),
        )
    )


def render_body(body: str, *, is_markdown: bool, base_url: str, summary_length: int) -> Rendered:
    """The feed's view of one post body."""
    html = markdown_to_html(body) if is_markdown else body
    safe = sanitize(html, base_url).strip()
    return Rendered(html=safe, summary=summarize(safe, summary_length))


def readable_text(html: str) -> str:
    """The post's prose, without the paragraphs that are only links (source and footer links)."""
    if not html.strip():
        return ""
    import lxml.html

    kept: list[str] = []
    everything: list[str] = []
    for block in lxml.html.fragments_fromstring(html, parser=_html_parser()):
        if isinstance(block, str):
            text, only_links = block, False
        else:
            text = _xpath("string()")(block)
            only_links = _only_links(block, text)
        if not text.strip():
            continue
        everything.append(text)
        if not only_links:
            kept.append(text)
    return tidy_space(" ".join(kept or everything))


def _only_links(block, text: str) -> bool:
    """A block whose text (``text``) is nothing but its links and separators such as ｜.

    One pass over the block's text nodes, so a block of 60,000 links costs
    what its length costs. A block's text is its text outside links and the
    text of its links, so the links hold more than spaces exactly when the
    whole has more characters that are not spaces than the part outside links.
    """
    if next(block.iter("a"), None) is None:
        return False
    rest = "".join(_xpath(_OUTSIDE_LINKS)(block))
    return _SEPARATORS.fullmatch(rest) is not None and _non_space(text) > _non_space(rest)


def _non_space(text: str) -> int:
    return sum(map(len, text.split()))


@cache
def _html_parser():
    """lxml's HTML parser without lxml.html's element classes.

    The same libxml2 parse as ``lxml.html``'s, without a Python lookup for
    every element; text is read with compiled XPath, as ``text_content()``
    reads it.
    """
    from lxml import etree

    return etree.HTMLParser()


@cache
def _xpath(expression: str):
    """Compiled once per process: compiling an XPath costs more than evaluating it."""
    from lxml import etree

    return etree.XPath(expression, smart_strings=False)


def strip_space(text: str) -> str:
    return " ".join(text.split())


def tidy_space(text: str) -> str:
    """One space between words; none next to full-width punctuation, where Chinese uses none."""
    text = strip_space(text)
    text = _SPACE_AFTER_CJK_PUNCT.sub("", text)
    return _SPACE_BEFORE_CJK_PUNCT.sub("", text)


def _is_latin_word_char(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char in "'’-_")


def summarize(html: str, length: int = 140) -> str:
    """About ``length`` characters of plain text, ending at a sentence end where one is near.

    Counted in characters, not bytes, so Chinese text gets as much room as
    English; a Latin word is never cut in half; an ellipsis marks a cut.
    """
    text = readable_text(html)
    if len(text) <= length:
        return text
    window = text[:length]
    best = max(window.rfind(mark) for mark in _SENTENCE_ENDS)
    latin_stop = window.rfind(". ")
    best = max(best, latin_stop)
    if best >= length // 2:
        end = best + 1
        while end < len(text) and end < length + 2 and text[end] in _CLOSERS:
            end += 1
        return text[:end]
    cut = length - 1  # leave room for the ellipsis
    if _is_latin_word_char(text[cut - 1]) and _is_latin_word_char(text[cut]):
        start = cut
        while start > 0 and _is_latin_word_char(text[start - 1]):
            start -= 1
        if start > 0:
            cut = start
    return text[:cut].rstrip(" ,;:，、；：-—") + "…"
