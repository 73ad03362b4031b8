"""Post bodies to safe, absolute HTML and to plain-text summaries. Pure functions.

Feed readers show entry content out of the site's context, so every link and
image must be absolute and nothing active may survive: the HTML is rendered
with markdown-it (CommonMark with raw HTML, as kramdown treats these posts),
sanitized with nh3, and its URLs resolved against the post's own permalink,
as a browser on that page would resolve them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from urllib.parse import urljoin, urlsplit

_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_URL_ATTRIBUTES = frozenset({"href", "src", "cite", "longdesc", "poster"})
_SAFE_SCHEMES = frozenset({"http", "https", "mailto", "ftp", "tel"})
_SEPARATORS = re.compile(r"[\s|｜/·•,，、\-–—]*")
_SENTENCE_ENDS = "。！？!?"
_CLOSERS = "”’」』）)】"
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

    return MarkdownIt("commonmark", {"html": True, "typographer": True}).enable(
        ["table", "strikethrough", "smartquotes"]
    )


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
    value = value.strip()
    if not value:
        return None
    resolved = urljoin(base, value)
    scheme = urlsplit(resolved).scheme.lower()
    return resolved if scheme in _SAFE_SCHEMES else None


def sanitize(html: str, base_url: str) -> str:
    """Keep harmless markup only, with every URL absolute."""
    import nh3

    def keep(tag: str, attribute: str, value: str) -> str | None:
        if attribute in _URL_ATTRIBUTES:
            return absolute_url(value, base_url)
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

    blocks = lxml.html.fragments_fromstring(html)
    kept: list[str] = []
    everything: list[str] = []
    for block in blocks:
        if isinstance(block, str):
            text, only_links = block, False
        else:
            text = block.text_content()
            only_links = _only_links(block)
        if not text.strip():
            continue
        everything.append(text)
        if not only_links:
            kept.append(text)
    return tidy_space(" ".join(kept or everything))


def _only_links(block) -> bool:
    """A block whose text is nothing but its links and separators such as ｜.

    One pass over the block's text nodes, so a block of 60,000 links costs
    what its length costs.
    """
    if not any(a.text_content().strip() for a in block.iter("a")):
        return False
    rest = "".join(block.xpath("descendant-or-self::text()[not(ancestor::a)]"))
    return _SEPARATORS.fullmatch(rest) is not None


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
