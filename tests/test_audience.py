"""The digest reads the subscriber store: who gets it, the links they get, checked per message."""

from __future__ import annotations

import email
import re
from datetime import timedelta
from email.policy import compat32

import pytest

from feeds.newsletter.deliver import Smtp
from feeds.newsletter.dispatch import dry_run, send_digest
from feeds.newsletter.state import State
from feeds.newsletter.subscribers import Origin, SubscriberStore
from feeds.newsletter.tokens import Claim, Tokens
from tests.conftest import NOW
from tests.test_dispatch import digest_config, news_site

WEB = "https://finews.withounder.com/newsletter"
LONG_LOCAL = "a.very.long.local.part.that.goes.on.and.on.for.quite.a.while.indeed"


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv("FEEDS_SECRET", "k1" * 16)


def raw_headers(raw: bytes) -> dict[str, str]:
    """Header name -> value exactly as on the wire, folding included."""
    message = email.message_from_bytes(raw, policy=compat32)
    return dict(message.items())


def unfold(value: str) -> str:
    return re.sub(r"\r?\n[ \t]", " ", value)


def web_settings(site, make_settings, port, subscribers=None, web_url=WEB):
    extra = f"web:\n  url: {web_url}\n"
    config = digest_config(port, **({"subscribers": subscribers} if subscribers else {}))
    return make_settings(news_site(site).root, config.replace("digest:\n", extra + "digest:\n"))


def test_list_unsubscribe_carries_the_readers_signed_link_unencoded_on_the_wire(
    site, make_settings, smtp_server
):
    settings = web_settings(site, make_settings, smtp_server.port)
    send_digest(settings, now=NOW)
    store = SubscriberStore(settings.state_dir)
    reader = store.by_email("reader@example.com")
    mail_from, _, raw = next(m for m in smtp_server.messages if m[1] == ["reader@example.com"])
    headers = raw_headers(raw)
    value = unfold(headers["List-Unsubscribe"])
    assert "=?" not in headers["List-Unsubscribe"]
    match = re.fullmatch(
        rf"<{re.escape(WEB)}/unsubscribe/([\w.-]+)>, "
        r"<mailto:digest@finews\.withounder\.com\?subject=unsubscribe>",
        value,
    )
    assert match, value
    tokens = Tokens(["k1" * 16])
    claim = tokens.read(match.group(1), "unsubscribe", now=NOW + timedelta(days=365), max_age=None)
    assert claim == Claim(reader.id, 1)
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert tokens.read_verp(mail_from) == reader.id
    assert re.fullmatch(rf"bounce\+{reader.id}\.[a-z2-7]+@finews\.withounder\.com", mail_from)
    body = email.message_from_bytes(raw, policy=compat32).get_payload()[0]
    text = body.get_payload(decode=True).decode("utf-8")
    assert f"退订：{WEB}/unsubscribe/{match.group(1)}" in text
    assert re.search(rf"选择栏目：{re.escape(WEB)}/preferences/[\w.-]+\n", text)


def test_long_addresses_and_tokens_are_never_folded_into_encoded_words(
    site, make_settings, smtp_server
):
    subscribers = f"    - {{email: {LONG_LOCAL}@example.com, categories: all}}\n"
    long_web = WEB + "/" + "very-long-path-segment/" * 4 + "end"
    settings = web_settings(site, make_settings, smtp_server.port, subscribers, long_web)
    send_digest(settings, now=NOW)
    [(_, _, raw)] = smtp_server.messages
    header_block = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    lines = [line for line in header_block.split("\r\n")]
    start = next(i for i, line in enumerate(lines) if line.startswith("List-Unsubscribe:"))
    assert lines[start].startswith(f"List-Unsubscribe: <{long_web}/unsubscribe/")
    assert lines[start].endswith(">,") and len(lines[start]) > 78
    assert lines[start + 1] == " <mailto:digest@finews.withounder.com?subject=unsubscribe>"
    assert all(len(line) <= 998 for line in lines)
    assert "=?" not in "".join(lines[start : start + 2])


def test_without_a_web_section_a_long_address_in_the_url_is_not_encoded_either(
    site, make_settings, smtp_server
):
    subscribers = f"    - {{email: {LONG_LOCAL}@example.com, categories: all}}\n"
    settings = make_settings(news_site(site).root, digest_config(smtp_server.port, subscribers))
    send_digest(settings, now=NOW)
    [(mail_from, _, raw)] = smtp_server.messages
    value = raw_headers(raw)["List-Unsubscribe"]
    assert "=?" not in value
    assert unfold(value) == (
        "<mailto:digest@finews.withounder.com?subject=unsubscribe>, "
        f"<https://example.org/unsubscribe?email={LONG_LOCAL}%40example.com>"
    )
    assert mail_from == "digest@finews.withounder.com"


def test_an_unsubscribe_wins_over_the_config_list(site, make_settings, smtp_server):
    settings = web_settings(site, make_settings, smtp_server.port)
    store = SubscriberStore(settings.state_dir)
    reader, _ = store.add("reader@example.com", None, ["kejiribao"], Origin("config"), NOW)
    store.unsubscribe(reader.id, Origin("one-click"), NOW)
    report = send_digest(settings, now=NOW)
    assert sorted(smtp_server.by_recipient()) == ["all@example.com"]
    assert report.sent == 1
    assert store.get(reader.id).status == "unsubscribed"


def test_confirmed_web_subscribers_get_their_categories_and_pending_ones_nothing(
    site, make_settings, smtp_server
):
    settings = web_settings(site, make_settings, smtp_server.port, "    []\n")
    store = SubscriberStore(settings.state_dir)
    day = timedelta(hours=24)
    web, _ = store.request(
        "web@example.com", None, ["emnews"], Origin("web"), NOW, confirm_interval=day
    )
    store.confirm(web.id, 1, Origin("web"), NOW)
    store.request("pending@example.com", None, None, Origin("web"), NOW, confirm_interval=day)
    send_digest(settings, now=NOW)
    received = smtp_server.by_recipient()
    assert list(received) == ["web@example.com"]
    html = received["web@example.com"][0].get_body(("html",)).get_content()
    assert "东财新闻" in html and "科技新闻0" not in html


def test_taking_a_config_subscriber_off_the_list_stops_their_mail(site, make_settings, smtp_server):
    settings = web_settings(site, make_settings, smtp_server.port)
    assert len(dry_run(settings, now=NOW, since=None).lines) == 2
    send_digest(settings, now=NOW)
    fewer = "    - {email: all@example.com, categories: all}\n"
    settings = web_settings(site, make_settings, smtp_server.port, fewer)
    site.post("2026-11-29-x.md", title="明天", date="2026-11-29 09:00:00 +0800")
    send_digest(settings, now=NOW + timedelta(days=1))
    received = {rcpt: len(m) for rcpt, m in smtp_server.by_recipient().items()}
    assert received == {"reader@example.com": 1, "all@example.com": 2}


class UnsubscribeAfterFirst:
    """A transport that lets a reader unsubscribe (through the store, as the web service does)
    right after the first message of the digest has been handed over."""

    def __init__(self, transport: Smtp, state_dir, email: str):
        self.transport, self.state_dir, self.email = transport, state_dir, email
        self.sent: list[str] = []

    def send(self, message, sender, recipient):
        self.transport.send(message, sender, recipient)
        self.sent.append(recipient)
        if len(self.sent) == 1:
            store = SubscriberStore(self.state_dir)
            store.unsubscribe(store.by_email(self.email).id, Origin("one-click"), NOW)
            store.close()

    def close(self):
        self.transport.close()


def test_an_unsubscribe_landing_during_delivery_stops_that_readers_message(
    site, make_settings, smtp_server
):
    subscribers = "".join(f"    - {{email: r{n}@example.com, categories: all}}\n" for n in range(3))
    settings = web_settings(site, make_settings, smtp_server.port, subscribers)
    hook = UnsubscribeAfterFirst(Smtp(settings.digest.smtp), settings.state_dir, "r1@example.com")
    report = send_digest(settings, now=NOW, transports=[hook])
    assert hook.sent == ["r0@example.com", "r2@example.com"]
    assert sorted(smtp_server.by_recipient()) == ["r0@example.com", "r2@example.com"]
    assert (report.sent, report.pending) == (2, 0)
    state = State(settings.state_dir)
    digest_id = state.db.execute("SELECT id FROM digests").fetchone()[0]
    statuses = dict(
        state.db.execute("SELECT email, status FROM recipients WHERE digest_id = ?", (digest_id,))
    )
    assert statuses == {
        "r0@example.com": "sent",
        "r1@example.com": "dropped",
        "r2@example.com": "sent",
    }
    state.close()


def test_a_web_section_without_the_secret_stops_the_digest_in_one_line(
    site, make_settings, smtp_server, monkeypatch
):
    from feeds.errors import ConfigError

    monkeypatch.delenv("FEEDS_SECRET")
    settings = web_settings(site, make_settings, smtp_server.port)
    with pytest.raises(ConfigError) as caught:
        send_digest(settings, now=NOW)
    assert str(caught.value) == "environment variable FEEDS_SECRET is not set"
    assert smtp_server.messages == []
