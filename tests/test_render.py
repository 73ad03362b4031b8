"""Safe, absolute HTML and sane summaries."""

from __future__ import annotations

import pytest

from feeds.site.render import render_body, sanitize, strip_html, summarize, xml_safe

POST_URL = "https://finews.withounder.com/emnews/2021/12/08/202112082206736198.html"


def html_of(body: str, is_markdown: bool = True) -> str:
    return render_body(body, is_markdown=is_markdown, base_url=POST_URL, summary_length=140).html


def test_markdown_autolinks_blockquotes_and_inline_html_render_like_kramdown():
    html = html_of("> 引用\n\n正文<span>内联</span>\n\n<http://stock.eastmoney.com/a.html>")
    assert html == (
        "<blockquote>\n<p>引用</p>\n</blockquote>\n<p>正文<span>内联</span></p>\n"
        '<p><a href="http://stock.eastmoney.com/a.html">http://stock.eastmoney.com/a.html</a></p>'
    )


def test_bare_less_than_and_empty_autolink_stay_text():
    assert html_of("精度满足<1%\n\n<>") == "<p>精度满足&lt;1%</p>\n<p>&lt;&gt;</p>"


def test_relative_and_protocol_relative_urls_become_absolute_from_the_permalink():
    html = html_of(
        "[a](../emnews/) [b](../) [c](/category/x.html) [d](//finews.withounder.com/emnews/)"
        ' <img src="pic.png">'
    )
    assert 'href="https://finews.withounder.com/emnews/2021/12/emnews/"' in html
    assert 'href="https://finews.withounder.com/emnews/2021/12/"' in html
    assert 'href="https://finews.withounder.com/category/x.html"' in html
    assert 'href="https://finews.withounder.com/emnews/"' in html
    assert 'src="https://finews.withounder.com/emnews/2021/12/08/pic.png"' in html


def test_protocol_relative_links_take_the_site_scheme():
    html = sanitize('<a href="//cdn.example.org/x">x</a>', "http://plain.example.org/a/b.html")
    assert html == '<a href="http://cdn.example.org/x">x</a>'


def test_active_content_is_removed():
    html = html_of(
        '<script>alert(1)</script><style>p{}</style><iframe src="https://x"></iframe>'
        '<p onclick="steal()" style="color:red">text <a href="javascript:alert(1)">link</a>'
        '<a href=" JAVASCRIPT:alert(2)">two</a></p>',
        is_markdown=False,
    )
    assert html == "<p>text <a>link</a><a>two</a></p>"


def test_images_keep_their_source_and_raw_ampersands_are_escaped():
    html = html_of('<img src="https://x.com/GetPic.aspx?nid=106.NIO&imageType=k" alt="K">', False)
    assert html == '<img src="https://x.com/GetPic.aspx?nid=106.NIO&amp;imageType=k" alt="K">'


def test_characters_xml_forbids_are_removed():
    assert xml_safe("a\x00b\x0bc\x1fd\ufffe\tok\n") == "abcd\tok\n"
    assert html_of("a\x08b") == "<p>ab</p>"


def test_chinese_summary_counts_characters_and_ends_at_a_sentence():
    sentence = "这是一个二十个字符长的中文句子用来测试。"
    html = f"<p>{sentence * 10}</p>"
    summary = summarize(html, 140)
    assert summary == sentence * 7
    assert len(summary) == 140


def test_chinese_summary_without_sentence_end_is_cut_with_an_ellipsis():
    summary = summarize("<p>" + "字" * 300 + "</p>", 140)
    assert summary == "字" * 139 + "…"


def test_english_summary_never_cuts_inside_a_word():
    words = "internationalization " * 20
    summary = summarize(f"<p>{words}</p>", 140)
    assert summary.endswith("internationalization…")
    assert all(word == "internationalization" for word in summary[:-1].split())
    assert len(summary) <= 140


def test_summary_prefers_an_english_sentence_end():
    text = "The Fed raised rates by half a point. " * 6
    assert (
        summarize(f"<p>{text}</p>", 140) == ("The Fed raised rates by half a point. " * 3).strip()
    )


def test_summary_has_no_broken_entities_and_no_markup():
    summary = summarize("<p>" + "A&amp;B &lt;tag&gt; " * 30 + "</p>", 140)
    assert "&" in summary and "<tag>" in summary
    assert "&amp" not in summary and "<p>" not in summary


def test_summary_skips_link_only_paragraphs_and_tidies_chinese_spacing():
    html = html_of(
        "美国众议院通过议案。 吉利德表示支持。\n\n<http://finance.eastmoney.com/a.html>\n\n"
        "[返回东财滚动新闻](../emnews/)｜[返回首页](../)"
    )
    assert summarize(html, 140) == "美国众议院通过议案。吉利德表示支持。"


def test_summary_of_a_post_that_is_only_a_link_is_the_link():
    assert summarize(html_of("<http://x.org/a>"), 140) == "http://x.org/a"


def test_empty_body_has_empty_summary():
    assert render_body("", is_markdown=True, base_url=POST_URL, summary_length=140).summary == ""


@pytest.mark.parametrize(
    ("title", "text"),
    [
        ("<b>加粗</b>标题", "加粗标题"),
        ("A <script>alert(1)</script>B<!-- x --><style>p{}</style>", "A B"),
        ('<a href="/x">链接</a> & 其他', "链接 & 其他"),
        ("利率<3%，涨幅>2%", "利率<3%，涨幅>2%"),
        ("AT&amp;T", "AT&amp;T"),
    ],
)
def test_titles_are_stripped_of_html_as_jekyll_feed_does(title, text):
    assert strip_html(title) == text


def test_character_references_xml_forbids_are_removed_after_sanitizing():
    html = render_body(
        "<p>a &#x1; b &#xFFFF; c &#xB; d &#xFFFE; e</p>",
        is_markdown=False,
        base_url="https://example.org/p.html",
        summary_length=140,
    ).html
    assert html == "<p>a  b  c  d  e</p>"


def test_a_paragraph_of_sixty_thousand_links_is_summarized_as_links_only():
    links = " ".join(f'<a href="https://example.org/{n}">链接{n}</a>' for n in range(60_000))
    html = f"<p>正文在这里。</p><p>{links}</p>"
    assert summarize(html) == "正文在这里。"


def test_a_link_word_that_also_appears_outside_the_link_still_counts_as_prose():
    assert summarize('<p>来源 <a href="https://example.org/">来源</a></p><p>正文。</p>') == (
        "来源 来源 正文。"
    )
