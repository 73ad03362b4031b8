"""The confirmation mail: sent at once through the digest's transport, with a working link."""

from __future__ import annotations

import email
import mailbox
import re
from datetime import timedelta
from email.policy import compat32

import pytest

from feeds.errors import ConfigError
from feeds.newsletter.confirm import send_confirmation
from feeds.newsletter.subscribers import Origin, SubscriberStore
from feeds.newsletter.tokens import Claim, Tokens
from tests.conftest import NOW


def web_config(port: int | None = None) -> str:
    transport = (
        f"  transport: smtp\n  smtp: {{host: 127.0.0.1, port: {port}, security: none}}\n"
        if port
        else ""
    )
    return (
        "state_dir: state\n"
        "feeds:\n  categories: {kejiribao: {title: 科技日报}}\n"
        f'digest:\n  from: "金融消息 <digest@finews.withounder.com>"\n{transport}'
        "web:\n  url: https://finews.withounder.com/newsletter\n"
    )


@pytest.fixture
def pending(make_settings, site, tmp_path):
    def make(port=None):
        settings = make_settings(site.root, web_config(port))
        store = SubscriberStore(settings.state_dir)
        subscriber, send = store.request(
            "读者@example.com",
            "读者",
            ["kejiribao"],
            Origin("web"),
            NOW,
            confirm_interval=timedelta(hours=24),
        )
        store.close()
        assert send
        return settings, subscriber

    return make


def test_confirmation_goes_out_at_once_over_smtp_with_a_working_link(
    pending, smtp_server, monkeypatch
):
    monkeypatch.setenv("FEEDS_SECRET", "k1" * 16)
    settings, subscriber = pending(smtp_server.port)
    send_confirmation(settings, subscriber, NOW)
    [(sender, rcpts, raw)] = smtp_server.messages
    assert (sender, rcpts) == ("digest@finews.withounder.com", ["读者@example.com"])
    message = email.message_from_bytes(raw, policy=compat32)
    text = message.get_payload()[0].get_payload(decode=True).decode("utf-8")
    html = message.get_payload()[1].get_payload(decode=True).decode("utf-8")
    [token] = re.findall(r"https://finews\.withounder\.com/newsletter/confirm/(\S+)", text)
    assert f'href="https://finews.withounder.com/newsletter/confirm/{token}"' in html
    claim = Tokens(["k1" * 16]).read(token, "confirm", now=NOW, max_age=timedelta(hours=72))
    assert claim == Claim(subscriber.id, 1)
    assert "科技日报" in text and "3 天" in text


def test_confirmation_goes_to_the_outbox_by_default(pending, monkeypatch, tmp_path):
    monkeypatch.setenv("FEEDS_SECRET", "k1" * 16)
    settings, subscriber = pending()
    send_confirmation(settings, subscriber, NOW)
    send_confirmation(settings, subscriber, NOW)
    messages = list(mailbox.Maildir(settings.state_dir / "outbox", create=False))
    assert len(messages) == 2  # two requests, two mails: each has its own Message-ID


def test_no_secret_no_mail(pending, monkeypatch):
    monkeypatch.delenv("FEEDS_SECRET", raising=False)
    settings, subscriber = pending()
    with pytest.raises(ConfigError) as caught:
        send_confirmation(settings, subscriber, NOW)
    assert str(caught.value) == "environment variable FEEDS_SECRET is not set"
    assert not (settings.state_dir / "outbox").exists()


def test_the_confirmation_mail_names_a_non_ascii_address_in_plain_utf_8(
    pending, smtp_server, monkeypatch
):
    monkeypatch.setenv("FEEDS_SECRET", "k" * 32)
    settings, subscriber = pending(smtp_server.port)
    send_confirmation(settings, subscriber, NOW)
    [(_, _, raw)] = smtp_server.messages
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert [line for line in head.split(b"\r\n") if line.startswith(b"To:")] == [
        "To: 读者 <读者@example.com>".encode()
    ]
    assert b"=?" not in head.split(b"\r\nTo:")[1].split(b"\r\n")[0]
