"""Properties of rendering: the fast paths give what the plain rules give, whatever the input.

Markdown takes plain links as written instead of normalizing them, URL
resolution skips urljoin for plain links, and readable text is read without
lxml.html's element classes; each must stay byte for byte what markdown-it,
urljoin and lxml.html give. The plain rules are written out here as they
stood before (or taken from the library), and compared with the fast ones on
arbitrary strings, on strings made of the pieces that matter (schemes,
slashes, dots, brackets, escapes, long host names, empty queries, spaces and
controls; links, separators, comments, scripts), and on what the sanitizer
makes of them.

HYPOTHESIS_PROFILE=long runs fifty times as many examples.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import lxml.html
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from feeds.site.render import (
    _SAFE_SCHEMES,
    _SEPARATORS,
    _markdown,
    absolute_url,
    readable_text,
    sanitize,
    tidy_space,
    url_resolver,
)
from tests.conftest import examples

POST_URL = "https://finews.withounder.com/emnews/2021/12/08/202112082206736198.html"


def urljoin_rule(value: str, base: str) -> str | None:
    """URL resolution as urljoin states it: the rule the fast paths must keep."""
    value = value.strip()
    if not value:
        return None
    resolved = urljoin(base, value)
    scheme = urlsplit(resolved).scheme.lower()
    return resolved if scheme in _SAFE_SCHEMES else None


def lxml_html_rule(html: str) -> str:
    """Readable text as lxml.html's elements and ``text_content()`` state it."""
    if not html.strip():
        return ""
    kept: list[str] = []
    everything: list[str] = []
    for block in lxml.html.fragments_fromstring(html):
        if isinstance(block, str):
            text, only_links = block, False
        else:
            text = block.text_content()
            only_links = any(a.text_content().strip() for a in block.iter("a")) and (
                _SEPARATORS.fullmatch(
                    "".join(block.xpath("descendant-or-self::text()[not(ancestor::a)]"))
                )
                is not None
            )
        if not text.strip():
            continue
        everything.append(text)
        if not only_links:
            kept.append(text)
    return tidy_space(" ".join(kept or everything))


def outcome(function, *args):
    """What a call returns, or the kind of exception it raises: the two HTML parsers word
    their errors differently (unlike ``tests.conftest.outcome``, messages are not compared)."""
    try:
        return function(*args)
    except Exception as exc:
        return type(exc)


def markdown_it() -> MarkdownIt:
    """markdown-it as configured for posts, with its own link normalization."""
    return MarkdownIt("commonmark", {"html": True, "typographer": True}).enable(
        ["table", "strikethrough", "smartquotes"]
    )


LINK_PIECES = [
    *("http:", "https:", "HTTP:", "mailto:", "javascript:", "//", "/", "../", "./", "..", "."),
    *("?", "#", ";", ":", "@", "[", "]", "%2F", "%e4%b8%ad", "%", "%zz", "a", "B", "b.c"),
    *("xn--fsq", "80", "~", "'", "-", "_", "+", "&", "=", " ", "\\", "é", "中", "ｆ", "a" * 64),
]
linkish = st.one_of(
    st.lists(st.sampled_from(LINK_PIECES), max_size=14).map("".join),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40),
    st.text(max_size=20),
)


@given(linkish)
@example("http://" + ".".join(["a" * 63] * 5) + "/x")  # mdurl drops a host name over 255
@example("http://" + "a" * 64 + ".com:80/x")  # and moves a label over 63
@example("http://xn--fsq.com/x")  # and decodes punycode in a link's text
@example("http://example.com/%e4%b8%ad")  # and percent escapes in it
@hypothesis_settings(max_examples=examples(2000))
def test_links_normalize_as_markdown_it_normalizes_them(link):
    ours, theirs = _markdown(), markdown_it()
    assert outcome(ours.normalizeLink, link) == outcome(theirs.normalizeLink, link)
    assert outcome(ours.normalizeLinkText, link) == outcome(theirs.normalizeLinkText, link)


MARKDOWN_PIECES = ["[a](", ")", "<", ">", "![i](", ' "t"', "\n", "\n\n", "[r]: ", "[r]", "*", "`"]
markdownish = st.lists(
    st.one_of(st.sampled_from(MARKDOWN_PIECES), st.sampled_from(LINK_PIECES)), max_size=30
).map("".join)


@given(markdownish)
@hypothesis_settings(max_examples=examples(500))
def test_markdown_renders_as_markdown_it_renders(markdown):
    assert _markdown().render(markdown) == markdown_it().render(markdown)


URL_PIECES = [
    *("http:", "https:", "HTTPS:", "ftp:", "mailto:", "javascript:", "//", "/", "../", "./"),
    *("..", ".", "?", "#", ";", ":", "@", "[", "]", "[::1]", "%2F", "a", "b.c", "80", "~"),
    *(" ", "\t", "\n", "\x01", "\x7f", "\\", "é", "ｆ", "℀"),
]
urlish = st.one_of(
    st.lists(st.sampled_from(URL_PIECES), max_size=12).map("".join),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30),
    st.text(max_size=30),
)
bases = st.one_of(
    st.sampled_from(
        [POST_URL, "http://h", "http://h/", "https://h:8080/a/b/../c", "http://h/a;p?q#f", ""]
    ),
    urlish,
)


@given(urlish, bases)
@example("https://example.org/a?", POST_URL)  # urljoin drops an empty query
@example("https://example.org/a#", POST_URL)  # and an empty fragment
@example("https://example.org/a;", POST_URL)  # and empty path parameters
@example("HTTPS://example.org/a", POST_URL)  # and lowers the scheme
@example("https://[::1/a", POST_URL)  # and refuses a broken IPv6 host
@example("https://example.org/a", "https://[::1/a")  # or base
@example("//cdn.example.org/x", "http://plain.example.org/a/b.html")
@example("../../../../../x/./y/..", POST_URL)
@example("/a/../b", "https://h")
@hypothesis_settings(max_examples=examples(2000))
def test_absolute_url_gives_what_urljoin_gives(value, base):
    assert outcome(absolute_url, value, base) == outcome(urljoin_rule, value, base)


@given(st.lists(urlish, max_size=8), bases)
@hypothesis_settings(max_examples=examples(300))
def test_a_resolver_made_once_resolves_each_url_as_urljoin_does(values, base):
    resolve = url_resolver(base)
    assert [outcome(resolve, v) for v in values] == [outcome(urljoin_rule, v, base) for v in values]


HTML_PIECES = [
    *("<p>", "</p>", "<a href='x'>", "<a>", "</a>", "<A HREF=y>", "<div>", "</div>", "<br>"),
    *("<b>", "</b>", "<table>", "<td>", "<!-- c -->", "<?pi x?>", "<![CDATA[x]]>", "<a:b>"),
    *("<script>", "</script>", "<style>", "<title>", "<svg>", "<html>", "<body>", "<head>"),
    *("<!doctype html>", " ", "\n", "\u3000", "\xa0", "｜", "|", "/", "-", "。"),
    *("text", "字", "&amp;", "&nbsp;"),
]
htmlish = st.one_of(st.lists(st.sampled_from(HTML_PIECES), max_size=25).map("".join), st.text())


@given(htmlish)
@example('<p>来源 <a href="https://example.org/">来源</a></p><p>正文。</p>')
@example("<!-- only a comment --><p><a>x</a> ｜ <a>y</a></p>")
@example("<p><a> </a>｜</p><p>正文</p>")
@hypothesis_settings(max_examples=examples(2000))
def test_readable_text_gives_what_lxml_html_gives(html):
    assert outcome(readable_text, html) == outcome(lxml_html_rule, html)


@given(htmlish)
@hypothesis_settings(max_examples=examples(500))
def test_readable_text_of_sanitized_html_gives_what_lxml_html_gives(html):
    safe = sanitize(html, POST_URL)
    assert readable_text(safe) == lxml_html_rule(safe)
