"""`feeds digest` against a real SMTP server: right content, right headers, exactly once."""

from __future__ import annotations

import email
import mailbox
import re
import subprocess
import time
from datetime import timedelta
from email.policy import compat32, default

import pytest

from feeds.errors import LockedError
from feeds.locking import exclusive_lock
from feeds.newsletter.deliver import Outbox
from feeds.newsletter.dispatch import dry_run, preview, send_digest
from feeds.newsletter.state import State
from tests.conftest import NOW, ROOT, feeds_args

SUBSCRIBERS = """\
    - {email: reader@example.com, name: 读者, categories: [kejiribao]}
    - {email: all@example.com, categories: all}
    - {email: wind@example.com, categories: [Wind]}
"""


def digest_config(
    port: int | None = None, subscribers: str = SUBSCRIBERS, extra: str = "", connections: int = 4
) -> str:
    transport = (
        f"  transport: smtp\n  smtp: {{host: 127.0.0.1, port: {port}, security: none, "
        f"retries: 1, backoff: 0.01, connections: {connections}}}\n"
        if port
        else ""
    )
    return (
        f"state_dir: state\nfeeds:\n  categories: {{kejiribao: {{title: 科技日报}}}}\n"
        f"digest:\n  templates_dir: {ROOT / 'templates'}\n"
        '  from: "金融消息 <digest@finews.withounder.com>"\n'
        "  unsubscribe_url: https://example.org/unsubscribe?email={email}\n"
        f"{transport}{extra}  subscribers:\n{subscribers}"
    )


def news_site(site, count: int = 3):
    """Posts from the last day in kejiribao and emnews, like the real site's."""
    for n in range(count):
        site.post(
            f"2026-11-28-kj{n}.md",
            title=f"科技新闻{n}",
            date=f"2026-11-28 0{n}:15:00 +0800",
            body=f"科技新闻{n}的正文。\n\n<http://www.stdaily.com/{n}.html>\n\n[返回首页](../)",
        )
    site.post(
        "2026-11-28-em0.md", title="东财新闻", categories="emnews", date="2026-11-28 09:00:00 +0800"
    )
    site.post("2026-11-20-old.md", title="旧闻", date="2026-11-20 09:00:00 +0800")
    return site


def test_each_subscriber_gets_one_message_with_their_categories_only(
    site, make_settings, smtp_server
):
    settings = make_settings(news_site(site).root, digest_config(smtp_server.port))
    report = send_digest(settings, now=NOW)
    assert (report.sent, report.skipped, report.failed, report.pending) == (2, 1, 0, 0)
    received = smtp_server.by_recipient()
    assert sorted(received) == ["all@example.com", "reader@example.com"]
    reader = received["reader@example.com"][0]
    html = reader.get_body(("html",)).get_content()
    text = reader.get_body(("plain",)).get_content()
    assert re.findall(r'class="title"[^>]*>(科技新闻\d)<', html) == [
        "科技新闻2",
        "科技新闻1",
        "科技新闻0",
    ]
    assert "东财新闻" not in html and "旧闻" not in html and "东财新闻" not in text
    assert "科技日报" in html and "3 篇" in html
    assert "https://example.org/kejiribao/2026/11/28/kj2.html" in text
    everything = received["all@example.com"][0].get_body(("html",)).get_content()
    assert "东财新闻" in everything and "科技新闻0" in everything


def test_message_is_proper_multipart_with_inlined_styles_and_list_headers(
    site, make_settings, smtp_server
):
    settings = make_settings(news_site(site).root, digest_config(smtp_server.port))
    send_digest(settings, now=NOW)
    message = smtp_server.by_recipient()["reader@example.com"][0]
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert all(part.get_content_charset() == "utf-8" for part in message.iter_parts())
    html = message.get_body(("html",)).get_content()
    assert 'style="' in html and "<link" not in html.lower()
    assert "@media (prefers-color-scheme: dark)" in html
    hrefs = re.findall(r'href="([^"]+)"', html)
    assert hrefs and all(h.startswith(("https://", "http://", "mailto:")) for h in hrefs)
    assert str(message["Subject"]) == "测试站 每日摘要 2026-11-28（3 篇）"
    assert str(message["From"]) == "金融消息 <digest@finews.withounder.com>"
    assert str(message["To"]) == "读者 <reader@example.com>"
    assert re.fullmatch(r"<digest\.2026-11-28\.[0-9a-f]{16}@example\.org>", message["Message-ID"])
    assert message["List-Id"] == "测试站 <digest.example.org>"
    assert message["List-Unsubscribe"] == (
        "<mailto:digest@finews.withounder.com?subject=unsubscribe>, "
        "<https://example.org/unsubscribe?email=reader%40example.com>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Date"] == "Sat, 28 Nov 2026 12:00:00 +0000"
    assert "reader@example.com" in html and "%%feeds" not in html


def test_a_non_ascii_web_url_gives_a_plain_ascii_list_unsubscribe_on_the_wire(
    site, make_settings, smtp_server, monkeypatch
):
    monkeypatch.setenv("FEEDS_SECRET", "k" * 32)
    extra = "web:\n  url: https://例子.中国/订阅\n"
    settings = make_settings(news_site(site).root, digest_config(smtp_server.port) + extra)
    send_digest(settings, now=NOW)
    [raw] = [raw for _, rcpts, raw in smtp_server.messages if rcpts == ["reader@example.com"]]
    header = email.message_from_bytes(raw, policy=compat32)["List-Unsubscribe"]
    assert header.startswith("<https://xn--fsqu00a.xn--fiqs8s/%E8%AE%A2%E9%98%85/unsubscribe/")
    assert header.isascii() and "=?" not in header


def test_non_ascii_addresses_are_never_encoded_words_on_the_wire(site, make_settings, smtp_server):
    subscribers = (
        "    - {email: u@例子.中国, categories: all}\n"
        "    - {email: 用户@example.com, name: 张三, categories: all}\n"
    )
    settings = make_settings(news_site(site).root, digest_config(smtp_server.port, subscribers))
    send_digest(settings, now=NOW)
    to = {}
    for _, rcpts, raw in smtp_server.messages:
        head = raw.split(b"\r\n\r\n", 1)[0]
        to[rcpts[0]] = [line for line in head.split(b"\r\n") if line.startswith(b"To:")]
    assert to == {
        "u@例子.中国": [b"To: u@xn--fsqu00a.xn--fiqs8s"],
        "用户@example.com": ["To: 张三 <用户@example.com>".encode()],
    }


def test_header_injection_through_names_and_titles_is_neutralised(site, make_settings, smtp_server):
    site.config('title: "站\\r\\nBcc: evil@example.net"\nurl: https://example.org\n')
    news_site(site)
    subscribers = '    - {email: reader@example.com, name: "读者\\r\\nBcc: evil@example.net", categories: all}\n'
    settings = make_settings(site.root, digest_config(smtp_server.port, subscribers))
    send_digest(settings, now=NOW)
    (_mail_from, rcpts, raw) = smtp_server.messages[0]
    assert rcpts == ["reader@example.com"]
    headers = raw.split(b"\r\n\r\n", 1)[0].decode()
    assert not re.search(r"^Bcc:", headers, re.MULTILINE | re.IGNORECASE)
    message = smtp_server.parsed()[0]
    assert "\n" not in str(message["Subject"]) and "\n" not in str(message["To"])
    assert message["Bcc"] is None


@pytest.mark.parametrize("connections", [1, 4])
def test_a_rerun_after_the_server_failed_midway_completes_each_subscriber_exactly_once(
    site, make_settings, smtp_server, connections
):
    subscribers = "".join(f"    - {{email: r{n}@example.com, categories: all}}\n" for n in range(9))
    config = digest_config(smtp_server.port, subscribers, connections=connections)
    settings = make_settings(news_site(site).root, config)
    smtp_server.fail_after = 2
    first = send_digest(settings, now=NOW)
    assert (first.sent, first.pending) == (2, 7)
    assert first.error.endswith("not delivered: 451 4.3.0 try again later")
    smtp_server.fail_after = None
    second = send_digest(settings, now=NOW + timedelta(hours=1))
    assert (second.sent, second.pending, second.resumed) == (7, 0, True)
    received = smtp_server.by_recipient()
    assert sorted(received) == [f"r{n}@example.com" for n in range(9)]
    assert all(len(messages) == 1 for messages in received.values())
    subjects = {str(m[0]["Subject"]) for m in received.values()}
    dates = {m[0]["Date"] for m in received.values()}
    assert len(subjects) == 1 and dates == {"Sat, 28 Nov 2026 12:00:00 +0000"}
    third = send_digest(settings, now=NOW + timedelta(hours=2))
    assert third.sent == 0 and len(smtp_server.messages) == 9


def test_a_permanent_refusal_is_logged_and_does_not_stop_the_others(
    site, make_settings, smtp_server
):
    settings = make_settings(news_site(site).root, digest_config(smtp_server.port))
    smtp_server.refuse = {"reader@example.com"}
    report = send_digest(settings, now=NOW)
    assert (report.sent, report.failed, report.pending) == (1, 1, 0)
    assert list(smtp_server.by_recipient()) == ["all@example.com"]
    state = State(settings.state_dir)
    assert state.unfinished_digest() is None


def test_posts_are_sent_once_and_a_late_arriving_post_goes_into_the_next_digest(
    site, make_settings, smtp_server
):
    settings = make_settings(news_site(site).root, digest_config(smtp_server.port))
    send_digest(settings, now=NOW)
    site.post("2026-11-28-late.md", title="迟到的新闻", date="2026-11-28 07:00:00 +0800")
    report = send_digest(settings, now=NOW + timedelta(days=1))
    assert report.sent == 2
    reader = smtp_server.by_recipient()["reader@example.com"]
    assert len(reader) == 2
    second = reader[1].get_body(("html",)).get_content()
    assert "迟到的新闻" in second and "科技新闻0" not in second


def test_no_new_posts_sends_nothing(site, make_settings, smtp_server):
    site.post("2026-11-01-old.md", date="2026-11-01 08:00:00 +0800")
    settings = make_settings(site.root, digest_config(smtp_server.port))
    report = send_digest(settings, now=NOW)
    assert (report.key, report.sent, report.skipped) == (None, 0, 3)
    assert smtp_server.messages == []


def test_same_story_under_several_ids_is_listed_once(site, make_settings, smtp_server):
    site.post(
        "2026-11-28-a.md", title="在岸人民币升至新高 现报6.3565。", date="2026-11-28 08:00:00 +0800"
    )
    site.post(
        "2026-11-28-b.md", title="在岸人民币升至新高 现报6.3565", date="2026-11-28 08:01:00 +0800"
    )
    site.post(
        "2026-11-28-c.md",
        title="离岸人民币升值",
        date="2026-11-28 08:02:00 +0800",
        body="x\n\n<http://finance.eastmoney.com/a/1.html>",
    )
    site.post(
        "2026-11-28-d.md",
        title="离岸人民币兑美元升值",
        date="2026-11-28 08:03:00 +0800",
        body="y\n\n<http://finance.eastmoney.com/a/1.html>",
    )
    settings = make_settings(site.root, digest_config(smtp_server.port))
    send_digest(settings, now=NOW)
    html = smtp_server.by_recipient()["reader@example.com"][0].get_body(("html",)).get_content()
    assert len(re.findall(r'class="title"[^>]*>[^<]*人民币', html)) == 2
    assert "现报6.3565。" in html and "离岸人民币升值" in html


def test_long_digests_are_capped_with_a_more_link_and_stay_under_gmails_clip(
    site, make_settings, smtp_server
):
    for n in range(400):
        site.post(
            f"2026-11-28-p{n:03d}.md",
            title=f"新闻标题{n}" * 4,
            date="2026-11-28 08:00:00 +0800",
            body="很长的正文。" * 60,
        )
    settings = make_settings(
        site.root,
        digest_config(smtp_server.port, extra="  max_per_category: 300\n  max_items: 300\n"),
    )
    send_digest(settings, now=NOW)
    message = smtp_server.by_recipient()["reader@example.com"][0]
    html = message.get_body(("html",)).get_content()
    assert len(html.encode()) + len(message.get_body(("plain",)).get_content().encode()) <= 100_000
    shown = html.count('class="item"')
    assert 10 < shown < 300
    assert f"还有 {400 - shown} 篇" in html


def test_a_post_with_a_huge_title_keeps_the_digest_under_gmails_clip(
    site, make_settings, smtp_server
):
    news_site(site)
    site.post("2026-11-28-huge.md", title="标" * 300_000, date="2026-11-28 10:00:00 +0800")
    settings = make_settings(site.root, digest_config(smtp_server.port))
    send_digest(settings, now=NOW)
    message = smtp_server.by_recipient()["reader@example.com"][0]
    html = message.get_body(("html",)).get_content()
    assert len(html.encode()) + len(message.get_body(("plain",)).get_content().encode()) <= 100_000
    assert "标" * 499 + "…" in html and "科技新闻2" in html


def test_outbox_is_a_maildir_mailbox_reads(site, make_settings):
    settings = make_settings(news_site(site).root, digest_config())
    report = send_digest(settings, now=NOW)
    assert report.sent == 2
    box = mailbox.Maildir(settings.state_dir / "outbox", create=False)
    messages = [
        email.message_from_bytes(box.get_bytes(key), policy=default) for key in box.iterkeys()
    ]
    recipients = sorted(str(message["To"]) for message in messages)
    assert recipients == ["all@example.com", "读者 <reader@example.com>"]


def test_outbox_never_stores_one_message_twice(site, make_settings, tmp_path):
    from email.message import EmailMessage

    outbox = Outbox(tmp_path / "outbox")
    message = EmailMessage()
    message["Message-ID"] = "<x@example.org>"
    message.set_content("hi")
    outbox.send(message, "a@example.org", "b@example.org")
    outbox.send(message, "a@example.org", "b@example.org")
    assert len(mailbox.Maildir(tmp_path / "outbox", create=False)) == 1


def test_starttls_and_auth_with_a_trusted_ca_file(
    site, make_settings, tls_smtp_server, monkeypatch
):
    monkeypatch.setenv("DIGEST_USER", "digest")
    monkeypatch.setenv("DIGEST_PASSWORD", "s3cret")
    extra = (
        f"  transport: smtp\n  smtp: {{host: 127.0.0.1, port: {tls_smtp_server.port}, "
        f"security: starttls, username_env: DIGEST_USER, password_env: DIGEST_PASSWORD, "
        f"ca_file: {tls_smtp_server.ca_file}, retries: 0}}\n"
    )
    settings = make_settings(news_site(site).root, digest_config(None, extra=extra))
    assert send_digest(settings, now=NOW).sent == 2
    assert len(tls_smtp_server.messages) == 2


def test_an_untrusted_certificate_is_refused(site, make_settings, tls_smtp_server, monkeypatch):
    from feeds.errors import DeliveryError

    monkeypatch.setenv("DIGEST_USER", "digest")
    monkeypatch.setenv("DIGEST_PASSWORD", "s3cret")
    extra = (
        f"  transport: smtp\n  smtp: {{host: 127.0.0.1, port: {tls_smtp_server.port}, "
        "security: starttls, username_env: DIGEST_USER, password_env: DIGEST_PASSWORD, retries: 0}\n"
    )
    settings = make_settings(news_site(site).root, digest_config(None, extra=extra))
    with pytest.raises(DeliveryError, match="TLS certificate not trusted"):
        send_digest(settings, now=NOW)
    assert tls_smtp_server.messages == []


def test_a_second_run_while_one_holds_the_lock_sends_nothing(
    site, make_settings, smtp_server, tmp_path
):
    settings = make_settings(news_site(site).root, digest_config(smtp_server.port))
    with exclusive_lock(settings.state_dir, "digest.lock", "feeds digest"):
        with pytest.raises(LockedError, match="another feeds digest is running"):
            send_digest(settings, now=NOW)
        result = subprocess.run(
            feeds_args(
                "digest", "--config", str(tmp_path / "config.yaml"), "--site", str(site.root)
            ),
            capture_output=True,
            text=True,
        )
    assert result.returncode == 3
    assert result.stderr.startswith("error: another feeds digest is running")
    assert smtp_server.messages == []


@pytest.mark.parametrize("connections", [1, 4])
def test_kill_9_mid_delivery_then_rerun_gives_everyone_exactly_one_message(
    site, make_settings, smtp_server, tmp_path, connections
):
    people = 16
    subscribers = "".join(
        f"    - {{email: r{n}@example.com, categories: all}}\n" for n in range(people)
    )
    config = digest_config(smtp_server.port, subscribers, connections=connections)
    make_settings(news_site(site).root, config)
    smtp_server.delay = 0.3
    command = feeds_args(
        "digest",
        "--config",
        str(tmp_path / "config.yaml"),
        "--site",
        str(site.root),
        "--since",
        "2026-11-27",
    )
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while len(smtp_server.messages) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    child.kill()
    child.wait()
    assert 2 <= len(smtp_server.messages) < people
    smtp_server.delay = 0
    rerun = subprocess.run(command, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert "resumed" in rerun.stdout
    received = smtp_server.by_recipient()
    assert sorted(received) == sorted(f"r{n}@example.com" for n in range(people))
    # A message in flight at the kill (one per connection at most) may have been accepted by
    # the server without the client living to record it; it is then sent again with the same
    # Message-ID, which is how mail systems recognise a resend. No recipient ever gets a
    # second, different mail.
    assert all(len({m["Message-ID"] for m in messages}) == 1 for messages in received.values())
    assert people <= len(smtp_server.messages) <= people + connections


def test_preview_writes_inlined_html_and_records_nothing(site, make_settings, tmp_path):
    settings = make_settings(news_site(site).root, digest_config())
    report = preview(settings, tmp_path / "p.html", now=NOW, since=None, to="reader@example.com")
    html = (tmp_path / "p.html").read_text(encoding="utf-8")
    assert (
        report.posts == 4 and "科技新闻0" in html and "东财新闻" not in html and 'style="' in html
    )
    assert State(settings.state_dir).unfinished_digest() is None
    assert not (settings.state_dir / "outbox").exists()


def test_a_post_in_two_categories_reaches_readers_of_either_and_shows_once(
    site, make_settings, smtp_server
):
    site.post(
        "2026-11-28-both.md",
        title="两个类别的新闻",
        categories="21shijijingjibaodao 21caijingAPP",
        date="2026-11-28 08:00:00 +0800",
    )
    subscribers = (
        "    - {email: second@example.com, categories: [21caijingAPP]}\n"
        "    - {email: both@example.com, categories: [21caijingAPP, 21shijijingjibaodao]}\n"
    )
    settings = make_settings(site.root, digest_config(smtp_server.port, subscribers))
    assert send_digest(settings, now=NOW).sent == 2
    for reader in ("second@example.com", "both@example.com"):
        message = smtp_server.by_recipient()[reader][0]
        html = message.get_body(("html",)).get_content()
        assert len(re.findall(r'class="title"[^>]*>两个类别的新闻<', html)) == 1
        assert "（1 篇）" in str(message["Subject"])


def test_the_digest_reads_through_the_build_cache_and_gets_the_same_posts(
    site, make_settings, smtp_server, tmp_path, monkeypatch
):
    from feeds.output import build as build_module
    from feeds.output.build import build, current_posts

    settings = make_settings(news_site(site).root, digest_config(smtp_server.port))
    without_cache = current_posts(settings, now=NOW)
    build(settings, now=NOW)
    site.post("2026-11-28-after.md", title="构建之后", date="2026-11-28 10:00:00 +0800")
    # Files whose stamp matches the build's record are not read again.
    read: list[str] = []
    real_read_batch = build_module.read_batch

    def spy(site_, posts_dir, paths):
        read.extend(paths)
        return real_read_batch(site_, posts_dir, paths)

    monkeypatch.setattr(build_module, "read_batch", spy)
    with_cache = current_posts(settings, now=NOW)
    assert [path.rsplit("/", 1)[-1] for path in read] == ["2026-11-28-after.md"]
    assert sorted(p.title for p in with_cache) == sorted(
        [p.title for p in without_cache] + ["构建之后"]
    )
    assert set(without_cache) <= set(with_cache)


FULL = "452 4.2.2 mailbox full"


def test_a_full_mailbox_defers_only_that_recipient_and_later_digests_go_out_on_time(
    site, make_settings, smtp_server
):
    settings = make_settings(news_site(site).root, digest_config(smtp_server.port))
    smtp_server.answers = {"reader@example.com": FULL}
    first = send_digest(settings, now=NOW)
    assert (first.sent, first.deferred, first.failed, first.pending) == (1, 1, 0, 0)
    assert first.ok and State(settings.state_dir).unfinished_digest() is None
    site.post("2026-11-29-next.md", title="次日新闻", date="2026-11-29 09:00:00 +0800")
    second = send_digest(settings, now=NOW + timedelta(days=1))
    assert (second.key, second.sent, second.deferred) == ("2026-11-29", 1, 2)
    smtp_server.answers = {}
    third = send_digest(settings, now=NOW + timedelta(days=2))
    assert (third.sent, third.deferred, third.failed) == (2, 0, 0)
    reader = smtp_server.by_recipient()["reader@example.com"]
    assert [str(m["Subject"]) for m in reader] == [
        "测试站 每日摘要 2026-11-28（3 篇）",
        "测试站 每日摘要 2026-11-29（1 篇）",
    ]
    assert len(smtp_server.by_recipient()["all@example.com"]) == 2
    fourth = send_digest(settings, now=NOW + timedelta(days=3))
    assert fourth.sent == 0 and len(smtp_server.messages) == 4


def test_a_recipient_still_deferred_after_its_attempts_fails(site, make_settings, smtp_server):
    config = digest_config(smtp_server.port, extra="  deferred_attempts: 2\n")
    settings = make_settings(news_site(site).root, config)
    smtp_server.answers = {"reader@example.com": FULL}
    send_digest(settings, now=NOW)
    second = send_digest(settings, now=NOW + timedelta(hours=1))
    assert (second.sent, second.deferred, second.failed, second.ok) == (0, 0, 1, False)
    asked = len(smtp_server.rcpts)
    third = send_digest(settings, now=NOW + timedelta(hours=2))
    assert (third.key, third.failed, len(smtp_server.rcpts)) == (None, 0, asked)


def test_a_recipient_deferred_longer_than_the_max_age_fails_without_another_try(
    site, make_settings, smtp_server
):
    config = digest_config(smtp_server.port, extra="  deferred_max_age: 1d\n")
    settings = make_settings(news_site(site).root, config)
    smtp_server.answers = {"reader@example.com": FULL}
    send_digest(settings, now=NOW)
    asked = len(smtp_server.rcpts)
    late = send_digest(settings, now=NOW + timedelta(days=1))
    assert (late.sent, late.deferred, late.failed) == (0, 0, 1)
    assert len(smtp_server.rcpts) == asked
    row = State(settings.state_dir).db.execute(
        "SELECT status, error FROM recipients WHERE email = 'reader@example.com'"
    )
    assert row.fetchone() == (
        "failed",
        "still deferred 1d after the digest was planned (last answer: 452 4.2.2 mailbox full)",
    )


def test_a_non_ascii_address_without_smtputf8_fails_only_that_recipient(
    site, make_settings, ascii_smtp_server
):
    subscribers = (
        "    - {email: 读者@example.com, categories: all}\n"
        "    - {email: all@example.com, categories: all}\n"
    )
    settings = make_settings(
        news_site(site).root, digest_config(ascii_smtp_server.port, subscribers)
    )
    report = send_digest(settings, now=NOW)
    assert (report.sent, report.failed, report.pending, report.error) == (1, 1, 0, None)
    assert list(ascii_smtp_server.by_recipient()) == ["all@example.com"]
    assert State(settings.state_dir).unfinished_digest() is None


def test_a_dry_run_lists_the_deferred_recipients_a_run_would_retry(
    site, make_settings, smtp_server
):
    settings = make_settings(news_site(site).root, digest_config(smtp_server.port))
    smtp_server.answers = {"reader@example.com": FULL}
    send_digest(settings, now=NOW)
    report = dry_run(settings, now=NOW + timedelta(hours=1), since=None)
    assert report.lines == [
        "reader@example.com\t测试站 每日摘要 2026-11-28（3 篇）\t3 items (retry)"
    ]
    assert dry_run(settings, now=NOW + timedelta(days=3), since=None).lines == []


@pytest.mark.parametrize(
    "mode", ["greeting-554", "ehlo-550", "huge-ehlo", "rcpt-garbage", "rcpt-999"]
)
def test_a_server_wide_smtp_failure_leaves_everyone_pending_and_loses_no_digest(
    site, make_settings, misbehaving_smtp, smtp_server, mode
):
    news_site(site)
    broken = misbehaving_smtp(mode)
    first = send_digest(make_settings(site.root, digest_config(broken.port)), now=NOW)
    assert (first.sent, first.failed, first.deferred, first.pending) == (0, 0, 0, 2)
    assert " not delivered: " in first.error and not first.ok
    settings = make_settings(site.root, digest_config(smtp_server.port))
    second = send_digest(settings, now=NOW + timedelta(hours=1))
    assert (second.sent, second.failed, second.pending, second.resumed) == (2, 0, 0, True)
    received = smtp_server.by_recipient()
    assert sorted(received) == ["all@example.com", "reader@example.com"]
    assert all(len(messages) == 1 for messages in received.values())
    assert send_digest(settings, now=NOW + timedelta(hours=2)).sent == 0


def test_starttls_missing_stops_the_run_with_one_line_and_loses_no_digest(
    site, make_settings, smtp_server
):
    from feeds.errors import DeliveryError

    news_site(site)
    config = digest_config(smtp_server.port).replace("security: none", "security: starttls")
    with pytest.raises(DeliveryError) as caught:
        send_digest(make_settings(site.root, config), now=NOW)
    assert str(caught.value) == (
        f"127.0.0.1:{smtp_server.port}: the server does not offer STARTTLS "
        "(security: starttls); nothing is sent in clear text"
    )
    assert smtp_server.messages == []
    settings = make_settings(site.root, digest_config(smtp_server.port))
    second = send_digest(settings, now=NOW + timedelta(hours=1))
    assert (second.sent, second.failed, second.pending, second.resumed) == (2, 0, 0, True)
    assert len(smtp_server.messages) == 2
