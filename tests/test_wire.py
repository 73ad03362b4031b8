"""Digest messages as bytes without the email package are the bytes the email package makes."""

from __future__ import annotations

import email
from email.policy import compat32

import pytest

from feeds.newsletter.audience import Links
from feeds.newsletter.digest import build_message
from feeds.newsletter.mailpolicy import policy_for
from feeds.newsletter.state import Variant
from feeds.newsletter.wire import Encoder, Wire, boundary_for
from tests.conftest import NOW
from tests.test_dispatch import digest_config, news_site

LONG_TOKEN = "eyJzIjo0MiwicCI6InVuc3Vic2NyaWJlIn0." + "Zk9" * 60
RECIPIENTS = [
    ("reader@example.com", None),
    ("reader@example.com", "Ann Reader"),
    ("zhang@example.com", "张三"),
    ("x@example.com", 'Doe, "Jr." <boss>'),
    ("y@example.com", "名字很长的读者" * 12),
    (
        "a-very-long-local-part-of-sixty-four-characters-exactly-abcdefgh@"
        "sub.domain.of.a.rather.long.host.name.example.com",
        "Long Address",
    ),
    ("tab@example.com", "Ünïcödé\tname"),
    ("用户@example.com", "非 ASCII 地址"),  # left to build_message, same boundary
    ("Mixed.Case@Example.COM", "Case"),
    ("idna@bücher.example", "IDNA 域名"),
]
BODIES = [
    ("今日要闻\n%%feeds-recipient%%\n退订：%%feeds-unsubscribe%%\n", "<p>今日</p>"),
    ("plain ascii text\nline two  \n", "<p>short</p>\n"),
    ("x" * 200 + "\n%%feeds-unsubscribe%%\n", '<p style="a:b">' + "y=z " * 60 + "</p>  \n\n"),
    (
        "ascii " * 30 + "\n" * 12 + "中" * 5,
        '<a href="%%feeds-unsubscribe%%">%%feeds-recipient%%</a> ' * 8 + "\t\n" + "é" * 100,
    ),
    ("", "<p>" + "=" * 300 + " \n.\n" + "金融" * 200 + "</p>"),
]


def both(settings, variant, email_address, name, links):
    message_id = f"<digest.test.{abs(hash(email_address)) % 997}@example.org>"
    fast = Wire(settings, NOW).message(
        variant, email=email_address, name=name, message_id=message_id, date=NOW, links=links
    )
    reference = build_message(
        settings,
        variant,
        email=email_address,
        name=name,
        message_id=message_id,
        date=NOW,
        links=links,
    )
    reference.set_boundary(boundary_for(message_id))
    sender = links.envelope_sender if links else settings.sender.addr_spec
    return fast, reference.as_bytes(policy=policy_for(sender, email_address))


@pytest.mark.parametrize("web", [False, True])
@pytest.mark.parametrize("body", range(len(BODIES)))
def test_fast_messages_are_byte_for_byte_the_email_packages(site, make_settings, web, body):
    config = digest_config()
    if web:
        config = config.replace(
            "digest:\n", "web:\n  url: https://news.example.org/feeds\ndigest:\n"
        )
    settings = make_settings(news_site(site).root, config)
    text, html = BODIES[body]
    variant = Variant("v", "金融消息 每日摘要 2026-11-28（3 篇）" * (1 + body), html, text, 3)
    for address, name in RECIPIENTS:
        links = None
        if web:
            links = Links(
                f"https://news.example.org/feeds/unsubscribe/{LONG_TOKEN}{len(address)}",
                f"https://news.example.org/feeds/preferences/{LONG_TOKEN}",
                "bounce+1@example.org",
            )
        fast, reference = both(settings, variant, address, name, links)
        assert fast == reference, (address, name)


def test_fast_messages_keep_list_unsubscribe_unencoded_and_lines_short(site, make_settings):
    config = digest_config().replace(
        "digest:\n", "web:\n  url: https://news.example.org/feeds\ndigest:\n"
    )
    settings = make_settings(news_site(site).root, config)
    variant = Variant("v", "摘要", "<p>%%feeds-unsubscribe%%</p>", "退订 %%feeds-unsubscribe%%", 1)
    links = Links(f"https://news.example.org/feeds/unsubscribe/{LONG_TOKEN}", "", "b@example.org")
    raw = Wire(settings, NOW).message(
        variant, email="a@example.com", name="读者", message_id="<m@x>", date=NOW, links=links
    )
    parsed = email.message_from_bytes(raw, policy=compat32)
    assert (
        parsed["List-Unsubscribe"]
        .replace("\r\n ", " ")
        .startswith(f"<https://news.example.org/feeds/unsubscribe/{LONG_TOKEN}>")
    )
    assert parsed["To"] == "=?utf-8?b?6K+76ICF?= <a@example.com>"
    lines = raw.split(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"") and max(len(line) for line in lines) <= 998


def test_the_four_encodings_the_email_package_picks_are_all_compared():
    from feeds.newsletter.wire import Encoder

    seen = {Encoder().encode(text)[0] for pair in BODIES for text in pair}
    assert seen == {"7bit", "8bit", "quoted-printable", "base64"}


def test_a_text_holding_the_derived_boundary_gets_another_one(site, make_settings):
    settings = make_settings(news_site(site).root, digest_config())
    line = "--" + boundary_for("<m@x>")
    variant = Variant("v", "摘要", f"<p>x</p>\n{line}\n", f"正文\n{line}\n", 1)
    raw = Wire(settings, NOW).message(
        variant, email="a@example.com", name=None, message_id="<m@x>", date=NOW
    )
    parsed = email.message_from_bytes(raw, policy=compat32)
    assert parsed.get_boundary() != boundary_for("<m@x>")
    text, html = (
        p.get_payload(decode=True).decode().replace("\r\n", "\n") for p in parsed.get_payload()
    )
    assert (text, html) == (f"正文\n{line}\n", f"<p>x</p>\n{line}\n")


def test_a_full_line_cache_starts_afresh_and_encodes_the_same(monkeypatch):
    from feeds.newsletter import wire

    text = '<p style="a: b">' + "ascii = text " * 10 + "金融" + "</p>\n" + "x" * 90 + "\n"
    expected = wire.Encoder().encode(text)
    monkeypatch.setattr(wire, "_QP_CACHE_BYTES", 0)
    encoder = wire.Encoder()
    assert [encoder.encode(text) for _ in range(3)] == [expected] * 3
    assert expected[0] == "quoted-printable" and encoder.cached < 2 * len(expected[1])


def test_a_chinese_digest_goes_out_in_base64_at_about_half_the_size(site, make_settings):
    settings = make_settings(news_site(site).root, digest_config())
    head = '<html><head><style>p { margin: 0 }</style></head><body style="margin: 0">\n' * 10
    html = head + "<p>" + "央行今日开展逆回购操作，市场流动性保持合理充裕。" * 40 + "</p>\n"
    variant = Variant("v", "摘要", html, "正文 " * 200, 1)
    raw = Wire(settings, NOW).message(
        variant, email="a@example.com", name=None, message_id="<m@x>", date=NOW
    )
    parsed = email.message_from_bytes(raw, policy=compat32)
    html_part = parsed.get_payload()[1]
    assert html_part["Content-Transfer-Encoding"] == "base64"
    assert html_part.get_payload(decode=True).decode("utf-8").replace("\r\n", "\n") == html
    quoted = Encoder().quoted_line(html.encode("utf-8"))
    assert len(html_part.get_payload()) < 0.55 * len(quoted)  # the ASCII head costs the same


def test_mostly_ascii_text_stays_quoted_printable():
    from feeds.newsletter.mailpolicy import transfer_encoding

    english = "The central bank injected liquidity today; rates = unchanged. " * 10
    assert transfer_encoding(english, 78) == "quoted-printable"
    assert transfer_encoding(english + "央行" * 10, 78) == "quoted-printable"
    assert transfer_encoding(english + "央行" * 30, 78) == "base64"
    assert transfer_encoding("央行\n" * 100, 78) is None  # every line fits: sent as it is
